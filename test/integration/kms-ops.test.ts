// Key operations as commands (issue #5) against the real server and the real CLI, local
// keyring: the admin API's authentication, keys list/create/describe, rotate then rewrap over
// 10,000 objects with the KMS calls counted, retire refused while referenced, status and its
// gauges, encrypt-existing keeping every piece of metadata, zero failed requests under load,
// Ctrl-C and a killed CLI.
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, UploadPartCommand, type S3Client } from '@aws-sdk/client-s3';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, tempDir, type TestServer } from '../helpers/server.js';
import { admin, bodyFor, filesUnder, kms, kmsCallMetrics, lean, metricsText, objectsIn, pool, putAll, spawnKms, sumCalls, total, verifyAll, type LeanClient, type Obj } from './kms-ops-support.js';

const BUCKETS = Array.from({ length: 10 }, (_, i) => `kb-${i}`);

function json<T = Record<string, unknown>>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

describe('admin API and keys (local keyring)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startServer({ args: ['--buckets', 'ka'] });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('refuses unsigned, wrongly signed and tampered calls with 403', async () => {
    const unsigned = await fetch(`${server.admin}/admin/v1/kms/status`);
    expect(unsigned.status).toBe(403);
    expect(((await unsigned.json()) as { error: string }).error).toBe('AccessDenied');
    const wrong = await admin(server, 'GET', '/kms/keys', undefined, { accessKeyId: server.accessKey, secretAccessKey: 'not-the-secret' });
    expect(wrong.status).toBe(403);
    expect(wrong.json.error).toBe('SignatureDoesNotMatch');
    const unknown = await admin(server, 'POST', '/kms/rotate', {}, { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' });
    expect(unknown.status).toBe(403);
    // A signed body swapped in transit.
    const { signAdminRequest } = await import('../../src/admin/auth.js');
    const url = new URL('/admin/v1/kms/retire', server.admin);
    const signed = signAdminRequest({ method: 'POST', url, body: Buffer.from('{"keyId":"akko-default/v1","dryRun":true}'), accessKeyId: server.accessKey, secretAccessKey: server.secretKey, headers: { 'content-type': 'application/json' } });
    const swapped = await fetch(url, { method: 'POST', headers: signed, body: '{"keyId":"akko-default/v1"}' });
    expect(swapped.status).toBe(403);
    // Probes stay open.
    expect((await fetch(`${server.admin}/healthz`)).status).toBe(200);
    // The CLI without credentials says so and exits 2.
    const r = await kms(server, ['status'], { AKKO_S3_ACCESS_KEY: '', AKKO_S3_SECRET_KEY: '', AKKO_DATA_DIR: '/nonexistent' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no credentials/);
    // ...and a server that is not there is a clear message, exit 1.
    const down = await kms({ ...server, admin: 'http://127.0.0.1:9' }, ['status']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/cannot reach the akko-storage admin API at http:\/\/127\.0\.0\.1:9/);
  });

  it('keys create, list and describe; rotate makes a new current version', async () => {
    let r = await kms(server, ['keys', 'create', 'team-a']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/created local key team-a \(team-a\/v1\)/);
    r = await kms(server, ['keys', 'create', 'team-a']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists/);
    r = await kms(server, ['keys', 'list', '--json']);
    const list = json<{ primary: string; providers: Array<{ provider: string; keys: Array<{ key: string; default: boolean; versions: Array<{ version: string; current: boolean }> }> }> }>(r.stdout);
    expect(list.primary).toBe('local');
    expect(list.providers[0]!.keys.map((k) => k.key).sort()).toEqual(['akko-default', 'team-a']);
    expect(list.providers[0]!.keys.find((k) => k.key === 'akko-default')!.default).toBe(true);
    r = await kms(server, ['rotate', '--key-id', 'team-a']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rotated local key team-a: v1 -> v2 \(current\)/);
    r = await kms(server, ['keys', 'describe', 'team-a', '--json']);
    const d = json<{ keys: Array<{ key: string; currentVersion: string; versions: Array<{ version: string; current: boolean }> }> }>(r.stdout);
    expect(d.keys[0]!.currentVersion).toBe('v2');
    expect(d.keys[0]!.versions.map((v) => [v.version, v.current])).toEqual([['v1', false], ['v2', true]]);
    r = await kms(server, ['keys', 'list']);
    expect(r.stdout).toMatch(/key team-a: current version v2/);
    r = await kms(server, ['keys', 'describe', 'nope']);
    expect(r.code).not.toBe(0);
    // The keyring file on disk has both versions (the server wrote it; nobody edits it by hand).
    const ring = JSON.parse(readFileSync(join(server.dataDir, 'kms-keyring.json'), 'utf8')) as { keys: { kid: string }[] };
    expect(ring.keys.map((k) => k.kid)).toEqual(expect.arrayContaining(['team-a/v1', 'team-a/v2']));
  });

  it('status reports the canary and sets the gauges; objects under a named key are counted by version', async () => {
    const s3 = sdkClient(server);
    await s3.send(new PutObjectCommand({ Bucket: 'ka', Key: 'a', Body: 'under the default key' }));
    await s3.send(new PutObjectCommand({ Bucket: 'ka', Key: 'b', Body: 'under team-a', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'team-a' }));
    await s3.send(new PutObjectCommand({ Bucket: 'ka', Key: 'c', Body: 'own data key', ServerSideEncryption: 'aws:kms', SSEKMSKeyId: 'team-a', BucketKeyEnabled: false }));
    s3.destroy();
    const r = await kms(server, ['status', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = json<{ buckets: Array<{ bucket: string; protections: Array<{ protection: string; key: string; version: string; objects: number; bytes: number }> }>; health: { ok: boolean; operations: string[] }; kmsWrappedObjects: number }>(r.stdout);
    expect(s.health.ok).toBe(true);
    expect(s.health.operations).toEqual(['GenerateDataKey', 'Decrypt']);
    const ka = s.buckets.find((b) => b.bucket === 'ka')!;
    expect(ka.protections).toEqual([
      { protection: 'local', key: 'akko-default', version: 'v1', objects: 1, bytes: 21 },
      { protection: 'local', key: 'team-a', version: 'v2', objects: 2, bytes: 24 },
    ]);
    expect(s.kmsWrappedObjects).toBe(1);
    const text = await metricsText(server);
    expect(text).toMatch(/akko_kms_objects\{bucket="ka",protection="local",key="team-a",version="v2"\} 2/);
    expect(text).toMatch(/akko_kms_bytes\{bucket="ka",protection="local",key="akko-default",version="v1"\} 21/);
    expect(text).toMatch(/akko_kms_provider_up\{provider="local",key="akko-default"\} 1/);
    const human = await kms(server, ['status']);
    expect(human.stdout).toMatch(/provider health: OK/);
    expect(human.stdout).toMatch(/ka\s+local\s+team-a\s+v2\s+2\s+24/);
    // team-a/v2 wraps an object's own key directly: retire says so and refuses.
    await kms(server, ['rotate', '--key-id', 'team-a']);
    const refused = await kms(server, ['retire', 'team-a/v2']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/referenced by 1 bucket key\(s\) and 1 object key\(s\)/);
  });
});

describe('rotate then rewrap over 10,000 objects (local keyring)', () => {
  let server: TestServer;
  let dataDir: string;
  let c: LeanClient;
  const objs = objectsIn(BUCKETS, 10_000);
  beforeAll(async () => {
    dataDir = tempDir();
    server = await startServer({ dataDir, args: ['--buckets', BUCKETS.join(',')] });
    c = lean(server);
  });
  afterAll(async () => {
    c?.destroy();
    await server?.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('re-wraps only the bucket keys: O(bucket keys) KMS calls, every object byte-identical, old version retired', async () => {
    const t0 = Date.now();
    // Four batches with new bucket keys in between: 40 bucket-key records over 10 buckets.
    for (let b = 0; b < 4; b++) {
      await putAll(c, objs.slice(b * 2500, (b + 1) * 2500));
      expect((await admin(server, 'POST', '/kms/bucket-keys/retire', {})).status).toBe(200);
    }
    const seeded = Date.now() - t0;
    let r = await kms(server, ['status', '--json', '--no-canary']);
    const before = json<{ totals: { objects: number }; bucketKeys: Array<{ version: string; records: number }> }>(r.stdout);
    expect(before.totals.objects).toBe(10_000);
    const records = before.bucketKeys.reduce((n, k) => n + k.records, 0);
    expect(records).toBe(40);
    expect(before.bucketKeys.map((k) => k.version)).toEqual(['v1']);

    const calls0 = await kmsCallMetrics(server);
    r = await kms(server, ['rotate']);
    expect(r.code, r.stderr).toBe(0);
    // v1 still wraps every bucket key: retire refuses and says how many.
    r = await kms(server, ['retire', 'akko-default/v1']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/akko-default\/v1: referenced by 40 bucket key\(s\) and 0 object key\(s\)/);
    expect(r.stdout).toMatch(/not retired: .*run akko-storage kms rewrap first/);
    // Dry run first: nothing changes.
    r = await kms(server, ['rewrap', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/dry run: nothing changed.*40 of 40 bucket keys looked at, 40 would be re-wrapped/);
    const t1 = Date.now();
    r = await kms(server, ['rewrap']);
    const rewrapMs = Date.now() - t1;
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rewrap succeeded .*40 of 40 bucket keys looked at, 40 re-wrapped, 0 already under the wanted key version, 0 changed concurrently \(the newer write won\), 0 failed/);
    expect(r.stdout).toMatch(/local akko-default v1 {2}0 \(nothing references it: akko-storage kms retire akko-default\/v1\)/);
    expect(r.stdout).toMatch(/local akko-default v2 {2}40 \(current\)/);
    // Idempotent: again, nothing to do and no ReEncrypt.
    const mid = await kmsCallMetrics(server);
    r = await kms(server, ['rewrap']);
    expect(r.stdout, r.stderr).toMatch(/0 re-wrapped, 40 already under the wanted key version/);
    expect(sumCalls(await kmsCallMetrics(server), mid).ReEncrypt ?? 0).toBe(0);
    r = await kms(server, ['retire', 'akko-default/v1']);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/retired akko-default\/v1/);
    const calls = sumCalls(await kmsCallMetrics(server), calls0);
    // ReEncrypt once per bucket key (the dry run and the second run call none), a DescribeKey
    // per run, the canary-free status: nothing per object.
    expect(calls.ReEncrypt).toBe(40);
    expect(calls.GenerateDataKey ?? 0).toBe(0);
    expect(total(calls)).toBeLessThanOrEqual(40 + 10);

    // A cold server (v1 gone from the keyring): every object reads back byte-identical, with
    // one Decrypt per bucket key at most.
    await server.stop();
    server = await startServer({ dataDir, args: ['--buckets', BUCKETS.join(',')] });
    c.destroy();
    c = lean(server);
    const t2 = Date.now();
    expect(await verifyAll(c, objs)).toEqual([]);
    const readMs = Date.now() - t2;
    const readCalls = await kmsCallMetrics(server);
    expect(readCalls.Decrypt).toBeLessThanOrEqual(40);
    r = await kms(server, ['status', '--json', '--no-canary']);
    const after = json<{ bucketKeys: Array<{ version: string; records: number }>; buckets: Array<{ protections: Array<{ version: string; objects: number }> }> }>(r.stdout);
    expect(after.bucketKeys).toEqual([{ provider: 'local', key: 'akko-default', version: 'v2', records: 40 }]);
    expect(after.buckets.flatMap((b) => b.protections.map((p) => p.version))).toEqual(Array(10).fill('v2'));
    console.log(`10k objects: seeded in ${seeded} ms, rewrap of 40 bucket keys in ${rewrapMs} ms, KMS calls ${JSON.stringify(calls)}, read back in ${readMs} ms with ${readCalls.Decrypt} Decrypt`);
  }, 120_000);
});

describe('encrypt-existing', () => {
  let server: TestServer;
  let s3: S3Client;
  let c: LeanClient;
  beforeAll(async () => {
    server = await startServer({ args: ['--buckets', 'plain-a,plain-b', '--encryption', 'off'] });
    s3 = sdkClient(server);
    c = lean(server);
  });
  afterAll(async () => {
    s3?.destroy();
    c?.destroy();
    await server?.destroy();
  });

  it('encrypts every plaintext object and keeps ETag, checksums, metadata and last-modified', async () => {
    const big = bodyFor(997 * 3, 'big');
    await s3.send(new PutObjectCommand({ Bucket: 'plain-a', Key: 'doc.json', Body: '{"a":1}', ContentType: 'application/json', CacheControl: 'max-age=60', Metadata: { owner: 'team-a' }, ChecksumAlgorithm: 'SHA256' }));
    await s3.send(new PutObjectCommand({ Bucket: 'plain-a', Key: 'big.bin', Body: big }));
    await s3.send(new PutObjectCommand({ Bucket: 'plain-a', Key: 'empty', Body: '' }));
    await s3.send(new PutObjectCommand({ Bucket: 'plain-b', Key: 'already', Body: 'asked for SSE', ServerSideEncryption: 'aws:kms' }));
    // A multipart object: its parts stay parts (part ETags, composite checksum, GetObject partNumber).
    const part1 = Buffer.alloc(5 * 1024 * 1024, 'p');
    const part2 = Buffer.from('tail of the multipart object');
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'plain-b', Key: 'mp', ChecksumAlgorithm: 'CRC32' }));
    const p1 = await s3.send(new UploadPartCommand({ Bucket: 'plain-b', Key: 'mp', UploadId: up.UploadId, PartNumber: 1, Body: part1, ChecksumAlgorithm: 'CRC32' }));
    const p2 = await s3.send(new UploadPartCommand({ Bucket: 'plain-b', Key: 'mp', UploadId: up.UploadId, PartNumber: 2, Body: part2, ChecksumAlgorithm: 'CRC32' }));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'plain-b', Key: 'mp', UploadId: up.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p1.ETag, ChecksumCRC32: p1.ChecksumCRC32 }, { PartNumber: 2, ETag: p2.ETag, ChecksumCRC32: p2.ChecksumCRC32 }] } }));
    const keys: Array<[string, string]> = [['plain-a', 'doc.json'], ['plain-a', 'big.bin'], ['plain-a', 'empty'], ['plain-b', 'already'], ['plain-b', 'mp']];
    const heads = new Map<string, unknown>();
    for (const [b, k] of keys) {
      const h = await s3.send(new HeadObjectCommand({ Bucket: b, Key: k, ChecksumMode: 'ENABLED' }));
      heads.set(`${b}/${k}`, { ETag: h.ETag, LastModified: h.LastModified, ContentLength: h.ContentLength, ContentType: h.ContentType, CacheControl: h.CacheControl, Metadata: h.Metadata, ChecksumSHA256: h.ChecksumSHA256, ChecksumCRC32: h.ChecksumCRC32, ChecksumCRC64NVME: h.ChecksumCRC64NVME, PartsCount: h.PartsCount });
    }
    const blobsBefore = filesUnder(join(server.dataDir, 'blobs'));
    let r = await kms(server, ['status', '--json', '--no-canary']);
    expect(json<{ totals: { plaintextObjects: number } }>(r.stdout).totals.plaintextObjects).toBe(4);
    r = await kms(server, ['encrypt-existing', '--dry-run']);
    expect(r.stdout).toMatch(/4 would be encrypted/);
    r = await kms(server, ['encrypt-existing']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/encrypt-existing succeeded .*5 of 5 objects looked at, 4 encrypted .*, 1 already encrypted, 0 changed concurrently \(the newer write won\), 0 failed/);
    for (const [b, k] of keys) {
      const h = await s3.send(new HeadObjectCommand({ Bucket: b, Key: k, ChecksumMode: 'ENABLED' }));
      expect({ ETag: h.ETag, LastModified: h.LastModified, ContentLength: h.ContentLength, ContentType: h.ContentType, CacheControl: h.CacheControl, Metadata: h.Metadata, ChecksumSHA256: h.ChecksumSHA256, ChecksumCRC32: h.ChecksumCRC32, ChecksumCRC64NVME: h.ChecksumCRC64NVME, PartsCount: h.PartsCount }, `${b}/${k}`).toEqual(heads.get(`${b}/${k}`));
      expect(h.ServerSideEncryption, `${b}/${k}`).toBe('aws:kms');
    }
    const get = async (b: string, k: string, PartNumber?: number) => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: b, Key: k, PartNumber }))).Body!.transformToByteArray());
    expect((await get('plain-a', 'doc.json')).toString()).toBe('{"a":1}');
    expect((await get('plain-a', 'big.bin')).equals(big)).toBe(true);
    expect((await get('plain-a', 'empty')).length).toBe(0);
    expect((await get('plain-b', 'mp')).equals(Buffer.concat([part1, part2]))).toBe(true);
    expect((await get('plain-b', 'mp', 2)).equals(part2)).toBe(true);
    // The plaintext blobs are gone; the new ones hold no plaintext.
    const blobsAfter = filesUnder(join(server.dataDir, 'blobs'));
    // Six blobs before (four plain objects, two parts, one encrypted object): the one
    // encrypted object's blob stays, the five others are replaced.
    expect(blobsBefore).toHaveLength(6);
    expect(blobsAfter).toHaveLength(6);
    expect(blobsAfter.filter((f) => blobsBefore.includes(f))).toHaveLength(1);
    for (const f of blobsAfter) {
      const data = readFileSync(f);
      expect(data.includes(big.subarray(1000, 1064)), f).toBe(false);
      expect(data.includes(Buffer.from('tail of the multipart object')), f).toBe(false);
    }
    r = await kms(server, ['status', '--json', '--no-canary']);
    expect(json<{ totals: { plaintextObjects: number } }>(r.stdout).totals.plaintextObjects).toBe(0);
    // Nothing left: a second run only skips.
    r = await kms(server, ['encrypt-existing', '--bucket', 'plain-b']);
    expect(r.stdout).toMatch(/0 encrypted .*2 already encrypted/);
  });

  it('runs online: zero failed requests under concurrent PUT/GET load, and concurrent writers win', async () => {
    const objs = objectsIn(['plain-a', 'plain-b'], 800, 'load');
    await putAll(c, objs);
    const latest = new Map(objs.map((o) => [`${o.bucket}/${o.key}`, o]));
    let stop = false;
    const failures: string[] = [];
    let requests = 0;
    const worker = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const o = objs[(w * 7919 + n * 31) % objs.length]!;
        if (n % 3 === 0) {
          // An overwrite while encrypt-existing may be rewriting the same key: it must win.
          const next: Obj = { ...o, body: bodyFor(n, `w${w}`) };
          latest.set(`${o.bucket}/${o.key}`, next);
          const r = await c.send('PUT', `/${o.bucket}/${o.key}`, { body: next.body }).catch((e: Error) => ({ status: -1, error: e.message }));
          requests++;
          if (r.status !== 200) failures.push(`PUT ${o.key}: ${r.status}`);
        } else {
          const r = await c.send('GET', `/${o.bucket}/${o.key}`, { keepBody: true }).catch((e: Error) => ({ status: -1, body: undefined, error: e.message }));
          requests++;
          if (r.status !== 200) failures.push(`GET ${o.key}: ${r.status}`);
        }
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    const r = await kms(server, ['encrypt-existing', '--max-rate', '600']);
    stop = true;
    await load;
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(300);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/0 failed/);
    // No lost update: every key holds what was written last.
    expect(await verifyAll(c, [...latest.values()])).toEqual([]);
    // The overwrites (plaintext: this server's default is off) are encrypted by another pass.
    const again = await kms(server, ['encrypt-existing']);
    expect(again.code).toBe(0);
    const s = await kms(server, ['status', '--json', '--no-canary']);
    expect(json<{ totals: { plaintextObjects: number } }>(s.stdout).totals.plaintextObjects).toBe(0);
    expect(await verifyAll(c, [...latest.values()])).toEqual([]);
    console.log(`encrypt-existing under load: ${requests} client requests, 0 failed; ${r.stdout.trim().split('\n')[1] ?? r.stdout.trim()}`);
  }, 120_000);
});

describe('encrypt-existing refuses to bless damaged data', () => {
  it('an object whose bytes no longer match its ETag is left as it is, named in the summary, exit 1', async () => {
    const server = await startServer({ args: ['--buckets', 'dmg', '--encryption', 'off'] });
    const c = lean(server);
    try {
      const good = { bucket: 'dmg', key: 'good', body: Buffer.from('good bytes '.repeat(50)) };
      const bad = { bucket: 'dmg', key: 'bad', body: Buffer.from('bit rot '.repeat(50)) };
      await putAll(c, [good, bad]);
      const file = filesUnder(join(server.dataDir, 'blobs')).find((f) => readFileSync(f).equals(bad.body))!;
      const rotten = Buffer.from(bad.body);
      rotten[17] ^= 0x01;
      writeFileSync(file, rotten);
      const r = await kms(server, ['encrypt-existing']);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(/encrypt-existing failed .*1 encrypted.*1 failed/);
      expect(r.stdout).toMatch(/failed: dmg\/bad: its bytes do not match its ETag; left as it is/);
      const s = json<{ totals: { plaintextObjects: number } }>((await kms(server, ['status', '--json', '--no-canary'])).stdout);
      expect(s.totals.plaintextObjects).toBe(1);
      expect(await verifyAll(c, [good])).toEqual([]);
      // Once the damaged object is dealt with (here: deleted), the same command finishes.
      expect((await c.send('DELETE', '/dmg/bad')).status).toBe(204);
      const again = await kms(server, ['encrypt-existing']);
      expect(again.code, again.stdout).toBe(0);
    } finally {
      c.destroy();
      await server.destroy();
    }
  });
});

describe('rewrap online and interrupted', () => {
  let server: TestServer;
  let c: LeanClient;
  const buckets = ['on-a', 'on-b', 'on-c'];
  beforeAll(async () => {
    server = await startServer({ args: ['--buckets', buckets.join(',')] });
    c = lean(server);
    // 150 bucket-key records: one small write per bucket, then new bucket keys, 50 times.
    for (let i = 0; i < 50; i++) {
      await putAll(c, buckets.map((b) => ({ bucket: b, key: `seed/${i}`, body: bodyFor(i, b) })));
      await admin(server, 'POST', '/kms/bucket-keys/retire', {});
    }
  });
  afterAll(async () => {
    c?.destroy();
    await server?.destroy();
  });

  it('zero failed requests under concurrent PUT/GET load during a rewrap', async () => {
    await kms(server, ['rotate']);
    const objs = objectsIn(buckets, 600, 'rw');
    await putAll(c, objs);
    let stop = false;
    const failures: string[] = [];
    let requests = 0;
    const worker = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const o = objs[(w * 104729 + n * 17) % objs.length]!;
        const r = n % 4 === 0
          ? await c.send('PUT', `/${o.bucket}/new/${w}/${n}`, { body: o.body }).catch(() => ({ status: -1 }))
          : await c.send('GET', `/${o.bucket}/${o.key}`, { keepBody: true }).then((x) => (x.body!.equals(o.body) ? x : { status: -2 }), () => ({ status: -1 }));
        requests++;
        if (r.status !== 200) failures.push(`${n % 4 === 0 ? 'PUT' : 'GET'} ${o.key}: ${r.status}`);
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
    // Slow enough that the load overlaps the whole job.
    const r = await kms(server, ['rewrap', '--max-rate', '100']);
    stop = true;
    await load;
    expect(failures).toEqual([]);
    expect(requests).toBeGreaterThan(200);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/0 failed/);
    const s = await kms(server, ['status', '--json', '--no-canary']);
    const keys = json<{ bucketKeys: Array<{ version: string }> }>(s.stdout).bucketKeys;
    // Bucket keys made during the job under v2 already; the rest re-wrapped.
    expect(new Set(keys.map((k) => k.version))).toEqual(new Set(['v2']));
    expect(await verifyAll(c, objs)).toEqual([]);
    console.log(`rewrap under load: ${requests} client requests, 0 failed; ${r.stdout.trim().split('\n')[1]}`);
  }, 120_000);

  it('Ctrl-C stops the job at a checkpoint (exit 130); the same command resumes it; a killed CLI leaves the job running', async () => {
    await kms(server, ['rotate']);
    const cli = spawnKms(server, ['rewrap', '--max-rate', '60']);
    await new Promise((r) => setTimeout(r, 1200));
    cli.child.kill('SIGINT');
    expect(await cli.done).toBe(130);
    expect(cli.out()).toMatch(/interrupting: asking the server to stop job/);
    expect(cli.out()).toMatch(/rewrap cancelled .*run the same command again to resume/s);
    const jobs = json<{ jobs: Array<{ id: string; kind: string; state: string; counts: { scanned: number; total: number } }> }>((await kms(server, ['jobs', '--json'])).stdout).jobs;
    const cancelled = jobs.find((j) => j.kind === 'rewrap' && j.state === 'cancelled')!;
    expect(cancelled.counts.scanned).toBeGreaterThan(0);
    expect(cancelled.counts.scanned).toBeLessThan(cancelled.counts.total);

    // The same command resumes the same job from its checkpoint; kill this CLI outright.
    const cli2 = spawnKms(server, ['rewrap', '--max-rate', '60']);
    await new Promise((r) => setTimeout(r, 800));
    expect(cli2.out()).toMatch(new RegExp(`resuming rewrap job ${cancelled.id} from its checkpoint`));
    cli2.child.kill('SIGKILL');
    await cli2.done;
    const running = json<{ state: string }>((await kms(server, ['jobs', 'show', cancelled.id, '--json'])).stdout);
    expect(running.state).toBe('running');
    // A new CLI attaches to it and follows it to the end.
    const r = await kms(server, ['rewrap', '--max-rate', '60']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`attached to the running rewrap job ${cancelled.id}`));
    expect(r.stdout).toMatch(/rewrap succeeded/);
    const s = json<{ bucketKeys: Array<{ version: string }> }>((await kms(server, ['status', '--json', '--no-canary'])).stdout);
    expect(new Set(s.bucketKeys.map((k) => k.version))).toEqual(new Set(['v3']));
    // Plain progress lines when not on a TTY.
    expect(r.stderr).toMatch(/rewrap: \d+\/\d+ \(\d+%\) changed=\d+/);
  }, 120_000);

  it('a second, different rewrap while one runs is refused with the running job named', async () => {
    await kms(server, ['rotate']);
    const first = await admin(server, 'POST', '/kms/rewrap', { maxRate: 20 });
    expect(first.status).toBe(202);
    const id = (first.json.job as { id: string }).id;
    const other = await admin(server, 'POST', '/kms/rewrap', { bucket: 'on-a' });
    expect(other.status).toBe(409);
    expect(String(other.json.message)).toContain(id);
    const same = await admin(server, 'POST', '/kms/rewrap', { maxRate: 20 });
    expect(same.status).toBe(200);
    expect((same.json.job as { id: string }).id).toBe(id);
    const cancel = await admin(server, 'POST', `/jobs/${id}/cancel`);
    expect(cancel.json.state).toBe('cancelled');
    const bad = await admin(server, 'POST', '/kms/rewrap', { toProvider: 'gcp' });
    expect(bad.status).toBe(400);
    await pool([0], 1, async () => {
      const r = await kms(server, ['rewrap']);
      expect(r.code).toBe(0);
    });
  });
});

describe('progress output', () => {
  it('draws a bar with counts, rate and ETA on a TTY, and plain lines otherwise', async () => {
    const { Progress } = await import('../../src/keyops/progress.js');
    const sink = (tty: boolean) => {
      const out: string[] = [];
      const stream = { isTTY: tty, columns: 200, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream;
      return { out, stream };
    };
    const t = sink(true);
    const bar = new Progress(t.stream, true);
    bar.update({ label: 'rewrap', total: 1000, done: 0, detail: 'changed=0' }, 0);
    bar.update({ label: 'rewrap', total: 1000, done: 250, detail: 'changed=250' }, 1000);
    bar.end();
    const line = t.out[1]!;
    expect(line.startsWith('\r')).toBe(true);
    expect(line).toMatch(/rewrap \[█{8}░{22}\] 250\/1,000 25% 250\/s ETA 0:03 changed=250/);
    expect(t.out.at(-1)).toBe('\n');
    const p = sink(false);
    const plain = new Progress(p.stream, false, 2000);
    plain.update({ label: 'encrypt-existing', total: 10, done: 0, detail: 'x' }, 10_000);
    plain.update({ label: 'encrypt-existing', total: 10, done: 5, detail: 'x' }, 11_000);
    plain.update({ label: 'encrypt-existing', total: 10, done: 8, detail: 'x' }, 12_500);
    expect(p.out).toEqual(['encrypt-existing: 0/10 (0%) x rate=0/s eta=?\n', 'encrypt-existing: 8/10 (80%) x rate=3/s eta=0:01\n']);
  });
});
