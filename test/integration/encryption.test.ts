// Encryption at rest through the S3 API: nothing readable on disk, tampering detected,
// ranges exact at every segment boundary, SSE headers as AWS answers them, the AWS KMS
// provider against the KMS double (outage: cached reads go on, new keys 503), restarts.
import {
  CopyObjectCommand, CreateBucketCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsDouble, DOUBLE_CREDENTIALS } from '../doubles/kms-double.js';
import { sdkClient } from '../helpers/clients.js';
import { startServer, tempDir, type TestServer } from '../helpers/server.js';
import { errorCode, rawRequest } from '../helpers/sign.js';

const SEG = 64 * 1024;

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

/** Distinctive text: no 64-byte run of it is likely anywhere by chance. */
function distinctive(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let h = createHash('sha256').update(seed).digest();
  for (let i = 0; i < size; i += 16) {
    h = createHash('sha256').update(h).digest();
    out.write(h.toString('hex').slice(0, 16), i, 'latin1');
  }
  return out;
}

/**
 * True when `file` contains any 64-byte run of `plain`: every such run covers one whole
 * 32-byte block of `plain` at a multiple of 32, so those blocks are what we look for.
 */
function containsRunOf(file: Buffer, plain: Buffer): boolean {
  const blocks = new Map<string, Buffer[]>();
  for (let i = 0; i + 32 <= plain.length; i += 32) {
    const b = plain.subarray(i, i + 32);
    const k = b.subarray(0, 8).toString('latin1');
    blocks.set(k, [...(blocks.get(k) ?? []), b]);
  }
  for (let i = 0; i + 32 <= file.length; i++) {
    const cands = blocks.get(file.toString('latin1', i, i + 8));
    if (cands?.some((b) => file.subarray(i, i + 32).equals(b))) return true;
  }
  return false;
}

async function s3Error(p: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { name: e.name, status: e.$metadata.httpStatusCode };
    throw e;
  }
  throw new Error('expected an S3 error');
}

async function body(s3: S3Client, Bucket: string, Key: string, Range?: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket, Key, Range }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

describe('local keyring (the embedded default)', () => {
  let server: TestServer;
  let s3: S3Client;
  beforeAll(async () => {
    server = await startServer({ args: ['--buckets', 'enc'] });
    s3 = sdkClient(server);
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.destroy();
  });

  it('stores no 64-byte run of the plaintext anywhere under the data dir', async () => {
    const plain = distinctive(3 * SEG + 1234, 'plaintext-on-disk');
    const before = new Set(filesUnder(join(server.dataDir, 'blobs')));
    const put = await s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'secret.txt', Body: plain }));
    expect(put.ServerSideEncryption).toBe('aws:kms');
    expect(put.SSEKMSKeyId).toBeTruthy();
    expect(put.BucketKeyEnabled).toBe(true);
    const small = distinctive(100, 'small-secret');
    await s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'small.txt', Body: small }));
    const added = filesUnder(join(server.dataDir, 'blobs')).filter((f) => !before.has(f));
    expect(added).toHaveLength(2);
    // The blob is ciphertext: one 16-byte tag per 64 KiB segment more than the plaintext.
    expect(added.map((f) => statSync(f).size).sort((a, b) => a - b)).toEqual([100 + 16, plain.length + 4 * 16]);
    for (const f of filesUnder(server.dataDir)) {
      const content = readFileSync(f);
      expect(containsRunOf(content, plain), f).toBe(false);
      expect(content.includes(small.subarray(0, 64)), f).toBe(false);
    }
    // ...and the API gives the plaintext back, with a plaintext ETag and size.
    const got = await s3.send(new GetObjectCommand({ Bucket: 'enc', Key: 'secret.txt' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(plain)).toBe(true);
    expect(got.ETag).toBe(`"${createHash('md5').update(plain).digest('hex')}"`);
    expect(got.ContentLength).toBe(plain.length);
    expect(got.ServerSideEncryption).toBe('aws:kms');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'enc', Key: 'secret.txt' }));
    expect([head.ETag, head.ContentLength, head.ServerSideEncryption]).toEqual([got.ETag, plain.length, 'aws:kms']);
    const list = await s3.send(new ListObjectsV2Command({ Bucket: 'enc' }));
    const entry = list.Contents!.find((c) => c.Key === 'secret.txt')!;
    expect([entry.ETag, entry.Size]).toEqual([got.ETag, plain.length]);
  });

  it('reads every range at segment boundaries ±1 exactly, and suffix ranges', async () => {
    const size = 3 * SEG + 100;
    const plain = distinctive(size, 'ranges');
    await s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'ranges', Body: plain }));
    const points = [0, 1, SEG - 1, SEG, SEG + 1, 2 * SEG - 1, 2 * SEG, 2 * SEG + 1, 3 * SEG - 1, 3 * SEG, 3 * SEG + 1, size - 1];
    for (const a of points) {
      for (const b of points) {
        if (b < a) continue;
        expect((await body(s3, 'enc', 'ranges', `bytes=${a}-${b}`)).equals(plain.subarray(a, b + 1)), `${a}-${b}`).toBe(true);
      }
    }
    for (const n of [1, 99, 100, 101, SEG, SEG + 101, size]) {
      expect((await body(s3, 'enc', 'ranges', `bytes=-${n}`)).equals(plain.subarray(size - n)), `-${n}`).toBe(true);
    }
  });

  it('stores and reads empty and 1-byte objects', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'empty', Body: Buffer.alloc(0) }));
    await s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'one', Body: Buffer.from('x') }));
    expect((await body(s3, 'enc', 'empty')).length).toBe(0);
    expect((await body(s3, 'enc', 'one')).toString()).toBe('x');
    expect((await body(s3, 'enc', 'one', 'bytes=0-0')).toString()).toBe('x');
  });

  it('copies by re-wrapping the key: same bytes, linked blob, readable after the source is gone', async () => {
    const plain = distinctive(2 * SEG + 7, 'copy');
    await s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'copy-src', Body: plain }));
    await s3.send(new CreateBucketCommand({ Bucket: 'enc-other' }));
    const before = new Set(filesUnder(join(server.dataDir, 'blobs')));
    const c = await s3.send(new CopyObjectCommand({ Bucket: 'enc-other', Key: 'copy-dst', CopySource: 'enc/copy-src' }));
    expect(c.ServerSideEncryption).toBe('aws:kms');
    const added = filesUnder(join(server.dataDir, 'blobs')).filter((f) => !before.has(f));
    expect(added).toHaveLength(1);
    expect(statSync(added[0]!).nlink).toBe(2); // a hard link, not re-encrypted bytes
    await s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'copy-src', Body: 'replaced' }));
    expect((await body(s3, 'enc-other', 'copy-dst')).equals(plain)).toBe(true);
  });

  it('refuses SSE-C and an unknown KMS key as AWS does', async () => {
    const sseC = await s3Error(s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'c', Body: 'x', SSECustomerAlgorithm: 'AES256', SSECustomerKey: Buffer.alloc(32, 1).toString('base64'), SSECustomerKeyMD5: createHash('md5').update(Buffer.alloc(32, 1)).digest('base64') })));
    expect(sseC).toEqual({ name: 'InvalidRequest', status: 400 });
    const unknown = await s3Error(s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'k', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'no-such-key' })));
    expect(unknown).toEqual({ name: 'KMS.NotFoundException', status: 400 });
    const aes = await s3.send(new PutObjectCommand({ Bucket: 'enc', Key: 'sse-s3', Body: 'x', ServerSideEncryption: 'AES256' }));
    expect(aes.ServerSideEncryption).toBe('AES256');
  });
});

describe('tampering with stored ciphertext', () => {
  let server: TestServer;
  let s3: S3Client;
  const plain = distinctive(4 * SEG + 500, 'tamper');
  beforeAll(async () => {
    server = await startServer({ args: ['--buckets', 'tamper'] });
    s3 = sdkClient(server);
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.destroy();
  });

  async function putFresh(key: string): Promise<string> {
    const before = new Set(filesUnder(join(server.dataDir, 'blobs')));
    await s3.send(new PutObjectCommand({ Bucket: 'tamper', Key: key, Body: plain }));
    const [blob] = filesUnder(join(server.dataDir, 'blobs')).filter((f) => !before.has(f));
    return blob!;
  }

  /** What a client sees: the status and code before the headers, or a body cut short after. */
  async function outcome(key: string, range?: string): Promise<string> {
    const u = new URL(server.s3);
    const { signer } = await import('../helpers/sign.js');
    const headers: Record<string, string> = { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
    if (range) headers.range = range;
    const req = await signer(server.accessKey, server.secretKey).sign({ method: 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: `/tamper/${key}`, headers });
    try {
      const r = await rawRequest(server.s3, 'GET', `/tamper/${key}`, req.headers as Record<string, string>);
      if (r.status >= 400) return `${r.status} ${errorCode(r.body)}`;
      return `${r.status} ${Buffer.byteLength(r.body, 'latin1')} bytes`;
    } catch (e) {
      return `cut: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
  }

  const SEGC = SEG + 16; // a ciphertext segment: data + tag

  it('a flipped bit in the first segment: 500 InternalError before any byte', async () => {
    const f = await putFresh('flip-first');
    const b = readFileSync(f);
    b[10] ^= 1;
    writeFileSync(f, b);
    expect(await outcome('flip-first')).toBe('500 InternalError');
    expect(await outcome('flip-first', 'bytes=0-99')).toBe('500 InternalError');
    // Segments the range does not touch are not read, so a later range still succeeds.
    expect(await outcome('flip-first', `bytes=${2 * SEG}-${2 * SEG + 9}`)).toBe('206 10 bytes');
  });

  it('a flipped bit in a later segment: the body is cut short, never wrong bytes', async () => {
    const f = await putFresh('flip-later');
    const b = readFileSync(f);
    b[3 * SEGC + 5] ^= 1;
    writeFileSync(f, b);
    expect(await outcome('flip-later')).toMatch(/^cut: |^200 (\d+) bytes$/);
    const o = await outcome('flip-later');
    if (o.startsWith('200')) expect(Number(o.split(' ')[1])).toBeLessThan(plain.length);
    expect(await outcome('flip-later', `bytes=${3 * SEG}-${3 * SEG + 10}`)).toBe('500 InternalError');
  });

  it('swapped segments: refused', async () => {
    const f = await putFresh('swap');
    const b = readFileSync(f);
    const s0 = Buffer.from(b.subarray(0, SEGC));
    b.copy(b, 0, SEGC, 2 * SEGC);
    s0.copy(b, SEGC);
    writeFileSync(f, b);
    expect(await outcome('swap')).toBe('500 InternalError');
    expect(await outcome('swap', `bytes=${SEG}-${SEG + 5}`)).toBe('500 InternalError');
  });

  it('truncated (last segment dropped) and extended (a segment appended): refused', async () => {
    const t = await putFresh('trunc');
    const tb = readFileSync(t);
    writeFileSync(t, tb.subarray(0, 4 * SEGC));
    expect(await outcome('trunc', `bytes=${4 * SEG}-${4 * SEG + 10}`)).toBe('500 InternalError');
    expect(await outcome('trunc', 'bytes=-10')).toBe('500 InternalError');
    const x = await putFresh('extend');
    const xb = readFileSync(x);
    writeFileSync(x, Buffer.concat([xb, xb.subarray(0, SEGC)]));
    expect(await outcome('extend', 'bytes=-10')).toBe('500 InternalError');
  });

  it('counts integrity failures in the metrics', async () => {
    const m = await (await fetch(`${server.metrics}/metrics`)).text();
    const total = [...m.matchAll(/^akko_integrity_failures_total\{[^}]*\} (\d+)/gm)].reduce((n, x) => n + Number(x[1]), 0);
    expect(total).toBeGreaterThanOrEqual(6);
  });
});

describe('aws provider against the KMS double', () => {
  let kms: KmsDouble;
  let server: TestServer;
  let s3: S3Client;
  let arn: string;
  beforeAll(async () => {
    kms = await KmsDouble.start({ region: 'us-east-1' });
    arn = kms.createKey({ alias: 'alias/akko' }).arn;
    server = await startServer({
      args: ['--buckets', 'kms-a', '--kms-provider', 'aws', '--kms-endpoint', kms.endpoint, '--kms-key-id', arn],
      env: { AWS_ACCESS_KEY_ID: DOUBLE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: DOUBLE_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' },
    });
    s3 = sdkClient(server);
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.destroy();
    await kms?.close();
  });

  it('makes one GenerateDataKey for many objects, and none for HEAD and LIST', async () => {
    kms.resetCalls();
    for (let i = 0; i < 50; i++) await s3.send(new PutObjectCommand({ Bucket: 'kms-a', Key: `o${i}`, Body: `body ${i}` }));
    expect(kms.calls.GenerateDataKey).toBe(1);
    const put = await s3.send(new HeadObjectCommand({ Bucket: 'kms-a', Key: 'o1' }));
    expect(put.SSEKMSKeyId).toBe(arn);
    kms.resetCalls();
    for (let i = 0; i < 20; i++) await s3.send(new HeadObjectCommand({ Bucket: 'kms-a', Key: `o${i}` }));
    await s3.send(new ListObjectsV2Command({ Bucket: 'kms-a' }));
    expect(kms.totalCalls()).toBe(0);
    expect((await body(s3, 'kms-a', 'o7')).toString()).toBe('body 7');
  });

  it('during an outage: cached reads go on, writes needing a new bucket key get 503, nothing is stored', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'kms-b' }));
    await kms.refuseConnections();
    try {
      expect((await body(s3, 'kms-a', 'o3')).toString()).toBe('body 3');
      // The bucket key of kms-a is cached and within its limits: writes there go on.
      await s3.send(new PutObjectCommand({ Bucket: 'kms-a', Key: 'during', Body: 'still fine' }));
      const blobsBefore = filesUnder(join(server.dataDir, 'blobs')).length;
      const u = new URL(server.s3);
      const { signer } = await import('../helpers/sign.js');
      const headers = { host: u.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': '9' };
      const req = await signer(server.accessKey, server.secretKey).sign({ method: 'PUT', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/kms-b/new', headers });
      const r = await rawRequest(server.s3, 'PUT', '/kms-b/new', req.headers as Record<string, string>, 'plaintext');
      expect([r.status, errorCode(r.body)]).toEqual([503, 'ServiceUnavailable']);
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(filesUnder(join(server.dataDir, 'blobs')).length).toBe(blobsBefore);
      expect(await s3Error(s3.send(new HeadObjectCommand({ Bucket: 'kms-b', Key: 'new' })))).toMatchObject({ status: 404 });
      const lines = server.stderr.filter((l) => l.includes('kms') || l.includes('KMS'));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.join('\n')).not.toContain(server.secretKey);
    } finally {
      await kms.acceptConnections();
    }
    // Negative caching may hold the failure a few seconds; then writes succeed again.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await s3.send(new PutObjectCommand({ Bucket: 'kms-b', Key: 'after', Body: 'back' }));
        break;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await new Promise((res) => setTimeout(res, 500));
      }
    }
    expect((await body(s3, 'kms-b', 'after')).toString()).toBe('back');
  });

  it('a disabled key is refused as AWS refuses it', async () => {
    const other = kms.createKey();
    kms.setKeyState(other.keyId, 'Disabled');
    const r = await s3Error(s3.send(new PutObjectCommand({ Bucket: 'kms-a', Key: 'd', Body: 'x', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: other.arn })));
    expect(r).toEqual({ name: 'KMS.DisabledException', status: 400 });
  });
});

describe('restarts', () => {
  it('reads back after a restart, and refuses to start without the keyring its objects need', async () => {
    const dataDir = tempDir('akko-enc-restart-');
    let server = await startServer({ dataDir, args: ['--buckets', 'r'] });
    let s3 = sdkClient(server);
    const plain = distinctive(SEG + 3, 'restart');
    await s3.send(new PutObjectCommand({ Bucket: 'r', Key: 'k', Body: plain }));
    s3.destroy();
    await server.stop();
    server = await startServer({ dataDir, args: ['--buckets', 'r'] });
    s3 = sdkClient(server);
    expect((await body(s3, 'r', 'k')).equals(plain)).toBe(true);
    s3.destroy();
    await server.stop();
    const keyring = join(dataDir, 'kms-keyring.json');
    expect(statSync(keyring).mode & 0o777).toBe(0o600);
    renameSync(keyring, keyring + '.moved');
    await expect(startServer({ dataDir, args: ['--buckets', 'r'] })).rejects.toThrow(/kms-keyring\.json/);
    expect(existsSync(keyring)).toBe(false); // no replacement keyring was made
    renameSync(keyring + '.moved', keyring);
    server = await startServer({ dataDir, args: ['--buckets', 'r'] });
    s3 = sdkClient(server);
    expect((await body(s3, 'r', 'k')).equals(plain)).toBe(true);
    s3.destroy();
    await server.destroy();
  });
});

describe('bucket default encryption', () => {
  let server: TestServer;
  let s3: S3Client;
  beforeAll(async () => {
    server = await startServer({ args: ['--buckets', 'plain-default,kms-default', '--encryption', 'off'] });
    s3 = sdkClient(server);
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.destroy();
  });

  it('with encryption off, objects are plaintext unless the request or the bucket asks', async () => {
    const { GetBucketEncryptionCommand, PutBucketEncryptionCommand, DeleteBucketEncryptionCommand } = await import('@aws-sdk/client-s3');
    expect(await s3Error(s3.send(new GetBucketEncryptionCommand({ Bucket: 'plain-default' })))).toEqual({ name: 'ServerSideEncryptionConfigurationNotFoundError', status: 404 });
    const plain = await s3.send(new PutObjectCommand({ Bucket: 'plain-default', Key: 'p', Body: 'plaintext' }));
    expect(plain.ServerSideEncryption).toBeUndefined();
    const asked = await s3.send(new PutObjectCommand({ Bucket: 'plain-default', Key: 'asked', Body: 'x', ServerSideEncryption: 'aws:kms' }));
    expect(asked.ServerSideEncryption).toBe('aws:kms');
    await s3.send(new PutBucketEncryptionCommand({ Bucket: 'kms-default', ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }] } }));
    const got = await s3.send(new GetBucketEncryptionCommand({ Bucket: 'kms-default' }));
    expect(got.ServerSideEncryptionConfiguration!.Rules![0]!.ApplyServerSideEncryptionByDefault!.SSEAlgorithm).toBe('aws:kms');
    expect(got.ServerSideEncryptionConfiguration!.Rules![0]!.BucketKeyEnabled).toBe(true);
    const byBucket = await s3.send(new PutObjectCommand({ Bucket: 'kms-default', Key: 'k', Body: 'by bucket default' }));
    expect(byBucket.ServerSideEncryption).toBe('aws:kms');
    expect((await body(s3, 'kms-default', 'k')).toString()).toBe('by bucket default');
    const badKey = await s3Error(s3.send(new PutBucketEncryptionCommand({ Bucket: 'kms-default', ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: 'nope' } }] } })));
    expect(badKey).toEqual({ name: 'KMS.NotFoundException', status: 400 });
    await s3.send(new DeleteBucketEncryptionCommand({ Bucket: 'kms-default' }));
    const after = await s3.send(new PutObjectCommand({ Bucket: 'kms-default', Key: 'k2', Body: 'x' }));
    expect(after.ServerSideEncryption).toBeUndefined();
  });
});

describe('encrypted multipart objects', () => {
  let server: TestServer;
  let s3: S3Client;
  beforeAll(async () => {
    server = await startServer({ args: ['--buckets', 'encmp'] });
    s3 = sdkClient(server);
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.destroy();
  });

  it('reads exactly across parts whose sizes are not multiples of the segment size', async () => {
    const { CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand } = await import('@aws-sdk/client-s3');
    const sizes = [5 * 1024 * 1024 + 1000, 5 * 1024 * 1024 + 3, 777];
    const parts = sizes.map((n, i) => distinctive(n, `part-${i}`));
    const whole = Buffer.concat(parts);
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'encmp', Key: 'mp' }));
    const done = [];
    for (let i = 0; i < parts.length; i++) {
      const r = await s3.send(new UploadPartCommand({ Bucket: 'encmp', Key: 'mp', UploadId, PartNumber: i + 1, Body: parts[i] }));
      expect(r.ServerSideEncryption).toBe('aws:kms');
      done.push({ PartNumber: i + 1, ETag: r.ETag });
    }
    const c = await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'encmp', Key: 'mp', UploadId, MultipartUpload: { Parts: done } }));
    expect(c.ServerSideEncryption).toBe('aws:kms');
    expect((await body(s3, 'encmp', 'mp')).equals(whole)).toBe(true);
    const b1 = sizes[0]!;
    const b2 = sizes[0]! + sizes[1]!;
    for (const [a, z] of [[b1 - 1, b1], [b1 - SEG, b1 + SEG], [b2 - 1, b2 + 5], [0, whole.length - 1], [b1, b2 - 1], [SEG - 1, SEG]]) {
      expect((await body(s3, 'encmp', 'mp', `bytes=${a}-${z}`)).equals(whole.subarray(a!, z! + 1)), `${a}-${z}`).toBe(true);
    }
    expect((await body(s3, 'encmp', 'mp', 'bytes=-800')).equals(whole.subarray(whole.length - 800))).toBe(true);
    for (const f of filesUnder(join(server.dataDir, 'blobs'))) {
      const content = readFileSync(f);
      expect(content.includes(parts[2]!.subarray(0, 64)), f).toBe(false);
      expect(content.includes(parts[0]!.subarray(SEG, SEG + 64)), f).toBe(false);
    }
  });
});
