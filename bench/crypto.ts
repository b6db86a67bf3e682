// `node dist/bench/crypto.js [MiB per run] [runs]`: throughput of the object format
// (kms/format.ts) at 16/64/256 KiB segments against raw OpenSSL-in-node, to choose the segment
// size. Cases run interleaved and each reports best and median of its runs, because other
// processes share these cores. Feeds streams 64 KiB chunks (a file read stream's default and
// a typical socket read) and 16 KiB chunks.
import { createCipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDecryptStream, createEncryptStream, fullRange, openSegment, SegmentOpener, sealSegment, TAG_SIZE } from '../kms/format.js';
import { decryptBlobRange } from '../src/service/objects.js';

const MIB = 1024 * 1024;
const TOTAL = Number(process.argv[2] ?? 64) * MIB;
const RUNS = Number(process.argv[3] ?? 9);
const SIZES = [16 * 1024, 64 * 1024, 256 * 1024];
const key = randomBytes(32);
const source = randomBytes(8 * MIB);

function slices(buf: Buffer, total: number, chunk: number): Buffer[] {
  const out: Buffer[] = [];
  for (let d = 0; d < total; d += chunk) {
    const o = d % buf.length;
    out.push(buf.subarray(o, Math.min(o + chunk, buf.length, o + total - d)));
  }
  return out;
}

async function throughStream(t: NodeJS.ReadWriteStream, chunks: Buffer[]): Promise<number> {
  let n = 0;
  await pipeline(Readable.from(chunks, { objectMode: false }), t, new Writable({ write(c: Buffer, _e, cb) { n += c.length; cb(); }, writev(cs, cb) { for (const c of cs) n += c.chunk.length; cb(); } }));
  return n;
}

type Case = { name: string; bytes: number; run: () => unknown };
const cases: Case[] = [];

const big = Buffer.allocUnsafeSlow(TOTAL);
for (let d = 0; d < TOTAL; d += source.length) source.copy(big, d, 0, Math.min(source.length, TOTAL - d));
cases.push({
  name: `raw: one cipher, one ${TOTAL / MIB} MiB update`,
  bytes: TOTAL,
  run: () => {
    const c = createCipheriv('aes-256-gcm', key, Buffer.alloc(12));
    c.update(big);
    c.final();
  },
});
cases.push({
  name: 'raw: one cipher, 64 KiB updates',
  bytes: TOTAL,
  run: () => {
    const c = createCipheriv('aes-256-gcm', key, Buffer.alloc(12));
    for (const s of slices(source, TOTAL, 64 * 1024)) c.update(s);
    c.final();
  },
});

// Per-segment ciphertext for the decrypt cases, made once.
const sealed = new Map<number, Buffer[]>();
for (const S of SIZES) {
  const parts: Buffer[] = [];
  const segs = slices(source, TOTAL, S);
  segs.forEach((p, i) => parts.push(...sealSegment(key, S, i, i === segs.length - 1, p)));
  sealed.set(S, parts);
}

for (const S of SIZES) {
  const k = `${S / 1024} KiB`;
  const segs = slices(source, TOTAL, S);
  cases.push({
    name: `naive: cipher per segment + concat, ${k}`,
    bytes: TOTAL,
    run: () => segs.forEach((p, i) => {
      const iv = Buffer.alloc(12);
      iv.writeUInt32BE(i, 7);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const ct = c.update(p);
      c.final();
      Buffer.concat([ct, c.getAuthTag()]);
    }),
  });
  const scratch = { nonce: Buffer.alloc(12), aad: Buffer.alloc(16) };
  cases.push({ name: `sealSegment loop, ${k}`, bytes: TOTAL, run: () => segs.forEach((p, i) => sealSegment(key, S, i, i === segs.length - 1, p, scratch)) });
  const whole = Buffer.concat(sealed.get(S)!);
  const opened = slices(whole, whole.length, S + TAG_SIZE);
  cases.push({ name: `openSegment loop, ${k}`, bytes: TOTAL, run: () => opened.forEach((c, i) => openSegment(key, S, i, i === opened.length - 1, c, scratch)) });
  for (const chunk of [64 * 1024, 16 * 1024]) {
    const input = slices(source, TOTAL, chunk);
    cases.push({ name: `encrypt stream, ${k}, ${chunk / 1024} KiB chunks`, bytes: TOTAL, run: () => throughStream(createEncryptStream(key, { segmentSize: S }), input) });
    const cin = slices(whole, whole.length, chunk);
    cases.push({ name: `decrypt stream, ${k}, ${chunk / 1024} KiB chunks`, bytes: TOTAL, run: () => throughStream(createDecryptStream(key, { segmentSize: S }), cin) });
  }
}

// A GET's read path: the blob file (in the page cache) read in 256 KiB slices and decrypted.
// Before: a fresh buffer per slice, Readable.from over the slices piped into a DecryptStream.
// Now: src/service/objects.ts's decryptBlobRange, one pooled slab fed to a SegmentOpener.
const blobDir = mkdtempSync(join(tmpdir(), 'akko-bench-crypto-'));
const blobFile = join(blobDir, 'blob');
writeFileSync(blobFile, Buffer.concat(sealed.get(64 * 1024)!));
const blobRange = fullRange(TOTAL, 64 * 1024);
const SLICE = 256 * 1024;
async function drain(it: AsyncIterable<Buffer>): Promise<number> {
  let n = 0;
  for await (const c of Readable.from(it, { objectMode: false, highWaterMark: SLICE })) n += (c as Buffer).length;
  return n;
}
async function* freshSlices(path: string, size: number): AsyncGenerator<Buffer> {
  const fh = await open(path);
  try {
    for (let pos = 0; pos < size; ) {
      const buf = Buffer.allocUnsafe(Math.min(SLICE, size - pos));
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
async function* slabOpener(path: string, size: number): AsyncGenerator<Buffer> {
  const fh = await open(path);
  const plain: Buffer[] = [];
  const opener = new SegmentOpener(key, { segmentSize: 64 * 1024, ...blobRange }, (p) => plain.push(p));
  try {
    yield* decryptBlobRange(fh, 0, size - 1, opener, plain);
  } finally {
    opener.dispose();
    await fh.close();
  }
}
const blobSize = blobRange.cipherEnd + 1;
cases.push({
  name: 'GET path: fresh slices piped to DecryptStream',
  bytes: TOTAL,
  run: () => drain(Readable.from(freshSlices(blobFile, blobSize)).pipe(createDecryptStream(key, { segmentSize: 64 * 1024, ...blobRange }))),
});
cases.push({ name: 'GET path: one slab fed to SegmentOpener', bytes: TOTAL, run: () => drain(slabOpener(blobFile, blobSize)) });
process.on('exit', () => rmSync(blobDir, { recursive: true, force: true }));

// Wall time is at the mercy of neighbours on a shared machine; CPU time (user+sys) of this
// process is steadier, and minor page faults show the cost of fresh memory.
interface Sample { wall: number; cpu: number; faults: number }

const results = new Map<string, Sample[]>();
for (let r = 0; r < RUNS; r++) {
  for (const c of cases) {
    const u0 = process.cpuUsage();
    const f0 = process.resourceUsage().minorPageFault;
    const t = performance.now();
    await c.run();
    const wall = (performance.now() - t) / 1000;
    const u = process.cpuUsage(u0);
    const faults = process.resourceUsage().minorPageFault - f0;
    const mib = c.bytes / MIB;
    const s = { wall: mib / wall, cpu: mib / ((u.user + u.system) / 1e6), faults: faults / mib };
    if (r > 0) (results.get(c.name) ?? results.set(c.name, []).get(c.name)!).push(s); // run 0 warms up
  }
}
const median = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1]!;
console.log(`${TOTAL / MIB} MiB per run, ${RUNS - 1} measured runs, node ${process.version}, OpenSSL ${process.versions.openssl}`);
console.log('case'.padEnd(48), 'MiB/cpu-s'.padStart(10), 'wall best'.padStart(10), 'wall med'.padStart(9), 'faults/MiB'.padStart(11));
for (const [name, v] of results) {
  console.log(
    name.padEnd(48),
    median(v.map((s) => s.cpu)).toFixed(0).padStart(10),
    Math.max(...v.map((s) => s.wall)).toFixed(0).padStart(10),
    median(v.map((s) => s.wall)).toFixed(0).padStart(9),
    median(v.map((s) => s.faults)).toFixed(0).padStart(11),
  );
}

// Small objects: a new stream pair per object, where per-stream set-up and stream plumbing
// dominate. Run apart from the throughput cases (their garbage would disturb those), against
// the same plumbing with PassThrough streams.
const SMALL = 4096;
const body = source.subarray(0, SMALL);
async function collect(t: NodeJS.ReadWriteStream, b: Buffer): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([b]), t, new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
  return out;
}
const small = {
  passthrough: async () => throughStream(new PassThrough(), await collect(new PassThrough(), body)),
  format: async () => throughStream(createDecryptStream(key), await collect(createEncryptStream(key), body)),
};
const perObject: Record<string, number[]> = { passthrough: [], format: [] };
for (let r = 0; r < RUNS; r++) {
  for (const [name, f] of Object.entries(small)) {
    const n = 2000;
    const u0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await f();
    const u = process.cpuUsage(u0);
    if (r > 0) perObject[name]!.push((u.user + u.system) / n);
  }
}
const pt = median(perObject.passthrough!);
const fm = median(perObject.format!);
console.log(`\n${SMALL / 1024} KiB objects, encrypt then decrypt, new streams each: ${fm.toFixed(0)} µs CPU per object (PassThrough plumbing alone: ${pt.toFixed(0)} µs)`);
