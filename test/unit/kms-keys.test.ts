// The key hierarchy (Encryption façade) over the local keyring: bucket-key reuse and bounds,
// single-flight generation, object-key binding, copy re-wrap, restart, KMS outage behaviour.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IntegrityError, KmsKeyDisabledError, KmsKeyInvalidStateError, KmsKeyNotFoundError, KmsUnavailableError, s3ErrorFor } from '../../kms/errors.js';
import { Encryption, MemoryBucketKeyRecords, type EncryptionOptions } from '../../kms/keys.js';
import { LocalKmsProvider } from '../../kms/providers/local.js';
import type { DataKey, EncryptionContext, KeyDescription, KmsProvider } from '../../kms/types.js';
import { registry } from '../../src/metrics.js';

/** Counts calls into a real provider, can be "down" (a network error) and can be slowed. */
class CountingKms implements KmsProvider {
  readonly name: 'local' | 'aws';
  calls = { generateDataKey: 0, decrypt: 0, describeKey: 0, reEncrypt: 0 };
  down = false;
  delayMs = 0;
  state: KeyDescription['state'] = 'Enabled';
  constructor(readonly inner: LocalKmsProvider) {
    this.name = inner.name;
  }
  private async gate(): Promise<void> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.down) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
  }
  defaultKeyId(): string {
    return this.inner.defaultKeyId();
  }
  async generateDataKey(keyId: string, ctx: EncryptionContext): Promise<DataKey> {
    this.calls.generateDataKey++;
    await this.gate();
    return this.inner.generateDataKey(keyId, ctx);
  }
  async decrypt(blob: Buffer, ctx: EncryptionContext, keyId?: string) {
    this.calls.decrypt++;
    await this.gate();
    return this.inner.decrypt(blob, ctx, keyId);
  }
  async reEncrypt(blob: Buffer, ctx: EncryptionContext, dest: string, src?: string) {
    this.calls.reEncrypt++;
    await this.gate();
    return this.inner.reEncrypt(blob, ctx, dest, src);
  }
  async describeKey(keyId: string): Promise<KeyDescription> {
    this.calls.describeKey++;
    await this.gate();
    return { ...(await this.inner.describeKey(keyId)), state: this.state };
  }
}

let dir: string;
let kms: CountingKms;
let records: MemoryBucketKeyRecords;
let logs: string[];
let now: number;
const open: Encryption[] = [];

function make(over: Partial<EncryptionOptions> = {}): Encryption {
  const e = Encryption.create({ provider: kms, records, log: (l) => logs.push(l), now: () => now, cache: { sweepIntervalMs: 0 }, ...over });
  open.push(e);
  return e;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'akko-kms-keys-'));
  kms = new CountingKms(await LocalKmsProvider.open({ dataDir: dir }));
  records = new MemoryBucketKeyRecords();
  logs = [];
  now = 1_700_000_000_000;
});
afterEach(() => {
  open.splice(0).forEach((e) => e.close());
  rmSync(dir, { recursive: true, force: true });
});

const SSE = { sse: 'aws:kms' as const };

describe('bucket keys', () => {
  it('10,000 objects cost exactly one GenerateDataKey', async () => {
    const enc = make();
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const { envelope, objectKey } = await enc.sealObject('b', `k${i}`, 'v1', SSE);
      ids.add(envelope.bucketKeyId);
      objectKey.fill(0);
    }
    expect(kms.calls.generateDataKey).toBe(1);
    expect(kms.calls.decrypt).toBe(0);
    expect(ids.size).toBe(1);
    const [rec] = [...records.list('b')];
    expect(rec).toMatchObject({ bucket: 'b', provider: 'local', kmsKeyId: 'akko-default', keyVersion: 'v1', encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::b' }, maxAgeMs: 24 * 3600_000, maxObjects: 100_000, objects: 10_000 });
  });

  it('100 concurrent first writes share one GenerateDataKey', async () => {
    kms.delayMs = 20;
    const enc = make();
    const out = await Promise.all(Array.from({ length: 100 }, (_, i) => enc.sealObject('b', `k${i}`, 'v', SSE)));
    expect(kms.calls.generateDataKey).toBe(1);
    expect(new Set(out.map((o) => o.envelope.bucketKeyId)).size).toBe(1);
    expect(records.map.size).toBe(1);
  });

  it('separate buckets and separate KMS keys get separate bucket keys', async () => {
    await kms.inner.createKey('other');
    const enc = make();
    const a = await enc.sealObject('a', 'k', 'v', SSE);
    const b = await enc.sealObject('b', 'k', 'v', SSE);
    const c = await enc.sealObject('a', 'k', 'v', { sse: 'aws:kms', kmsKeyId: 'other' });
    expect(new Set([a, b, c].map((x) => x.envelope.bucketKeyId)).size).toBe(3);
    expect(c.envelope.kmsKeyId).toBe('other');
    expect(kms.calls.generateDataKey).toBe(3);
  });

  it('a bucket key serves at most maxObjects objects, even concurrently', async () => {
    const enc = make({ bucketKeyMaxObjects: 5, checkpointEvery: 2 });
    const seals = await Promise.all(Array.from({ length: 23 }, (_, i) => enc.sealObject('b', `k${i}`, 'v', SSE)));
    const per = new Map<string, number>();
    for (const s of seals) per.set(s.envelope.bucketKeyId, (per.get(s.envelope.bucketKeyId) ?? 0) + 1);
    expect(Math.max(...per.values())).toBeLessThanOrEqual(5);
    expect(kms.calls.generateDataKey).toBe(5);
  });

  it('a bucket key is replaced after maxAge', async () => {
    const enc = make({ bucketKeyMaxAgeMs: 1000 });
    const a = await enc.sealObject('b', 'k1', 'v', SSE);
    now += 999;
    const b = await enc.sealObject('b', 'k2', 'v', SSE);
    now += 2;
    const c = await enc.sealObject('b', 'k3', 'v', SSE);
    expect(a.envelope.bucketKeyId).toBe(b.envelope.bucketKeyId);
    expect(c.envelope.bucketKeyId).not.toBe(a.envelope.bucketKeyId);
    expect(kms.calls.generateDataKey).toBe(2);
  });

  it('after a restart the stored bucket key is reused (one Decrypt, no GenerateDataKey)', async () => {
    const first = make({ checkpointEvery: 10 });
    for (let i = 0; i < 25; i++) await first.sealObject('b', `k${i}`, 'v', SSE);
    first.close();
    const second = make({ checkpointEvery: 10 });
    const s = await second.sealObject('b', 'x', 'v', SSE);
    expect(s.envelope.bucketKeyId).toBe([...records.list()][0]!.id);
    expect(kms.calls.generateDataKey).toBe(1);
    expect(kms.calls.decrypt).toBe(1);
  });

  it('after a restart the object count is assumed a checkpoint ahead, so maxObjects holds', async () => {
    const first = make({ checkpointEvery: 10, bucketKeyMaxObjects: 30 });
    for (let i = 0; i < 15; i++) await first.sealObject('b', `k${i}`, 'v', SSE); // checkpoint at 10
    first.close();
    const second = make({ checkpointEvery: 10, bucketKeyMaxObjects: 30 });
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push((await second.sealObject('b', `x${i}`, 'v', SSE)).envelope.bucketKeyId);
    // restored at 10 + 10 = 20 uses: 10 more fit, then a new key
    expect(ids.filter((id) => id === ids[0]).length).toBe(10);
    expect(kms.calls.generateDataKey).toBe(2);
  });

  it('retireBucketKeys makes the next write use a new bucket key', async () => {
    const enc = make();
    const a = await enc.sealObject('b', 'k', 'v', SSE);
    expect(await enc.retireBucketKeys('b')).toBe(1);
    const b = await enc.sealObject('b', 'k', 'v', SSE);
    expect(b.envelope.bucketKeyId).not.toBe(a.envelope.bucketKeyId);
    const again = make();
    expect((await again.sealObject('b', 'k2', 'v', SSE)).envelope.bucketKeyId).toBe(b.envelope.bucketKeyId);
  });
});

describe('object keys', () => {
  it('open returns the sealed key; envelopes are JSON and hold no plaintext key', async () => {
    const enc = make();
    const { envelope, objectKey } = await enc.sealObject('b', 'dir/obj', 'ver-1', { sse: 'AES256' });
    const json = JSON.parse(JSON.stringify(envelope));
    expect(json).toMatchObject({ v: 1, alg: 'AES256GCM-SEG', segmentSize: 65536, kmsKeyId: 'akko-default', sse: 'AES256', bucketKeyEnabled: true });
    expect(JSON.stringify(envelope)).not.toContain(objectKey.toString('base64'));
    expect((await enc.openObject('b', 'dir/obj', 'ver-1', json)).equals(objectKey)).toBe(true);
  });

  it('every object gets a fresh key', async () => {
    const enc = make();
    const keys = new Set<string>();
    for (let i = 0; i < 50; i++) keys.add((await enc.sealObject('b', 'same', 'v', SSE)).objectKey.toString('hex'));
    expect(keys.size).toBe(50);
  });

  it('an envelope does not open for another bucket, key name or upload id', async () => {
    const enc = make();
    await enc.sealObject('c', 'x', 'v', SSE);
    const { envelope } = await enc.sealObject('b', 'a/b', 'u1', SSE);
    await expect(enc.openObject('b', 'a/b', 'u2', envelope)).rejects.toBeInstanceOf(IntegrityError);
    await expect(enc.openObject('b', 'a/c', 'u1', envelope)).rejects.toBeInstanceOf(IntegrityError);
    await expect(enc.openObject('c', 'a/b', 'u1', envelope)).rejects.toBeInstanceOf(IntegrityError);
    // length-prefixed AAD: moving bytes between fields is not the same binding
    await expect(enc.openObject('b', 'a/bu', '1', envelope)).rejects.toBeInstanceOf(IntegrityError);
    await expect(enc.openObject('b', 'a/b', 'u1', envelope)).resolves.toBeInstanceOf(Buffer);
  });

  it('tampered or unknown envelopes are IntegrityError', async () => {
    const enc = make();
    const { envelope } = await enc.sealObject('b', 'k', 'v', SSE);
    const w = Buffer.from(envelope.wrappedKey, 'base64');
    w[3]! ^= 0x80;
    await expect(enc.openObject('b', 'k', 'v', { ...envelope, wrappedKey: w.toString('base64') })).rejects.toBeInstanceOf(IntegrityError);
    await expect(enc.openObject('b', 'k', 'v', { ...envelope, nonce: Buffer.alloc(12).toString('base64') })).rejects.toBeInstanceOf(IntegrityError);
    await expect(enc.openObject('b', 'k', 'v', { ...envelope, bucketKeyId: 'nope' })).rejects.toMatchObject({ reason: 'envelope' });
    await expect(enc.openObject('b', 'k', 'v', { ...envelope, v: 2 as 1 })).rejects.toMatchObject({ reason: 'envelope' });
    await expect(enc.openObject('b', 'k', 'v', { ...envelope, segmentSize: 3 })).rejects.toMatchObject({ reason: 'envelope' });
  });

  it('reads use the cache: one Decrypt for many objects after a restart', async () => {
    const w = make();
    const sealed = [];
    for (let i = 0; i < 20; i++) sealed.push(await w.sealObject('b', `k${i}`, 'v', SSE));
    const r = make();
    for (const [i, s] of sealed.entries()) expect((await r.openObject('b', `k${i}`, 'v', s.envelope)).equals(s.objectKey)).toBe(true);
    expect(kms.calls.decrypt).toBe(1);
  });

  it('without a bucket key every object is its own KMS data key bound to the object ARN', async () => {
    const enc = make();
    const a = await enc.sealObject('b', 'k1', 'v', { sse: 'aws:kms', bucketKeyEnabled: false, context: { team: 'rag' } });
    await enc.sealObject('b', 'k2', 'v', { sse: 'aws:kms', bucketKeyEnabled: false });
    expect(kms.calls.generateDataKey).toBe(2);
    expect(a.envelope).toMatchObject({ bucketKeyEnabled: false, bucketKeyId: '', context: { team: 'rag', 'aws:s3:arn': 'arn:aws:s3:::b/k1' } });
    expect((await enc.openObject('b', 'k1', 'v', a.envelope)).equals(a.objectKey)).toBe(true);
    await expect(enc.openObject('b', 'k2', 'v', a.envelope)).rejects.toMatchObject({ reason: 'envelope' });
    const forged = { ...a.envelope, context: { team: 'rag', 'aws:s3:arn': 'arn:aws:s3:::b/k2' } };
    await expect(enc.openObject('b', 'k2', 'v', forged)).rejects.toBeInstanceOf(IntegrityError);
  });
});

describe('copy (rewrapObject)', () => {
  it('re-wraps the same object key for the destination under its bucket key', async () => {
    const enc = make();
    const src = await enc.sealObject('src', 'a', 'v1', SSE);
    const dstEnv = await enc.rewrapObject(src.envelope, { bucket: 'src', key: 'a', uploadId: 'v1' }, { bucket: 'dst', key: 'b', uploadId: 'v9' });
    expect(dstEnv.bucketKeyId).not.toBe(src.envelope.bucketKeyId);
    expect(records.get(dstEnv.bucketKeyId)!.bucket).toBe('dst');
    expect((await enc.openObject('dst', 'b', 'v9', dstEnv)).equals(src.objectKey)).toBe(true);
    await expect(enc.openObject('dst', 'b', 'v9', src.envelope)).rejects.toBeInstanceOf(IntegrityError);
    await expect(enc.openObject('src', 'a', 'v1', dstEnv)).rejects.toBeInstanceOf(IntegrityError);
  });

  it('can change the KMS key and keeps the segment size', async () => {
    await kms.inner.createKey('other');
    const enc = make({ segmentSize: 4096 });
    const src = await enc.sealObject('b', 'a', 'v', SSE);
    const dst = await enc.rewrapObject(src.envelope, { bucket: 'b', key: 'a', uploadId: 'v' }, { bucket: 'b', key: 'c', uploadId: 'v', kmsKeyId: 'other', sse: 'aws:kms' });
    expect(dst).toMatchObject({ kmsKeyId: 'other', segmentSize: 4096, sse: 'aws:kms' });
    expect((await enc.openObject('b', 'c', 'v', dst)).equals(src.objectKey)).toBe(true);
  });
});

describe('streams through the façade', () => {
  it('encrypts a body and decrypts a range of it', async () => {
    const enc = make({ segmentSize: 1024 });
    const body = randomBytes(10_000);
    const { envelope, stream } = await enc.encryptObjectStream('b', 'k', 'v', SSE);
    const blob: Buffer[] = [];
    await pipeline(Readable.from([body]), stream, new Writable({ write(c: Buffer, _e, cb) { blob.push(c); cb(); } }));
    const stored = Buffer.concat(blob);
    const out: Buffer[] = [];
    const { read, opener } = await enc.objectSegmentOpener('b', 'k', 'v', envelope, body.length, { start: 1000, end: 5000 }, (p) => out.push(p));
    opener.feed(stored.subarray(read.cipherStart, read.cipherEnd + 1));
    opener.finish();
    opener.dispose();
    expect(Buffer.concat(out).equals(body.subarray(1000, 5001))).toBe(true);
  });
});

describe('KMS outage', () => {
  it('cached keys keep serving; a write needing a new bucket key fails with one log line', async () => {
    const enc = make({ negativeTtlMs: 5000 });
    const a = await enc.sealObject('a', 'k', 'v', SSE);
    kms.down = true;
    // Writes and reads with the cached bucket key go on.
    const a2 = await enc.sealObject('a', 'k2', 'v', SSE);
    expect((await enc.openObject('a', 'k', 'v', a.envelope)).equals(a.objectKey)).toBe(true);
    expect((await enc.openObject('a', 'k2', 'v', a2.envelope)).equals(a2.objectKey)).toBe(true);
    // A new bucket needs a new bucket key: 503, and the KMS is asked once per negative-cache window.
    for (let i = 0; i < 10; i++) {
      const e = await enc.sealObject('new', `k${i}`, 'v', SSE).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KmsUnavailableError);
      expect(s3ErrorFor(e)).toMatchObject({ status: 503, code: 'ServiceUnavailable', headers: { 'Retry-After': '5' } });
    }
    expect(kms.calls.generateDataKey).toBe(2);
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatch(/^kms unavailable: provider=local key=akko-default error=".*ECONNREFUSED.*"/);
    expect(logs[0]).not.toContain(a.objectKey.toString('base64'));
    // After the window the KMS is asked again, still once, and no second line is logged.
    now += 5001;
    await expect(enc.sealObject('new', 'k', 'v', SSE)).rejects.toBeInstanceOf(KmsUnavailableError);
    expect(kms.calls.generateDataKey).toBe(3);
    expect(logs).toHaveLength(1);
    // Recovery.
    kms.down = false;
    now += 5001;
    await enc.sealObject('new', 'k', 'v', SSE);
    expect(logs[1]).toBe('kms available again: provider=local key=akko-default');
  });

  it('a cold cache cannot read during an outage (503), and recovers', async () => {
    const w = make();
    const s = await w.sealObject('a', 'k', 'v', SSE);
    const r = make({ negativeTtlMs: 1000 });
    kms.down = true;
    await expect(r.openObject('a', 'k', 'v', s.envelope)).rejects.toBeInstanceOf(KmsUnavailableError);
    await expect(r.openObject('a', 'k', 'v', s.envelope)).rejects.toBeInstanceOf(KmsUnavailableError);
    expect(kms.calls.decrypt).toBe(1);
    kms.down = false;
    now += 1001;
    expect((await r.openObject('a', 'k', 'v', s.envelope)).equals(s.objectKey)).toBe(true);
  });

  it('counts KMS calls by operation and result', async () => {
    const get = async (result: string) =>
      (await registry.getSingleMetric('akko_kms_calls_total')!.get()).values.filter((v) => v.labels.operation === 'GenerateDataKey' && v.labels.result === result).reduce((a, v) => a + v.value, 0);
    const ok0 = await get('ok');
    const un0 = await get('unavailable');
    const enc = make({ negativeTtlMs: 0 });
    await enc.sealObject('a', 'k', 'v', SSE);
    kms.down = true;
    await enc.sealObject('b', 'k', 'v', SSE).catch(() => {});
    expect(await get('ok')).toBe(ok0 + 1);
    expect(await get('unavailable')).toBe(un0 + 1);
  });
});

describe('describeKey', () => {
  it('maps unusable keys to the errors S3 answers with', async () => {
    const enc = make();
    expect(await enc.describeKey('akko-default')).toMatchObject({ keyId: 'akko-default', state: 'Enabled' });
    const nf = await enc.describeKey('missing').catch((e: unknown) => e);
    expect(nf).toBeInstanceOf(KmsKeyNotFoundError);
    expect(s3ErrorFor(nf)).toMatchObject({ status: 400, code: 'KMS.NotFoundException' });
    const enc2 = make();
    kms.state = 'Disabled';
    expect(s3ErrorFor(await enc2.describeKey('akko-default').catch((e: unknown) => e))).toMatchObject({ status: 400, code: 'KMS.DisabledException' });
    const enc3 = make();
    kms.state = 'PendingDeletion';
    const e3 = await enc3.describeKey('akko-default').catch((e: unknown) => e);
    expect(e3).toBeInstanceOf(KmsKeyInvalidStateError);
    expect((e3 as Error).message).toBe('akko-default is pending deletion.');
    expect(s3ErrorFor(e3)).toMatchObject({ status: 400, code: 'KMS.KMSInvalidStateException' });
    expect(await enc3.describeKey('akko-default').catch((e: unknown) => e)).toBeInstanceOf(KmsKeyInvalidStateError);
    expect(kms.calls.describeKey).toBe(4); // the repeat was answered from memory
    expect(new KmsKeyDisabledError('x')).toMatchObject({ s3Code: 'KMS.DisabledException' });
  });

  it('an unknown key named on a write fails with KMS.NotFoundException', async () => {
    const enc = make();
    const e = await enc.sealObject('b', 'k', 'v', { sse: 'aws:kms', kmsKeyId: 'nope' }).catch((x: unknown) => x);
    expect(s3ErrorFor(e)).toMatchObject({ status: 400, code: 'KMS.NotFoundException' });
    expect(records.map.size).toBe(0);
    expect(logs).toHaveLength(0);
  });
});

describe('rotation', () => {
  it('rewrapBucketKey moves a bucket key to the newest keyring version; objects still open', async () => {
    const enc = make();
    const s = await enc.sealObject('b', 'k', 'v', SSE);
    await kms.inner.rotate();
    const rec = await enc.rewrapBucketKey(s.envelope.bucketKeyId);
    expect(rec.keyVersion).toBe('v2');
    expect(records.get(rec.id)!.keyVersion).toBe('v2');
    const cold = make();
    expect((await cold.openObject('b', 'k', 'v', s.envelope)).equals(s.objectKey)).toBe(true);
    // new bucket keys use the newest version
    await cold.retireBucketKeys();
    await cold.sealObject('b', 'k2', 'v', SSE);
    expect([...records.list('b')].map((r) => r.keyVersion).sort()).toEqual(['v2', 'v2']);
  });
});
