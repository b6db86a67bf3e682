// S3 request-body checksums: MD5 (ETag, Content-MD5) and the flexible checksums CRC32, CRC32C,
// CRC64NVME, SHA1 and SHA256, computed while the body streams through, plus header parsing,
// verification with AWS's error codes and messages, and CRC combination for FULL_OBJECT
// multipart checksums.
//
// Wire form of every flexible checksum: base64 of the big-endian digest bytes (CRC32/CRC32C 4
// bytes, CRC64NVME 8 bytes, SHA1 20, SHA256 32).
//
// Implementations (chosen by measurement, see bench/checksums.ts):
//   - MD5, SHA1, SHA256: node:crypto (OpenSSL).
//   - CRC32, CRC32C: @node-rs/crc32 (native, SIMD / SSE4.2); fallbacks zlib.crc32 and a
//     slicing-by-8 table when the native binding is missing for the platform.
//   - CRC64NVME: a small WebAssembly module emitted at load time by this file (two interleaved
//     lanes of slicing-by-16 on i64 tables, lanes merged with a carry-less multiply mod P).
//     Fallback: slicing-by-8 in TypeScript on two uint32 halves.

import { createHash, type Hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';
import * as zlib from 'node:zlib';
import { S3Error } from './errors.js';

// ---------------------------------------------------------------------------------------------
// Algorithms

export type ChecksumAlgorithm = 'crc32' | 'crc32c' | 'crc64nvme' | 'sha1' | 'sha256';
export type CrcAlgorithm = 'crc32' | 'crc32c' | 'crc64nvme';

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = Object.freeze([
  'crc32',
  'crc32c',
  'crc64nvme',
  'sha1',
  'sha256',
] as const);

/** Digest size in bytes of each algorithm. */
export const CHECKSUM_SIZES: Readonly<Record<ChecksumAlgorithm, number>> = Object.freeze({
  crc32: 4,
  crc32c: 4,
  crc64nvme: 8,
  sha1: 20,
  sha256: 32,
});

/** The algorithm S3 computes when the client sent no checksum (S3 behaviour since 2025). */
export const DEFAULT_CHECKSUM_ALGORITHM: ChecksumAlgorithm = 'crc64nvme';

const HEADER_PREFIX = 'x-amz-checksum-';

/** 'x-amz-checksum-crc32', ... */
export function checksumHeader(a: ChecksumAlgorithm): string {
  return HEADER_PREFIX + a;
}

/** The upper-case name S3 uses in XML and messages: 'CRC32', 'CRC64NVME', 'SHA256'. */
export function checksumAlgorithmName(a: ChecksumAlgorithm): string {
  return a.toUpperCase();
}

/** Parses an algorithm name as sent by clients ('CRC32', 'crc32c', ...); undefined if unknown. */
export function parseChecksumAlgorithm(name: string): ChecksumAlgorithm | undefined {
  const n = name.trim().toLowerCase();
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(n) ? (n as ChecksumAlgorithm) : undefined;
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes a base64 digest strictly: standard alphabet, padded, canonical (no stray bits in the
 * last character — AWS rejects 'y/Q5Jh==' where 'y/Q5Jg==' is the canonical form) and exactly
 * `size` bytes. Returns undefined when the value is not acceptable.
 */
export function decodeBase64Digest(value: string, size: number): Buffer | undefined {
  if (value.length !== 4 * Math.ceil(size / 3) || !BASE64_RE.test(value)) return undefined;
  const buf = Buffer.from(value, 'base64');
  if (buf.length !== size || buf.toString('base64') !== value) return undefined;
  return buf;
}

/** True when `value` is a well-formed base64 checksum for algorithm `a`. */
export function isValidChecksumValue(a: ChecksumAlgorithm, value: string): boolean {
  return decodeBase64Digest(value, CHECKSUM_SIZES[a]) !== undefined;
}

// ---------------------------------------------------------------------------------------------
// CRC32 / CRC32C

type Crc32Fn = (data: Uint8Array, initial?: number) => number;

const CRC32_POLY = 0xedb88320; // reflected 0x04C11DB7
const CRC32C_POLY = 0x82f63b78; // reflected 0x1EDC6F41

function makeCrc32Tables(poly: number): Uint32Array[] {
  const t: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t0[i] = c >>> 0;
  }
  t.push(t0);
  for (let s = 1; s < 8; s++) {
    const prev = t[s - 1]!;
    const cur = new Uint32Array(256);
    for (let i = 0; i < 256; i++) cur[i] = ((prev[i]! >>> 8) ^ t0[prev[i]! & 0xff]!) >>> 0;
    t.push(cur);
  }
  return t;
}

/** Portable slicing-by-8 CRC-32 family (reflected, init/xorout 0xFFFFFFFF); fallback only. */
function makeTableCrc32(poly: number): Crc32Fn {
  let tables: Uint32Array[] | undefined;
  return (data: Uint8Array, initial = 0): number => {
    const [t0, t1, t2, t3, t4, t5, t6, t7] = (tables ??= makeCrc32Tables(poly)) as [
      Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
    ];
    let c = ~initial;
    const len = data.length;
    let i = 0;
    for (const end8 = len - 7; i < end8; i += 8) {
      const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
      c =
        t7[a & 0xff]! ^ t6[(a >>> 8) & 0xff]! ^ t5[(a >>> 16) & 0xff]! ^ t4[a >>> 24]! ^
        t3[data[i + 4]!]! ^ t2[data[i + 5]!]! ^ t1[data[i + 6]!]! ^ t0[data[i + 7]!]!;
    }
    for (; i < len; i++) c = t0[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
    return ~c >>> 0;
  };
}

interface NodeRsCrc32 {
  crc32(input: Uint8Array | string, initialState?: number | null): number;
  crc32c(input: Uint8Array | string, initialState?: number | null): number;
}

function loadNodeRs(): NodeRsCrc32 | undefined {
  try {
    return createRequire(import.meta.url)('@node-rs/crc32') as NodeRsCrc32;
  } catch {
    return undefined;
  }
}

const nodeRs = loadNodeRs();

/** CRC-32 (ISO-HDLC, as zlib). `previous` chains like zlib.crc32: crc32(b, crc32(a)) = crc32(a‖b). */
export const crc32: Crc32Fn = nodeRs
  ? (data, previous = 0) => nodeRs.crc32(data, previous)
  : typeof zlib.crc32 === 'function'
    ? (data, previous = 0) => zlib.crc32(data, previous)
    : makeTableCrc32(CRC32_POLY);

/** CRC-32C (Castagnoli). Chains like crc32. */
export const crc32c: Crc32Fn = nodeRs
  ? (data, previous = 0) => nodeRs.crc32c(data, previous)
  : makeTableCrc32(CRC32C_POLY);

/** Portable TypeScript CRC-32 / CRC-32C (the fallbacks), exported for tests and the benchmark. */
export const crc32Table: Crc32Fn = makeTableCrc32(CRC32_POLY);
export const crc32cTable: Crc32Fn = makeTableCrc32(CRC32C_POLY);

// ---------------------------------------------------------------------------------------------
// CRC64NVME (reflected poly 0x9A6C9329AC4BC9B5, init/xorout all ones). The running register is
// kept as two uint32 halves (hi, lo) in the "inverted" form, i.e. starting at 0xFFFF...FFFF.

const P64_HI = 0x9a6c9329;
const P64_LO = 0xac4bc9b5;
const P64 = 0x9a6c9329ac4bc9b5n;
const MASK64 = 0xffffffffffffffffn;

/** Slicing tables for CRC64NVME: `n` slices of 256 entries, as separate hi/lo uint32 halves. */
function makeCrc64Tables(n: number): { hi: Uint32Array[]; lo: Uint32Array[] } {
  const hi: Uint32Array[] = [];
  const lo: Uint32Array[] = [];
  const h0 = new Uint32Array(256);
  const l0 = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let h = 0;
    let l = i;
    for (let k = 0; k < 8; k++) {
      const bit = l & 1;
      l = ((l >>> 1) | (h << 31)) >>> 0;
      h >>>= 1;
      if (bit) {
        h = (h ^ P64_HI) >>> 0;
        l = (l ^ P64_LO) >>> 0;
      }
    }
    h0[i] = h;
    l0[i] = l;
  }
  hi.push(h0);
  lo.push(l0);
  for (let s = 1; s < n; s++) {
    const ph = hi[s - 1]!;
    const pl = lo[s - 1]!;
    const th = new Uint32Array(256);
    const tl = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      const idx = pl[i]! & 0xff;
      th[i] = (ph[i]! >>> 8) ^ h0[idx]!;
      tl[i] = ((pl[i]! >>> 8) | (ph[i]! << 24)) ^ l0[idx]!;
    }
    hi.push(th);
    lo.push(tl);
  }
  return { hi, lo };
}

let crc64Tables8: { hi: Uint32Array[]; lo: Uint32Array[] } | undefined;
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Slicing-by-8 CRC64NVME over two uint32 halves, reading aligned uint32 words on little-endian
 * hosts. `state` = [hi, lo] of the inverted register, updated in place.
 */
function crc64UpdateTs(state: Uint32Array, data: Uint8Array): void {
  const t = (crc64Tables8 ??= makeCrc64Tables(8));
  const [h0, h1, h2, h3, h4, h5, h6, h7] = t.hi as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  const [l0, l1, l2, l3, l4, l5, l6, l7] = t.lo as [
    Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array, Uint32Array,
  ];
  let H = state[0]!;
  let L = state[1]!;
  const len = data.length;
  let i = 0;
  if (LITTLE_ENDIAN && len >= 64) {
    // bytewise up to a 4-byte boundary, then two aligned uint32 loads per 8 bytes
    for (; ((data.byteOffset + i) & 3) !== 0; i++) {
      const a = (L ^ data[i]!) & 0xff;
      L = ((L >>> 8) | (H << 24)) ^ l0[a]!;
      H = (H >>> 8) ^ h0[a]!;
    }
    const nw = ((len - i) >>> 3) << 1;
    const w = new Uint32Array(data.buffer, data.byteOffset + i, nw);
    for (let j = 0; j < nw; j += 2) {
      const x = L ^ w[j]!;
      const y = H ^ w[j + 1]!;
      const a = x & 0xff, b = (x >>> 8) & 0xff, c = (x >>> 16) & 0xff, d = x >>> 24;
      const e = y & 0xff, f = (y >>> 8) & 0xff, g = (y >>> 16) & 0xff, k = y >>> 24;
      L = l7[a]! ^ l6[b]! ^ l5[c]! ^ l4[d]! ^ l3[e]! ^ l2[f]! ^ l1[g]! ^ l0[k]!;
      H = h7[a]! ^ h6[b]! ^ h5[c]! ^ h4[d]! ^ h3[e]! ^ h2[f]! ^ h1[g]! ^ h0[k]!;
    }
    i += nw << 2;
  }
  for (const end8 = len - 7; i < end8; i += 8) {
    const x = L ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    const y = H ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24));
    const a = x & 0xff, b = (x >>> 8) & 0xff, c = (x >>> 16) & 0xff, d = x >>> 24;
    const e = y & 0xff, f = (y >>> 8) & 0xff, g = (y >>> 16) & 0xff, k = y >>> 24;
    L = l7[a]! ^ l6[b]! ^ l5[c]! ^ l4[d]! ^ l3[e]! ^ l2[f]! ^ l1[g]! ^ l0[k]!;
    H = h7[a]! ^ h6[b]! ^ h5[c]! ^ h4[d]! ^ h3[e]! ^ h2[f]! ^ h1[g]! ^ h0[k]!;
  }
  for (; i < len; i++) {
    const a = (L ^ data[i]!) & 0xff;
    L = ((L >>> 8) | (H << 24)) ^ l0[a]!;
    H = (H >>> 8) ^ h0[a]!;
  }
  state[0] = H;
  state[1] = L;
}

// --- carry-less arithmetic mod P (reflected bit order: bit 63 / bit 31 is x^0) -----------------

/** a·b mod P for 64-bit reflected polynomials given as hi/lo halves; result into out[0..1]. */
function mulmod64(aHi: number, aLo: number, bHi: number, bLo: number, out: Uint32Array): void {
  let pHi = 0;
  let pLo = 0;
  if (aLo !== 0 || aHi !== 0) {
    // lowest set bit of a (bit index 0..63, 63 = x^0): stop after it.
    const last = aLo !== 0 ? 31 - Math.clz32(aLo & -aLo) : 32 + (31 - Math.clz32(aHi & -aHi));
    for (let i = 63; ; i--) {
      const bit = i >= 32 ? (aHi >>> (i - 32)) & 1 : (aLo >>> i) & 1;
      if (bit) {
        pHi ^= bHi;
        pLo ^= bLo;
      }
      if (i === last) break;
      // b = b·x mod P
      const carry = bLo & 1;
      bLo = ((bLo >>> 1) | (bHi << 31)) >>> 0;
      bHi >>>= 1;
      if (carry) {
        bHi ^= P64_HI;
        bLo ^= P64_LO;
      }
    }
  }
  out[0] = pHi >>> 0;
  out[1] = pLo >>> 0;
}

/** a·b mod P for 32-bit reflected polynomials (zlib's multmodp). */
function mulmod32(a: number, b: number, poly: number): number {
  if (a === 0) return 0;
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ poly : b >>> 1;
  }
  return p >>> 0;
}

// x^(2^k) mod P, k = 0..63 (enough for any length below 2^53 bytes: exponent 8·n < 2^56).
const X2N_32: Record<'crc32' | 'crc32c', number[]> = { crc32: [], crc32c: [] };
let X2N_64: Uint32Array | undefined; // 64 × [hi, lo]

function x2n32(a: 'crc32' | 'crc32c'): number[] {
  const t = X2N_32[a];
  if (t.length === 0) {
    const poly = a === 'crc32' ? CRC32_POLY : CRC32C_POLY;
    let p = 0x40000000; // x^1
    for (let k = 0; k < 64; k++) {
      t.push(p);
      p = mulmod32(p, p, poly);
    }
  }
  return t;
}

function x2n64(): Uint32Array {
  if (!X2N_64) {
    const t = new Uint32Array(128);
    const tmp = new Uint32Array(2);
    let hi = 0x40000000; // x^1
    let lo = 0;
    for (let k = 0; k < 64; k++) {
      t[2 * k] = hi;
      t[2 * k + 1] = lo;
      mulmod64(hi, lo, hi, lo, tmp);
      hi = tmp[0]!;
      lo = tmp[1]!;
    }
    X2N_64 = t;
  }
  return X2N_64;
}

function checkLength(len: number): void {
  if (!Number.isSafeInteger(len) || len < 0) throw new RangeError(`invalid length ${len}`);
}

/** x^(8·n) mod P (32-bit). */
function xpow8n32(a: 'crc32' | 'crc32c', n: number): number {
  const t = x2n32(a);
  const poly = a === 'crc32' ? CRC32_POLY : CRC32C_POLY;
  let p = 0x80000000; // x^0
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) p = mulmod32(t[k]!, p, poly);
  }
  return p;
}

/** x^(8·n) mod P (64-bit), into out[0..1]. */
function xpow8n64(n: number, out: Uint32Array): void {
  const t = x2n64();
  let hi = 0x80000000; // x^0
  let lo = 0;
  for (let k = 3; n > 0; k++, n = Math.floor(n / 2)) {
    if (n % 2 === 1) {
      mulmod64(t[2 * k]!, t[2 * k + 1]!, hi, lo, out);
      hi = out[0]!;
      lo = out[1]!;
    }
  }
  out[0] = hi;
  out[1] = lo;
}

// --- WebAssembly CRC64NVME ----------------------------------------------------------------------
//
// Memory (2 pages):
//   [0, 8)        running register (i64, little-endian, inverted form)
//   [16, 24)      K = x^(8·LANE) mod P, to merge two lanes
//   [1024, 33792) 16 slicing tables of 256 i64 entries (table s at 1024 + 2048·s)
//   [65536, 131072) input buffer; JS copies each piece of a chunk here before calling update
// update(p, n): two lanes of LANE bytes each run interleaved (independent dependency chains),
// the first lane's register is then multiplied by K and xored with the second's; what is left
// goes through a single slicing-by-16 lane and a bytewise tail.

const WASM_TABLES = 1024;
const WASM_BUF = 65536;
const WASM_BUF_SIZE = 65536;
const LANE = 4096;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb(v: bigint): number[] {
  const out: number[] = [];
  for (;;) {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

// opcodes
const OP = {
  block: 0x02, loop: 0x03, end: 0x0b, br: 0x0c, br_if: 0x0d, call: 0x10, void: 0x40,
  localGet: 0x20, localSet: 0x21,
  i32Load8u: 0x2d, i64Load: 0x29, i64Store: 0x37,
  i32Const: 0x41, i64Const: 0x42,
  i32GeU: 0x4f, i32LtU: 0x49, i64Eqz: 0x50, i64Ne: 0x52,
  i32Add: 0x6a, i32Sub: 0x6b, i32Shl: 0x74,
  i64Sub: 0x7d, i64And: 0x83, i64Xor: 0x85, i64Shl: 0x86, i64ShrU: 0x88,
  i32WrapI64: 0xa7, i64ExtendI32U: 0xad, if: 0x04,
  i32: 0x7f, i64: 0x7e,
} as const;

function buildCrc64Wasm(): Uint8Array<ArrayBuffer> {
  // Instructions are appended to `c` (the function body being emitted).
  let c: number[] = [];
  const op = (...bytes: number[]): void => {
    for (const b of bytes) c.push(b);
  };
  const u = (n: number): void => op(...uleb(n));
  const i32c = (n: number): void => op(OP.i32Const, ...sleb(BigInt(n)));
  const i64c = (n: bigint): void => op(OP.i64Const, ...sleb(BigInt.asIntN(64, n)));
  const get = (l: number): void => (op(OP.localGet), u(l));
  const set = (l: number): void => (op(OP.localSet), u(l));
  const mem = (code: number, align: number, offset: number): void => (op(code, align), u(offset));
  const locals = (groups: [number, number][]): void => {
    u(groups.length);
    for (const [n, t] of groups) op(n, t);
  };

  // mulmod(a: i64, b: i64) -> i64   (locals: 2 m, 3 r)
  locals([[2, OP.i64]]);
  i64c(0x8000000000000000n), set(2);
  op(OP.block, OP.void, OP.loop, OP.void);
  // if (a & m) r ^= b
  get(0), get(2), op(OP.i64And), i64c(0n), op(OP.i64Ne);
  op(OP.if, OP.void), get(3), get(1), op(OP.i64Xor), set(3), op(OP.end);
  // if ((a & (m - 1)) == 0) break
  get(0), get(2), i64c(1n), op(OP.i64Sub, OP.i64And, OP.i64Eqz, OP.br_if, 1);
  // m >>= 1
  get(2), i64c(1n), op(OP.i64ShrU), set(2);
  // b = (b >> 1) ^ (P & -(b & 1))
  get(1), i64c(1n), op(OP.i64ShrU);
  i64c(0n), get(1), i64c(1n), op(OP.i64And, OP.i64Sub), i64c(P64), op(OP.i64And);
  op(OP.i64Xor), set(1);
  op(OP.br, 0, OP.end, OP.end);
  get(3);
  op(OP.end);
  const mulmod = c;

  // update(p: i32, n: i32)   locals: 2 c, 3 c1 (i64); 4 q, 5 end, 6 lend (i32). Folds n bytes at
  // p into the register at [0, 8).
  c = [];
  const P = 0, N = 1, C = 2, C1 = 3, Q = 4, END = 5, LEND = 6;
  // T_s[(r >> 8k) & 255]: one shift + mask gives the byte offset (index·8) directly
  const lookupReg = (r: number, s: number, k: number): void => {
    get(r);
    if (k === 0) i64c(3n), op(OP.i64Shl);
    else i64c(BigInt(8 * k - 3)), op(OP.i64ShrU);
    i64c(0x7f8n), op(OP.i64And, OP.i32WrapI64);
    mem(OP.i64Load, 3, WASM_TABLES + 2048 * s);
  };
  const lookupByte = (p: number, s: number, off: number): void => {
    get(p), mem(OP.i32Load8u, 0, off), i32c(3), op(OP.i32Shl);
    mem(OP.i64Load, 3, WASM_TABLES + 2048 * s);
  };
  // one slicing-by-16 step of register local `r` over the 16 bytes at pointer local `p`:
  // r ^= load64(p); r = T15[r0] ^ … ^ T8[r7] ^ T7[p[8]] ^ … ^ T0[p[15]]; p += 16
  const step16 = (r: number, p: number): void => {
    get(r), get(p), mem(OP.i64Load, 0, 0), op(OP.i64Xor), set(r);
    // balanced xor tree (pairs, then pairs of pairs...) keeps the dependency chain short
    const term = (t: number): void => (t < 8 ? lookupReg(r, 15 - t, t) : lookupByte(p, 15 - t, t));
    const tree = (from: number, count: number): void => {
      if (count === 1) return term(from);
      tree(from, count >> 1);
      tree(from + (count >> 1), count >> 1);
      op(OP.i64Xor);
    };
    tree(0, 16);
    set(r);
    get(p), i32c(16), op(OP.i32Add), set(p);
  };
  const remaining = (): void => (get(END), get(P), op(OP.i32Sub)); // end - p

  locals([[2, OP.i64], [3, OP.i32]]);
  i32c(0), mem(OP.i64Load, 3, 0), set(C);
  get(P), get(N), op(OP.i32Add), set(END);
  // two-lane blocks: lane A at p, lane B at q = p + LANE, from registers c and 0
  op(OP.block, OP.void, OP.loop, OP.void);
  remaining(), i32c(2 * LANE), op(OP.i32LtU, OP.br_if, 1);
  get(P), i32c(LANE), op(OP.i32Add), set(Q);
  get(Q), set(LEND);
  i64c(0n), set(C1);
  op(OP.loop, OP.void);
  step16(C, P), step16(C1, Q);
  get(P), get(LEND), op(OP.i32LtU, OP.br_if, 0);
  op(OP.end);
  // c = c·K ^ c1 (K = x^(8·LANE) mod P at [16, 24)); p = q
  get(C), i32c(0), mem(OP.i64Load, 3, 16), op(OP.call, 0), get(C1), op(OP.i64Xor), set(C);
  get(Q), set(P);
  op(OP.br, 0, OP.end, OP.end);
  // single lane
  op(OP.block, OP.void, OP.loop, OP.void);
  remaining(), i32c(16), op(OP.i32LtU, OP.br_if, 1);
  step16(C, P);
  op(OP.br, 0, OP.end, OP.end);
  // bytewise tail: c = (c >> 8) ^ T0[(c ^ byte) & 255]
  op(OP.block, OP.void, OP.loop, OP.void);
  get(P), get(END), op(OP.i32GeU, OP.br_if, 1);
  get(C), i64c(8n), op(OP.i64ShrU);
  get(C), get(P), mem(OP.i32Load8u, 0, 0), op(OP.i64ExtendI32U, OP.i64Xor);
  i64c(3n), op(OP.i64Shl), i64c(0x7f8n), op(OP.i64And, OP.i32WrapI64);
  mem(OP.i64Load, 3, WASM_TABLES);
  op(OP.i64Xor), set(C);
  get(P), i32c(1), op(OP.i32Add), set(P);
  op(OP.br, 0, OP.end, OP.end);
  i32c(0), get(C), mem(OP.i64Store, 3, 0);
  op(OP.end);
  const update = c;

  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const section = (id: number, body: number[]): void => {
    out.push(id, ...uleb(body.length));
    for (const b of body) out.push(b);
  };
  const name = (s: string): number[] => [s.length, ...Array.from(s, (ch) => ch.charCodeAt(0))];
  section(1, [2, 0x60, 2, OP.i64, OP.i64, 1, OP.i64, 0x60, 2, OP.i32, OP.i32, 0]); // types
  section(3, [2, 0, 1]); // functions: mulmod: type 0, update: type 1
  section(5, [1, 0x00, 2]); // one memory, 2 pages
  section(7, [2, ...name('memory'), 0x02, 0, ...name('update'), 0x00, 1]); // exports
  const code = [2, ...uleb(mulmod.length), ...mulmod, ...uleb(update.length)];
  for (const b of update) code.push(b);
  section(10, code);
  return new Uint8Array(out);
}

interface Crc64Wasm {
  update(p: number, n: number): void;
  u8: Uint8Array;
  u32: Uint32Array;
}

function loadCrc64Wasm(): Crc64Wasm | undefined {
  if (typeof WebAssembly !== 'object' || !LITTLE_ENDIAN) return undefined;
  try {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(buildCrc64Wasm()));
    const exp = instance.exports as { memory: WebAssembly.Memory; update: (p: number, n: number) => void };
    const u8 = new Uint8Array(exp.memory.buffer);
    const u32 = new Uint32Array(exp.memory.buffer);
    const t = makeCrc64Tables(16);
    for (let s = 0; s < 16; s++) {
      const base = (WASM_TABLES + 2048 * s) >> 2;
      for (let i = 0; i < 256; i++) {
        u32[base + 2 * i] = t.lo[s]![i]!;
        u32[base + 2 * i + 1] = t.hi[s]![i]!;
      }
    }
    // K = x^(8·LANE) mod P: the register x^0 run through LANE zero bytes
    const k = new Uint32Array([0x80000000, 0]);
    crc64UpdateTs(k, new Uint8Array(LANE));
    u32[4] = k[1]!; // lo
    u32[5] = k[0]!; // hi
    const w: Crc64Wasm = { update: exp.update, u8, u32 };
    // self-check before trusting it
    const probe = Uint8Array.from({ length: 3 * LANE + 37 }, (_, i) => (i * 131 + 7) & 0xff);
    const a = new Uint32Array([0xffffffff, 0xffffffff]);
    const b = new Uint32Array([0xffffffff, 0xffffffff]);
    crc64UpdateWasm(w, a, probe);
    crc64UpdateTs(b, probe);
    if (a[0] !== b[0] || a[1] !== b[1]) return undefined;
    return w;
  } catch {
    return undefined;
  }
}

function crc64UpdateWasm(w: Crc64Wasm, state: Uint32Array, data: Uint8Array): void {
  const { u8, u32, update } = w;
  u32[0] = state[1]!;
  u32[1] = state[0]!;
  const len = data.length;
  for (let off = 0; off < len; off += WASM_BUF_SIZE) {
    const n = Math.min(WASM_BUF_SIZE, len - off);
    u8.set(n === len ? data : data.subarray(off, off + n), WASM_BUF);
    update(WASM_BUF, n);
  }
  state[0] = u32[1]!;
  state[1] = u32[0]!;
}

const crc64Wasm = loadCrc64Wasm();
/** Which implementation backs each CRC (for logs and the benchmark). */
export const CRC_IMPLEMENTATIONS: Readonly<Record<CrcAlgorithm, string>> = Object.freeze({
  crc32: nodeRs ? '@node-rs/crc32' : typeof zlib.crc32 === 'function' ? 'zlib.crc32' : 'ts-slicing-by-8',
  crc32c: nodeRs ? '@node-rs/crc32' : 'ts-slicing-by-8',
  crc64nvme: crc64Wasm ? 'wasm-2x-slicing-by-16' : 'ts-slicing-by-8',
});

const crc64Update: (state: Uint32Array, data: Uint8Array) => void = crc64Wasm
  ? (state, data) => crc64UpdateWasm(crc64Wasm, state, data)
  : crc64UpdateTs;

function crc64With(update: (s: Uint32Array, d: Uint8Array) => void, data: Uint8Array, previous: bigint): bigint {
  const p = BigInt.asUintN(64, previous) ^ MASK64;
  const s = new Uint32Array([Number(p >> 32n), Number(p & 0xffffffffn)]);
  update(s, data);
  return ((BigInt(s[0]!) << 32n) | BigInt(s[1]!)) ^ MASK64;
}

/** CRC64NVME of `data`. `previous` chains: crc64nvme(b, crc64nvme(a)) = crc64nvme(a‖b). */
export function crc64nvme(data: Uint8Array, previous: bigint = 0n): bigint {
  return crc64With(crc64Update, data, previous);
}

/** The portable TypeScript CRC64NVME (the fallback), exported for tests and the benchmark. */
export function crc64nvmeTable(data: Uint8Array, previous: bigint = 0n): bigint {
  return crc64With(crc64UpdateTs, data, previous);
}

// ---------------------------------------------------------------------------------------------
// CRC combination: crc(A‖B) from crc(A), crc(B) and |B| (zlib's crc32_combine). All three CRCs
// use init = xorout = all ones, so crc(A‖B) = crc(A)·x^(8·|B|) mod P ⊕ crc(B).

const lastPow32 = { crc32: { n: -1, p: 0 }, crc32c: { n: -1, p: 0 } };
const lastPow64 = { n: -1, p: new Uint32Array(2) };

export function combineCrc(algorithm: 'crc32' | 'crc32c', crcA: number, crcB: number, lenB: number): number;
export function combineCrc(algorithm: 'crc64nvme', crcA: bigint, crcB: bigint, lenB: number): bigint;
export function combineCrc(algorithm: CrcAlgorithm, crcA: number | bigint, crcB: number | bigint, lenB: number): number | bigint;
export function combineCrc(algorithm: CrcAlgorithm, crcA: number | bigint, crcB: number | bigint, lenB: number): number | bigint {
  checkLength(lenB);
  if (algorithm === 'crc64nvme') {
    const a = BigInt.asUintN(64, BigInt(crcA));
    const b = BigInt.asUintN(64, BigInt(crcB));
    if (lastPow64.n !== lenB) {
      xpow8n64(lenB, lastPow64.p);
      lastPow64.n = lenB;
    }
    const out = new Uint32Array(2);
    mulmod64(lastPow64.p[0]!, lastPow64.p[1]!, Number(a >> 32n), Number(a & 0xffffffffn), out);
    return ((BigInt(out[0]!) << 32n) | BigInt(out[1]!)) ^ b;
  }
  if (algorithm !== 'crc32' && algorithm !== 'crc32c') throw new TypeError(`not a CRC: ${String(algorithm)}`);
  const cache = lastPow32[algorithm];
  if (cache.n !== lenB) {
    cache.p = xpow8n32(algorithm, lenB);
    cache.n = lenB;
  }
  const poly = algorithm === 'crc32' ? CRC32_POLY : CRC32C_POLY;
  return (mulmod32(cache.p, Number(crcA) >>> 0, poly) ^ (Number(crcB) >>> 0)) >>> 0;
}

/** combineCrc on S3 wire values (base64 of the big-endian CRC). */
export function combineCrcBase64(algorithm: CrcAlgorithm, a: string, b: string, lenB: number): string {
  const size = CHECKSUM_SIZES[algorithm];
  const ba = decodeBase64Digest(a, size);
  const bb = decodeBase64Digest(b, size);
  if (!ba || !bb) throw new TypeError(`invalid ${algorithm} value`);
  if (algorithm === 'crc64nvme') {
    const out = Buffer.allocUnsafe(8);
    out.writeBigUInt64BE(combineCrc('crc64nvme', ba.readBigUInt64BE(0), bb.readBigUInt64BE(0), lenB));
    return out.toString('base64');
  }
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(combineCrc(algorithm, ba.readUInt32BE(0), bb.readUInt32BE(0), lenB));
  return out.toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Incremental checksums

export interface Checksummer {
  update(data: Uint8Array): void;
  /** Big-endian digest bytes; call once. */
  digest(): Buffer;
}

class Crc32Checksummer implements Checksummer {
  private crc = 0;
  constructor(private readonly fn: Crc32Fn) {}
  update(data: Uint8Array): void {
    this.crc = this.fn(data, this.crc);
  }
  digest(): Buffer {
    const out = Buffer.allocUnsafe(4);
    out.writeUInt32BE(this.crc >>> 0);
    return out;
  }
}

class Crc64Checksummer implements Checksummer {
  private readonly state = new Uint32Array([0xffffffff, 0xffffffff]);
  update(data: Uint8Array): void {
    crc64Update(this.state, data);
  }
  digest(): Buffer {
    const out = Buffer.allocUnsafe(8);
    out.writeUInt32BE((this.state[0]! ^ 0xffffffff) >>> 0, 0);
    out.writeUInt32BE((this.state[1]! ^ 0xffffffff) >>> 0, 4);
    return out;
  }
}

class HashChecksummer implements Checksummer {
  constructor(readonly hash: Hash) {}
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  digest(): Buffer {
    return this.hash.digest();
  }
}

/** An incremental hasher for `a` with the fastest available implementation. */
export function createChecksummer(a: ChecksumAlgorithm): Checksummer {
  switch (a) {
    case 'crc32':
      return new Crc32Checksummer(crc32);
    case 'crc32c':
      return new Crc32Checksummer(crc32c);
    case 'crc64nvme':
      return new Crc64Checksummer();
    case 'sha1':
      return new HashChecksummer(createHash('sha1'));
    case 'sha256':
      return new HashChecksummer(createHash('sha256'));
    default:
      throw new TypeError(`unknown checksum algorithm ${String(a)}`);
  }
}

/** One-shot S3 wire value (base64) of `data`. */
export function computeChecksum(a: ChecksumAlgorithm, data: Uint8Array): string {
  const c = createChecksummer(a);
  c.update(data);
  return c.digest().toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Header parsing

export interface ExpectedChecksums {
  /** Content-MD5 as sent (base64 of 16 bytes, validated). */
  md5?: string;
  /** The flexible checksum the client sent or announced. */
  algorithm?: ChecksumAlgorithm;
  /** Its base64 value when it came in a header; undefined when it comes in a trailer. */
  value?: string;
  /** Where the value is: 'header', 'trailer' (x-amz-trailer), or undefined when none is sent. */
  from?: 'header' | 'trailer';
}

type HeaderMap = Record<string, string | string[] | undefined>;

function headerValues(headers: HeaderMap, name: string): string[] {
  const v = headers[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

function singleHeader(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

const NOT_CHECKSUM_VALUE_HEADERS = new Set(['x-amz-checksum-algorithm', 'x-amz-checksum-type', 'x-amz-checksum-mode']);

const MSG_MULTIPLE = 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.';
const MSG_HEADER_AND_TRAILER = 'Expecting a single x-amz-checksum- header';

const invalidRequest = (message: string): S3Error => new S3Error('InvalidRequest', message);

/**
 * Parses and validates the checksum headers of a request that carries a body (PutObject,
 * UploadPart) — not CreateMultipartUpload/CopyObject, where x-amz-checksum-algorithm alone is
 * legitimate. `headers` as node gives them (lower-case names); `trailers` the names listed in
 * x-amz-trailer (see trailerNames()). Errors and messages follow AWS S3:
 *   - an x-amz-checksum-<unknown> header: InvalidRequest 'The algorithm type you specified in
 *     x-amz-checksum- header is invalid.'
 *   - several x-amz-checksum-* headers, or several checksum trailers: InvalidRequest 'Expecting a
 *     single x-amz-checksum- header. Multiple checksum Types are not allowed.'
 *   - one header and one trailer: InvalidRequest 'Expecting a single x-amz-checksum- header'
 *   - a trailer that is not a checksum: InvalidRequest 'The value specified in the x-amz-trailer
 *     header is not supported'
 *   - a malformed value: InvalidRequest 'Value for x-amz-checksum-<a> header is invalid.'
 *   - x-amz-sdk-checksum-algorithm (or x-amz-checksum-algorithm) without a matching header or
 *     trailer: InvalidRequest '<that header> specified, but no corresponding x-amz-checksum-* or
 *     x-amz-trailer headers were found.'; naming another algorithm: InvalidRequest 'Value for
 *     <that header> header is invalid.'
 *   - Content-MD5 that is not base64 of 16 bytes: InvalidDigest 'The Content-MD5 you specified
 *     was invalid.'
 */
export function parseChecksumHeaders(headers: HeaderMap, trailers: string[]): ExpectedChecksums {
  // 1. x-amz-checksum-<algorithm> headers
  let headerAlg: ChecksumAlgorithm | undefined;
  let headerValue: string | undefined;
  let headerCount = 0;
  for (const rawName of Object.keys(headers)) {
    const name = rawName.toLowerCase();
    if (!name.startsWith(HEADER_PREFIX) || NOT_CHECKSUM_VALUE_HEADERS.has(name)) continue;
    const values = headerValues(headers, rawName);
    if (values.length === 0) continue;
    const a = parseChecksumAlgorithm(name.slice(HEADER_PREFIX.length));
    if (!a || name.slice(HEADER_PREFIX.length) !== a) {
      throw invalidRequest('The algorithm type you specified in x-amz-checksum- header is invalid.');
    }
    headerCount += values.length;
    headerAlg = a;
    headerValue = values[0]!.trim();
  }
  if (headerCount > 1) throw invalidRequest(MSG_MULTIPLE);

  // 2. checksum trailers announced in x-amz-trailer
  let trailerAlg: ChecksumAlgorithm | undefined;
  let trailerCount = 0;
  for (const raw of trailers) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    const a = name.startsWith(HEADER_PREFIX) ? parseChecksumAlgorithm(name.slice(HEADER_PREFIX.length)) : undefined;
    if (!a || checksumHeader(a) !== name) {
      throw invalidRequest('The value specified in the x-amz-trailer header is not supported');
    }
    trailerAlg = a;
    trailerCount++;
  }
  if (trailerCount > 1) throw invalidRequest(MSG_MULTIPLE);
  if (headerCount + trailerCount > 1) throw invalidRequest(MSG_HEADER_AND_TRAILER);

  const result: ExpectedChecksums = {};
  if (headerAlg !== undefined) {
    if (!isValidChecksumValue(headerAlg, headerValue!)) {
      throw invalidRequest(`Value for ${checksumHeader(headerAlg)} header is invalid.`);
    }
    result.algorithm = headerAlg;
    result.value = headerValue;
    result.from = 'header';
  } else if (trailerAlg !== undefined) {
    result.algorithm = trailerAlg;
    result.from = 'trailer';
  }

  // 3. the announced algorithm must match what is sent
  for (const name of ['x-amz-sdk-checksum-algorithm', 'x-amz-checksum-algorithm']) {
    const announced = singleHeader(headers, name)?.trim();
    if (!announced) continue;
    if (result.algorithm === undefined) {
      throw invalidRequest(`${name} specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.`);
    }
    if (parseChecksumAlgorithm(announced) !== result.algorithm) {
      throw invalidRequest(`Value for ${name} header is invalid.`);
    }
  }

  // 4. Content-MD5
  const md5 = singleHeader(headers, 'content-md5');
  if (md5 !== undefined) {
    const v = md5.trim();
    if (!decodeBase64Digest(v, 16)) {
      throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': md5 });
    }
    result.md5 = v;
  }
  return result;
}

/** The names listed in x-amz-trailer (lower-case, empty entries dropped). */
export function trailerNames(headers: HeaderMap): string[] {
  const v = singleHeader(headers, 'x-amz-trailer');
  if (v === undefined) return [];
  return v.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
}

/**
 * The flexible checksums to compute for a body: the client's algorithm, or CRC64NVME when it
 * sent none (S3 stores a CRC64NVME for every object since 2025).
 */
export function checksumsToCompute(expected: ExpectedChecksums): ChecksumAlgorithm[] {
  return [expected.algorithm ?? DEFAULT_CHECKSUM_ALGORITHM];
}

// ---------------------------------------------------------------------------------------------
// Streaming digester

export interface BodyDigests {
  /** MD5 of the body (16 bytes) unless disabled. */
  md5?: Buffer;
  /** base64 S3 wire value per computed algorithm. */
  checksums: Partial<Record<ChecksumAlgorithm, string>>;
  /** Lower-case hex SHA256, when asked for (x-amz-content-sha256 verification). */
  sha256Hex?: string;
}

export interface BodyDigesterOptions {
  /** Flexible checksums to compute; empty means "the client sent none" → `defaultAlgorithm`. */
  algorithms: ChecksumAlgorithm[];
  /** Also compute SHA256 as hex (shares the hash with 'sha256' when both are wanted). */
  sha256Hex?: boolean;
  /** Compute MD5 (the ETag); default true. */
  md5?: boolean;
  /** Used when `algorithms` is empty; default CRC64NVME, null for none. */
  defaultAlgorithm?: ChecksumAlgorithm | null;
}

/**
 * Pass-through Transform computing MD5, the requested flexible checksums and optionally a SHA256
 * hex of everything that flows through. Chunks are forwarded unchanged (no copies); digests()
 * is valid once the stream has flushed ('finish' / 'end').
 */
export class BodyDigester extends Transform {
  private readonly updaters: Checksummer[] = [];
  private readonly byAlgorithm = new Map<ChecksumAlgorithm, Checksummer>();
  private readonly algorithms: ChecksumAlgorithm[];
  private readonly md5?: Checksummer;
  private readonly sha256?: HashChecksummer;
  private readonly sha256Hex: boolean;
  private count = 0;
  private result?: BodyDigests;

  constructor(opts: BodyDigesterOptions) {
    super();
    const wanted = opts.algorithms.length > 0
      ? opts.algorithms
      : opts.defaultAlgorithm === null
        ? []
        : [opts.defaultAlgorithm ?? DEFAULT_CHECKSUM_ALGORITHM];
    this.algorithms = [...new Set(wanted)];
    this.sha256Hex = opts.sha256Hex === true;
    if (opts.md5 !== false) {
      this.md5 = new HashChecksummer(createHash('md5'));
      this.updaters.push(this.md5);
    }
    if (this.sha256Hex || this.algorithms.includes('sha256')) {
      this.sha256 = new HashChecksummer(createHash('sha256'));
      this.updaters.push(this.sha256);
    }
    for (const a of this.algorithms) {
      if (a !== 'sha256') this.updaters.push(this.checksummerFor(a));
    }
  }

  private checksummerFor(a: ChecksumAlgorithm): Checksummer {
    const c = createChecksummer(a);
    this.byAlgorithm.set(a, c);
    return c;
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.count;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (this.result) {
      callback(new Error('BodyDigester: data after digests() was taken'));
      return;
    }
    const u = this.updaters;
    for (let i = 0; i < u.length; i++) u[i]!.update(chunk);
    this.count += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.finalize();
    callback();
  }

  private finalize(): BodyDigests {
    if (this.result) return this.result;
    const checksums: Partial<Record<ChecksumAlgorithm, string>> = {};
    let shaDigest: Buffer | undefined;
    if (this.sha256) shaDigest = this.sha256.digest();
    for (const a of this.algorithms) {
      checksums[a] = a === 'sha256' ? shaDigest!.toString('base64') : this.byAlgorithm.get(a)!.digest().toString('base64');
    }
    const r: BodyDigests = { checksums };
    if (this.md5) r.md5 = this.md5.digest();
    if (this.sha256Hex) r.sha256Hex = shaDigest!.toString('hex');
    this.result = r;
    return r;
  }

  /** The digests; finalizes the hashes, so call it after 'finish' / 'end'. */
  digests(): BodyDigests {
    return this.finalize();
  }
}

// ---------------------------------------------------------------------------------------------
// Verification

export interface VerifyOptions {
  /** Trailers received after an aws-chunked body (lower-case names). */
  trailers?: Record<string, string | undefined>;
  /** x-amz-content-sha256 when it is a hex SHA256 of the payload (not UNSIGNED-PAYLOAD/STREAMING-*). */
  contentSha256?: string;
}

/**
 * Compares what the body hashed to against what the client declared. Order follows S3: a
 * x-amz-content-sha256 mismatch wins (XAmzContentSHA256Mismatch), then Content-MD5 (BadDigest
 * 'The Content-MD5 you specified did not match what we received.' with ExpectedDigest as hex and
 * CalculatedDigest as base64), then the flexible checksum (BadDigest 'The <ALGO> you specified did
 * not match the calculated checksum.'). A trailer value that is malformed gives InvalidRequest
 * 'Value for x-amz-checksum-<a> trailing header is invalid.'; an announced trailer that never came
 * gives MalformedTrailerError.
 */
export function verifyChecksums(expected: ExpectedChecksums, computed: BodyDigests, opts: VerifyOptions = {}): void {
  if (opts.contentSha256 !== undefined) {
    if (computed.sha256Hex === undefined) throw new Error('verifyChecksums: sha256Hex was not computed');
    if (opts.contentSha256.toLowerCase() !== computed.sha256Hex) {
      throw new S3Error('XAmzContentSHA256Mismatch', undefined, {
        ClientComputedContentSHA256: opts.contentSha256,
        S3ComputedContentSHA256: computed.sha256Hex,
      });
    }
  }

  if (expected.md5 !== undefined) {
    if (computed.md5 === undefined) throw new Error('verifyChecksums: md5 was not computed');
    const want = Buffer.from(expected.md5, 'base64');
    if (!want.equals(computed.md5)) {
      throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', {
        ExpectedDigest: want.toString('hex'),
        CalculatedDigest: computed.md5.toString('base64'),
      });
    }
  }

  const a = expected.algorithm;
  if (a === undefined || expected.from === undefined) return;
  let value: string | undefined;
  if (expected.from === 'header') {
    value = expected.value;
  } else {
    value = opts.trailers?.[checksumHeader(a)];
    if (value === undefined) throw new S3Error('MalformedTrailerError');
    value = value.trim();
    if (!isValidChecksumValue(a, value)) {
      throw invalidRequest(`Value for ${checksumHeader(a)} trailing header is invalid.`);
    }
  }
  const got = computed.checksums[a];
  if (got === undefined) throw new Error(`verifyChecksums: ${a} was not computed`);
  if (value !== got) {
    throw new S3Error('BadDigest', `The ${checksumAlgorithmName(a)} you specified did not match the calculated checksum.`);
  }
}
