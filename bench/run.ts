// `npm run bench`: PUT/GET of large and small objects, ranged GETs and a 100k-key listing
// against real servers (encryption off and on, side by side in one run), with two clients
// (a lean HTTP client and @aws-sdk/client-s3). Prints MiB/s, ops/s, p50/p99, the servers'
// peak RSS and the on/off ratios. Sizes scale with AKKO_BENCH_SCALE (default 1).
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { LeanClient } from './lean-client.js';

const SCALE = Number(process.env.AKKO_BENCH_SCALE ?? 1);
/** Size of the streamed PUT/GET that shows the server's memory stays flat (5 for the 5 GiB). */
const HUGE_GIB = Number(process.env.AKKO_BENCH_HUGE_GIB ?? 1);
const rss: string[] = [];
const AK = 'AKIABENCH0000000001';
const SK = 'bench-secret-0123456789abcdefghijklmnop';
const BIN = resolve(import.meta.dirname, '../../bin/akko-storage.js');

interface Server { name: string; url: string; metrics: string; child: ChildProcess; dataDir: string }

/** The sum of a counter over all its label sets, from the server's own /metrics. */
async function counter(s: Server, name: string): Promise<number> {
  const text = await (await fetch(`${s.metrics}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) total += Number(m[1]);
  return total;
}

async function startServer(name: string, args: string[]): Promise<Server> {
  const dataDir = mkdtempSync(join(tmpdir(), `akko-bench-${name}-`));
  const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--s3-port', '0', '--admin-port', '0', '--metrics-port', '0', '--buckets', 'bench', ...args], {
    env: { ...process.env, AKKO_S3_ACCESS_KEY: AK, AKKO_S3_SECRET_KEY: SK },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [url, metrics] = await new Promise<[string, string]>((res, rej) => {
    child.once('exit', (c) => rej(new Error(`${name} exited ${c}`)));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const m = /^akko-storage ready s3=(\S+) admin=\S+ metrics=(\S+)/.exec(l);
      if (m) res([m[1]!, m[2]!]);
    });
  });
  return { name, url, metrics, child, dataDir };
}

function peakRssMiB(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Samples the server's RSS while `f` runs: a streaming server stays flat whatever the size. */
async function watchRss<T>(pid: number, f: () => Promise<T>): Promise<{ result: T; baseline: number; peak: number }> {
  const baseline = rssMiB(pid);
  let peak = baseline;
  const timer = setInterval(() => { peak = Math.max(peak, rssMiB(pid)); }, 50);
  try {
    return { result: await f(), baseline, peak };
  } finally {
    clearInterval(timer);
  }
}

/** `size` bytes of a repeating pattern, generated as it is sent: the client holds none of it. */
function patternStream(size: number): Readable {
  const block = randomBytes(1024 * 1024);
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(block.length, size - sent);
      sent += n;
      this.push(n === block.length ? block : block.subarray(0, n));
    },
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Result { ops: number; bytes: number; seconds: number; p50: number; p99: number }

async function run(n: number, concurrency: number, op: (i: number) => Promise<number>): Promise<Result> {
  const lat: number[] = [];
  let next = 0;
  let bytes = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      const i = next++;
      const s = performance.now();
      const n = await op(i); // not `bytes += await`: that reads `bytes` before the await
      bytes += n;
      lat.push(performance.now() - s);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { ops: n, bytes, seconds, p50: pct(lat, 50), p99: pct(lat, 99) };
}

function fmt(r: Result): string {
  return `${(r.bytes / 1048576 / r.seconds).toFixed(1).padStart(8)} MiB/s ${(r.ops / r.seconds).toFixed(0).padStart(7)} ops/s  p50 ${r.p50.toFixed(1).padStart(7)} ms  p99 ${r.p99.toFixed(1).padStart(7)} ms`;
}

async function scenarios(s: Server): Promise<Map<string, Result>> {
  const lean = new LeanClient(s.url, AK, SK);
  const sdk = new S3Client({ endpoint: s.url, region: 'akko-local', forcePathStyle: true, credentials: { accessKeyId: AK, secretAccessKey: SK } });
  const out = new Map<string, Result>();
  const large = randomBytes(Math.round(64 * 1048576 * SCALE));
  const small = randomBytes(4096);
  const nLarge = 6;
  const nSmall = Math.round(2000 * SCALE);
  const check = (status: number, what: string) => { if (status >= 300) throw new Error(`${what} answered ${status}`); };

  const huge = Math.round(HUGE_GIB * 1024 ** 3);
  const hugePut = await watchRss(s.child.pid!, () => run(1, 1, async () => {
    const r = await lean.send('PUT', '/bench/huge', { body: patternStream(huge), headers: { 'content-length': String(huge) } });
    check(r.status, 'huge PUT');
    return huge;
  }));
  out.set(`lean PUT ${HUGE_GIB} GiB streamed`, hugePut.result);
  rss.push(`${s.name}: ${HUGE_GIB} GiB PUT: server RSS ${hugePut.baseline.toFixed(0)} -> peak ${hugePut.peak.toFixed(0)} MiB`);
  const hugeGet = await watchRss(s.child.pid!, () => run(1, 1, async () => {
    const r = await lean.send('GET', '/bench/huge');
    check(r.status, 'huge GET');
    if (r.bytes !== huge) throw new Error(`huge GET returned ${r.bytes} of ${huge} bytes`);
    return r.bytes;
  }));
  out.set(`lean GET ${HUGE_GIB} GiB streamed`, hugeGet.result);
  rss.push(`${s.name}: ${HUGE_GIB} GiB GET: server RSS ${hugeGet.baseline.toFixed(0)} -> peak ${hugeGet.peak.toFixed(0)} MiB`);
  await lean.send('DELETE', '/bench/huge');

  out.set('lean PUT 64MiB x6 (c=2)', await run(nLarge, 2, async (i) => { const r = await s3put(lean, `large/${i}`, large); check(r, 'PUT'); return large.length; }));
  out.set('lean GET 64MiB x6 (c=2)', await run(nLarge, 2, async (i) => { const r = await lean.send('GET', `/bench/large/${i}`); check(r.status, 'GET'); return r.bytes; }));
  out.set('sdk  PUT 64MiB x6 (c=2)', await run(nLarge, 2, async (i) => { await sdk.send(new PutObjectCommand({ Bucket: 'bench', Key: `sdk-large/${i}`, Body: large })); return large.length; }));
  out.set('sdk  GET 64MiB x6 (c=2)', await run(nLarge, 2, async (i) => { const r = await sdk.send(new GetObjectCommand({ Bucket: 'bench', Key: `sdk-large/${i}` })); let n = 0; for await (const c of r.Body as AsyncIterable<Buffer>) n += c.length; return n; }));
  out.set(`lean PUT 4KiB x${nSmall} (c=32)`, await run(nSmall, 32, async (i) => { check(await s3put(lean, `small/${i}`, small), 'PUT'); return small.length; }));
  out.set(`lean GET 4KiB x${nSmall} (c=32)`, await run(nSmall, 32, async (i) => { const r = await lean.send('GET', `/bench/small/${i}`); check(r.status, 'GET'); return r.bytes; }));
  out.set(`sdk  PUT 4KiB x${nSmall} (c=32)`, await run(nSmall, 32, async (i) => { await sdk.send(new PutObjectCommand({ Bucket: 'bench', Key: `sdk-small/${i}`, Body: small })); return small.length; }));
  out.set(`sdk  GET 4KiB x${nSmall} (c=32)`, await run(nSmall, 32, async (i) => { const r = await sdk.send(new GetObjectCommand({ Bucket: 'bench', Key: `sdk-small/${i}` })); return (await r.Body!.transformToByteArray()).length; }));
  out.set('lean ranged GET 1MiB x500 (c=8)', await run(500, 8, async () => {
    const start = Math.floor(Math.random() * (large.length - 1048576));
    const r = await lean.send('GET', '/bench/large/0', { headers: { range: `bytes=${start}-${start + 1048575}` } });
    check(r.status, 'range GET');
    return r.bytes;
  }));
  out.set('lean ranged GET footer -16KiB x500 (c=8)', await run(500, 8, async () => {
    const r = await lean.send('GET', '/bench/large/1', { headers: { range: 'bytes=-16384' } });
    check(r.status, 'suffix GET');
    return r.bytes;
  }));
  // The KMS sees one call per bucket key, not one per object (DESIGN §5): a fresh bucket
  // needs exactly one GenerateDataKey for its 10,000 objects.
  check((await lean.send('PUT', '/bench-kms')).status, 'CreateBucket');
  const kmsBefore = await counter(s, 'akko_kms_calls_total');
  const tiny = randomBytes(1024);
  out.set('lean PUT 1KiB x10000 (c=32)', await run(10_000, 32, async (i) => { check((await lean.send('PUT', `/bench-kms/${i}`, { body: tiny })).status, 'PUT'); return tiny.length; }));
  kmsCalls.set(s.name, (await counter(s, 'akko_kms_calls_total')) - kmsBefore);
  const nKeys = Math.round(100_000 * SCALE);
  await run(nKeys, 64, async (i) => { check(await s3put(lean, `list/${String(i % 100).padStart(3, '0')}/${i}`, Buffer.alloc(0)), 'PUT'); return 0; });
  let listed = 0;
  out.set(`lean LIST ${nKeys} keys (pages of 1000)`, await run(1, 1, async () => {
    let token: string | undefined;
    do {
      const q: Record<string, string> = { 'list-type': '2', prefix: 'list/' };
      if (token) q['continuation-token'] = token;
      const r = await lean.send('GET', '/bench', { query: q, keepBody: true });
      const body = r.body!.toString();
      listed += (body.match(/<Key>/g) ?? []).length;
      token = /<NextContinuationToken>([^<]+)</.exec(body)?.[1];
    } while (token);
    return 0;
  }));
  const sdkList = await run(1, 1, async () => {
    let token: string | undefined;
    let n = 0;
    do {
      const r = await sdk.send(new ListObjectsV2Command({ Bucket: 'bench', Prefix: 'list/', ContinuationToken: token }));
      n += r.KeyCount ?? 0;
      token = r.NextContinuationToken;
    } while (token);
    if (n !== nKeys) throw new Error(`sdk listed ${n} of ${nKeys}`);
    return 0;
  });
  out.set(`sdk  LIST ${nKeys} keys (pages of 1000)`, sdkList);
  if (listed !== nKeys) throw new Error(`listed ${listed} of ${nKeys}`);
  out.set('delimiter LIST of 100 prefixes', await run(200, 4, async () => {
    const r = await lean.send('GET', '/bench', { query: { 'list-type': '2', prefix: 'list/', delimiter: '/' } });
    check(r.status, 'LIST');
    return 0;
  }));
  lean.destroy();
  sdk.destroy();
  return out;
}

async function s3put(c: LeanClient, key: string, body: Buffer): Promise<number> {
  return (await c.send('PUT', `/bench/${key}`, { body })).status;
}

/**
 * Issue #3's big transfer: boto3 (Debian's) uploads a generated file with multipart and
 * downloads it with parallel ranged GETs; both files must hash the same while the server's
 * RSS stays flat. AKKO_BENCH_BOTO3_GIB=5 for the full 5 GiB (needs that much free disk twice).
 */
async function boto3Transfer(s: Server): Promise<string> {
  const gib = Number(process.env.AKKO_BENCH_BOTO3_GIB ?? 1);
  if (gib <= 0 || !existsSync('/usr/bin/python3')) return 'boto3 transfer: skipped';
  const dir = mkdtempSync(join(tmpdir(), 'akko-bench-boto3-'));
  const script = `
import boto3, hashlib, os, sys, time
from boto3.s3.transfer import TransferConfig
src, dst, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
block = os.urandom(64 * 1024 * 1024)
with open(src, 'wb') as f:
    left = size
    while left > 0:
        n = min(left, len(block)); f.write(block[:n]); left -= n
def sha(p):
    h = hashlib.sha256()
    with open(p, 'rb') as f:
        for chunk in iter(lambda: f.read(8 * 1024 * 1024), b''): h.update(chunk)
    return h.hexdigest()
s3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], region_name='us-east-1')
cfg = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024, max_concurrency=4)
t = time.time(); s3.upload_file(src, 'bench', 'boto3-huge', Config=cfg); up = time.time() - t
t = time.time(); s3.download_file('bench', 'boto3-huge', dst, Config=cfg); down = time.time() - t
same = sha(src) == sha(dst)
print(f"{size / 2**20 / up:.1f} {size / 2**20 / down:.1f} {'identical' if same else 'DIFFERENT'}")
`;
  try {
    const size = Math.round(gib * 1024 ** 3);
    const watched = await watchRss(s.child.pid!, () => new Promise<string>((res, rej) => {
      const child = spawn('/usr/bin/python3', ['-c', script, join(dir, 'src'), join(dir, 'dst'), String(size)], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ENDPOINT: s.url, AWS_ACCESS_KEY_ID: AK, AWS_SECRET_ACCESS_KEY: SK, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.on('exit', (code) => (code === 0 ? res(out.trim()) : rej(new Error(`boto3 transfer exited ${code}`))));
    }));
    const [up, down, verdict] = watched.result.split(' ');
    if (verdict !== 'identical') throw new Error('boto3 download differs from the upload');
    return `${s.name}: boto3 ${gib} GiB multipart upload ${up} MiB/s, parallel ranged download ${down} MiB/s, ${verdict}; server RSS ${watched.baseline.toFixed(0)} -> peak ${watched.peak.toFixed(0)} MiB`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kmsCalls = new Map<string, number>();
const configs: [string, string[]][] = [['enc-off', ['--encryption', 'off']], ['enc-on', ['--encryption', 'on']]];
const servers: Server[] = [];
try {
  const results = new Map<string, Map<string, Result>>();
  for (const [name, args] of configs) {
    const s = await startServer(name, args);
    servers.push(s);
    results.set(name, await scenarios(s));
    rss.push(await boto3Transfer(s));
    console.log(`\n== ${name}: peak server RSS ${peakRssMiB(s.child.pid!).toFixed(0)} MiB; KMS calls during 10,000 PUTs: ${kmsCalls.get(name)}`);
    for (const [label, r] of results.get(name)!) console.log(`${label.padEnd(42)} ${fmt(r)}`);
  }
  console.log('\n== memory while streaming');
  for (const line of rss) console.log(line);
  console.log('\n== on/off ratio of time (1.00 = encryption costs nothing)');
  for (const [label, off] of results.get('enc-off')!) {
    const on = results.get('enc-on')!.get(label)!;
    console.log(`${label.padEnd(42)} ${(on.seconds / off.seconds).toFixed(2)}`);
  }
} finally {
  for (const s of servers) {
    s.child.kill('SIGTERM');
    rmSync(s.dataDir, { recursive: true, force: true });
  }
}
