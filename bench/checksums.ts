// Throughput of every checksum candidate on the PUT hot path: 64 KiB chunks over 256 MiB.
//   npx tsc -p . && node dist/bench/checksums.js [--mib 256] [--chunk-kib 64] [--rounds 3]
// MiB/s is reported against wall time and against this process's CPU time (user + system),
// which stays meaningful when other work shares the machine. Best of `rounds` runs.

import { randomBytes, createHash } from 'node:crypto';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import {
  BodyDigester,
  CRC_IMPLEMENTATIONS,
  type ChecksumAlgorithm,
  createChecksummer,
  crc32Table,
  crc32cTable,
  crc64nvmeTable,
} from '../src/s3/checksums.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const TOTAL = arg('mib', 256) * 1024 * 1024;
const CHUNK = arg('chunk-kib', 64) * 1024;
const ROUNDS = arg('rounds', 3);
const POOL = 64; // distinct chunks cycled through (4 MiB at 64 KiB)
const pool = randomBytes(CHUNK * POOL);
const chunks = Array.from({ length: POOL }, (_, i) => pool.subarray(i * CHUNK, (i + 1) * CHUNK));
const N = Math.floor(TOTAL / CHUNK);

interface Candidate {
  algorithm: string;
  impl: string;
  chosen: boolean;
  /** Cap on the bytes hashed per round for very slow candidates (MiB). */
  maxMiB?: number;
  /** Returns a fresh updater and a finisher giving the digest as hex (for a cross-check). */
  make(): { update(c: Buffer): void; hex(): string | Promise<string> };
}

interface Result {
  wall: number;
  cpu: number;
  hex: string;
}

async function measure(c: Candidate): Promise<Result> {
  let best: Result = { wall: 0, cpu: 0, hex: '' };
  for (let r = 0; r < ROUNDS + 1; r++) {
    const u = c.make();
    const warm = r === 0; // first round warms up (JIT / wasm tier-up) and is not counted
    const full = c.maxMiB ? Math.min(N, Math.floor((c.maxMiB * 1048576) / CHUNK)) : N;
    const n = warm ? Math.min(full, 512) : full;
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) u.update(chunks[i % POOL]!);
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6;
    const hex = await u.hex();
    if (warm) continue;
    const mib = (n * CHUNK) / (1024 * 1024);
    if (best.hex && best.hex !== hex) throw new Error(`${c.algorithm}/${c.impl}: digest changed between rounds`);
    best = { wall: Math.max(best.wall, mib / wallS), cpu: Math.max(best.cpu, mib / Math.max(cpuS, 1e-9)), hex };
  }
  return best;
}

const hex32 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

function crc32Candidate(algorithm: string, impl: string, chosen: boolean, fn: (d: Uint8Array, prev: number) => number): Candidate {
  return {
    algorithm,
    impl,
    chosen,
    make() {
      let c = 0;
      return { update: (d) => (c = fn(d, c)), hex: () => hex32(c) };
    },
  };
}

function moduleCandidate(a: ChecksumAlgorithm, impl: string): Candidate {
  return {
    algorithm: a,
    impl,
    chosen: true,
    make() {
      const c = createChecksummer(a);
      return { update: (d) => c.update(d), hex: () => c.digest().toString('hex') };
    },
  };
}

function hashCandidate(a: 'md5' | 'sha1' | 'sha256'): Candidate {
  return {
    algorithm: a,
    impl: 'node:crypto (OpenSSL)',
    chosen: true,
    make() {
      const h = createHash(a);
      return { update: (d) => h.update(d), hex: () => h.digest('hex') };
    },
  };
}

function loadOptional<T>(name: string): T | undefined {
  try {
    return createRequire(import.meta.url)(name) as T;
  } catch {
    return undefined;
  }
}

const candidates: Candidate[] = [];
const nodeRs = loadOptional<{ crc32(d: Uint8Array, p?: number): number; crc32c(d: Uint8Array, p?: number): number }>('@node-rs/crc32');

// CRC32
if (typeof zlib.crc32 === 'function') candidates.push(crc32Candidate('crc32', 'zlib.crc32', false, (d, p) => zlib.crc32(d, p)));
if (nodeRs) candidates.push(crc32Candidate('crc32', '@node-rs/crc32', false, (d, p) => nodeRs.crc32(d, p)));
candidates.push(crc32Candidate('crc32', 'ts slicing-by-8', false, crc32Table));
candidates.push(moduleCandidate('crc32', `checksums.ts → ${CRC_IMPLEMENTATIONS.crc32}`));
// CRC32C
if (nodeRs) candidates.push(crc32Candidate('crc32c', '@node-rs/crc32', false, (d, p) => nodeRs.crc32c(d, p)));
candidates.push(crc32Candidate('crc32c', 'ts slicing-by-8', false, crc32cTable));
candidates.push(moduleCandidate('crc32c', `checksums.ts → ${CRC_IMPLEMENTATIONS.crc32c}`));
// CRC64NVME
candidates.push({
  algorithm: 'crc64nvme',
  impl: '@aws-sdk/crc64-nvme (JS)',
  chosen: false,
  make() {
    const c = new Crc64Nvme();
    return { update: (d) => c.update(d), hex: async () => Buffer.from(await c.digest()).toString('hex') };
  },
});
candidates.push({
  algorithm: 'crc64nvme',
  impl: 'ts slicing-by-8 (u32 halves)',
  chosen: false,
  make() {
    let c = 0n;
    return { update: (d) => (c = crc64nvmeTable(d, c)), hex: () => c.toString(16).padStart(16, '0') };
  },
});
// Slicing-by-8 on BigUint64Array tables (BigInt arithmetic), to show why the module uses u32 halves.
const bigTables = (() => {
  const t = new BigUint64Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = BigInt(i);
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ 0x9a6c9329ac4bc9b5n : c >> 1n;
    t[i] = c;
  }
  for (let s = 1; s < 8; s++) for (let i = 0; i < 256; i++) t[s * 256 + i] = (t[(s - 1) * 256 + i]! >> 8n) ^ t[Number(t[(s - 1) * 256 + i]! & 255n)]!;
  return t;
})();
function crc64BigInt(reg: bigint, d: Uint8Array): bigint {
  const t = bigTables;
  const dv = new DataView(d.buffer, d.byteOffset, d.length);
  let i = 0;
  for (const end = d.length - 7; i < end; i += 8) {
    const x = reg ^ dv.getBigUint64(i, true);
    reg =
      t[7 * 256 + Number(x & 255n)]! ^ t[6 * 256 + Number((x >> 8n) & 255n)]! ^ t[5 * 256 + Number((x >> 16n) & 255n)]! ^
      t[4 * 256 + Number((x >> 24n) & 255n)]! ^ t[3 * 256 + Number((x >> 32n) & 255n)]! ^ t[2 * 256 + Number((x >> 40n) & 255n)]! ^
      t[256 + Number((x >> 48n) & 255n)]! ^ t[Number(x >> 56n)]!;
  }
  for (; i < d.length; i++) reg = t[Number((reg ^ BigInt(d[i]!)) & 255n)]! ^ (reg >> 8n);
  return reg;
}
if ((crc64BigInt(0xffffffffffffffffn, Buffer.from('123456789')) ^ 0xffffffffffffffffn) !== 0xae8b14860a799888n) {
  throw new Error('crc64BigInt is wrong');
}
candidates.push({
  algorithm: 'crc64nvme',
  impl: 'ts slicing-by-8 (BigUint64Array)',
  chosen: false,
  maxMiB: 16,
  make() {
    let reg = 0xffffffffffffffffn;
    return {
      update: (d) => (reg = crc64BigInt(reg, d)),
      hex: () => (reg ^ 0xffffffffffffffffn).toString(16).padStart(16, '0'),
    };
  },
});
type CrtChecksums = { crc64nvme(d: Uint8Array, prev?: DataView): DataView };
const crt = loadOptional<{ checksums: CrtChecksums }>('aws-crt');
if (crt) {
  candidates.push({
    algorithm: 'crc64nvme',
    impl: 'aws-crt (native, optional)',
    chosen: false,
    make() {
      let prev: DataView | undefined;
      return {
        update: (d) => (prev = crt.checksums.crc64nvme(d, prev)),
        hex: () => (prev ? Buffer.from(prev.buffer, prev.byteOffset, 8).toString('hex') : ''),
      };
    },
  });
}
candidates.push(moduleCandidate('crc64nvme', `checksums.ts → ${CRC_IMPLEMENTATIONS.crc64nvme}`));
// hashes
candidates.push(hashCandidate('md5'), hashCandidate('sha1'), hashCandidate('sha256'));

// Whole BodyDigester as a PUT uses it (stream machinery included).
function digesterCandidate(label: string, opts: ConstructorParameters<typeof BodyDigester>[0]): Candidate {
  return {
    algorithm: 'BodyDigester',
    impl: label,
    chosen: true,
    make() {
      const d = new BodyDigester(opts);
      d.on('data', () => {});
      return {
        update: (c) => {
          d.write(c);
        },
        hex: async () => {
          d.end();
          await once(d, 'finish');
          const r = d.digests();
          return `${r.md5?.toString('hex') ?? ''}/${Object.values(r.checksums).join(',')}/${r.sha256Hex ?? ''}`;
        },
      };
    },
  };
}
candidates.push(digesterCandidate('md5 + crc64nvme (PUT, no checksum sent)', { algorithms: [] }));
candidates.push(digesterCandidate('md5 + crc32', { algorithms: ['crc32'] }));
candidates.push(digesterCandidate('md5 + crc32c', { algorithms: ['crc32c'] }));
candidates.push(digesterCandidate('md5 + sha256 (+ hex for x-amz-content-sha256)', { algorithms: ['sha256'], sha256Hex: true }));
candidates.push(digesterCandidate('md5 + crc64nvme + sha256 hex (signed payload)', { algorithms: [], sha256Hex: true }));

async function main(): Promise<void> {
  console.log(
    `checksum throughput: ${CHUNK / 1024} KiB chunks × ${N} = ${(N * CHUNK) / 1048576} MiB, best of ${ROUNDS}, ` +
      `node ${process.version}, ${process.arch}`,
  );
  console.log(`${'algorithm'.padEnd(13)} ${'implementation'.padEnd(48)} ${'MiB/s wall'.padStart(11)} ${'MiB/s cpu'.padStart(10)}  digest check`);
  const refs = new Map<string, string>();
  for (const c of candidates) {
    const r = await measure(c);
    let check = '';
    if (c.maxMiB) {
      check = 'check value ok';
    } else if (c.algorithm !== 'BodyDigester') {
      const ref = refs.get(c.algorithm);
      if (ref === undefined) refs.set(c.algorithm, r.hex);
      check = ref === undefined ? 'ref' : ref === r.hex ? 'same' : 'DIFFERENT';
    }
    console.log(
      `${c.algorithm.padEnd(13)} ${(c.impl + (c.chosen && c.algorithm !== 'BodyDigester' ? '  [used]' : '') + (c.maxMiB ? ` (${c.maxMiB} MiB)` : '')).padEnd(48)} ` +
        `${r.wall.toFixed(0).padStart(11)} ${r.cpu.toFixed(0).padStart(10)}  ${check}`,
    );
  }
}

await main();
