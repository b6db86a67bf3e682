// Key operations with the aws provider against the KMS double (real @aws-sdk/client-kms, real
// JSON protocol, calls counted at the double): keys, RotateKeyOnDemand then rewrap over 10,000
// objects with O(bucket keys) KMS calls, migration local → aws and back with data intact,
// and what the commands say when the KMS is down.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOUBLE_CREDENTIALS, KmsDouble } from '../doubles/kms-double.js';
import { startServer, tempDir, type TestServer } from '../helpers/server.js';
import { admin, kms, lean, objectsIn, putAll, verifyAll, type LeanClient, type Obj } from './kms-ops-support.js';

const AWS_ENV = { AWS_ACCESS_KEY_ID: DOUBLE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: DOUBLE_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' };

function json<T = Record<string, unknown>>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

let double: KmsDouble;
const dirs: string[] = [];
beforeAll(async () => {
  double = await KmsDouble.start({ region: 'us-east-1' });
});
afterAll(async () => {
  await double?.close();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function awsArgs(arn: string): string[] {
  return ['--kms-provider', 'aws', '--kms-endpoint', double.endpoint, '--kms-key-id', arn];
}

describe('aws: rotate then rewrap over 10,000 objects', () => {
  let server: TestServer;
  let c: LeanClient;
  let arn: string;
  const buckets = Array.from({ length: 10 }, (_, i) => `aw-${i}`);
  const objs = objectsIn(buckets, 10_000, 'aws');
  const dataDir = tempDir();
  dirs.push(dataDir);
  beforeAll(async () => {
    arn = double.createKey({ alias: 'alias/akko-10k' }).arn;
    server = await startServer({ dataDir, args: ['--buckets', buckets.join(','), ...awsArgs(arn)], env: AWS_ENV });
    c = lean(server);
  });
  afterAll(async () => {
    c?.destroy();
    await server?.stop();
  });

  it('RotateKeyOnDemand, then one ReEncrypt per bucket key (counted at the KMS), every object byte-identical', async () => {
    double.resetCalls();
    for (let b = 0; b < 4; b++) {
      await putAll(c, objs.slice(b * 2500, (b + 1) * 2500));
      await admin(server, 'POST', '/kms/bucket-keys/retire', {});
    }
    // Writing 10,000 objects cost one GenerateDataKey per bucket key.
    expect(double.calls.GenerateDataKey, JSON.stringify(double.calls)).toBe(40);
    expect(double.totalCalls(), JSON.stringify(double.calls)).toBe(40);

    let r = await kms(server, ['keys', 'list', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const keys = json<{ providers: Array<{ provider: string; keys: Array<{ arn: string; state: string; rotationEnabled: boolean; currentKeyMaterialId: string; bucketKeys: number; default: boolean }> }> }>(r.stdout);
    const k0 = keys.providers.find((p) => p.provider === 'aws')!.keys[0]!;
    expect(k0).toMatchObject({ arn, state: 'Enabled', rotationEnabled: false, bucketKeys: 40, default: true });
    r = await kms(server, ['keys', 'describe']);
    expect(r.stdout).toContain(`arn ${arn}`);
    expect(r.stdout).toMatch(/state Enabled, automatic rotation off, current key material [0-9a-f]{64}/);

    double.resetCalls();
    r = await kms(server, ['rotate']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`rotated aws key ${arn}: [0-9a-f]{64} -> [0-9a-f]{64} \\(current\\)`));
    expect(double.calls.RotateKeyOnDemand).toBe(1);
    const material = json<{ currentKeyMaterialId: string }>((await kms(server, ['keys', 'describe', '--json'])).stdout);
    expect(material.currentKeyMaterialId).not.toBe(k0.currentKeyMaterialId);
    r = await kms(server, ['rewrap']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/40 of 40 bucket keys looked at, 40 re-wrapped/);
    // Idempotent: the second run sees every record under the current material.
    r = await kms(server, ['rewrap']);
    expect(r.stdout).toMatch(/0 re-wrapped, 40 already under the wanted key version/);
    const calls = { ...double.calls };
    expect(calls.ReEncrypt).toBe(40);
    expect(calls.GenerateDataKey ?? 0).toBe(0);
    expect(calls.Decrypt ?? 0).toBe(0);
    expect(calls.Encrypt ?? 0).toBe(0);
    // RotateKeyOnDemand + DescribeKey/GetKeyRotationStatus of the commands + 40 ReEncrypt.
    expect(double.totalCalls()).toBeLessThanOrEqual(40 + 12);
    const s = json<{ bucketKeys: Array<{ version: string; records: number }> }>((await kms(server, ['status', '--json', '--no-canary'])).stdout);
    expect(s.bucketKeys).toHaveLength(1);
    expect(s.bucketKeys[0]!.records).toBe(40);
    expect(s.bucketKeys[0]!.version).not.toBe('');

    // A cold server reads everything back with at most one Decrypt per bucket key.
    await server.stop();
    server = await startServer({ dataDir, args: ['--buckets', buckets.join(','), ...awsArgs(arn)], env: AWS_ENV });
    c.destroy();
    c = lean(server);
    double.resetCalls();
    expect(await verifyAll(c, objs)).toEqual([]);
    expect(double.calls.Decrypt).toBeLessThanOrEqual(40);
    expect(double.totalCalls()).toBe(double.calls.Decrypt);
    console.log(`aws 10k: rotate+rewrap KMS calls ${JSON.stringify(calls)}; cold read of 10,000 objects: ${double.calls.Decrypt} Decrypt; material now ${material.currentKeyMaterialId.slice(0, 12)}…`);
  }, 150_000);
});

describe('migration local → aws → local', () => {
  it('moves every bucket key between the keyring and AWS KMS with data intact, while serving traffic', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const buckets = ['mg-a', 'mg-b'];
    const arn = double.createKey({ alias: 'alias/akko-migration' }).arn;
    // 1. The embedded default: local keyring. Three bucket keys per bucket.
    let server = await startServer({ dataDir, args: ['--buckets', buckets.join(',')] });
    let c = lean(server);
    const objs: Obj[] = [];
    for (let b = 0; b < 3; b++) {
      const batch = objectsIn(buckets, 200, `local-${b}`).map((o) => ({ ...o, key: `${b}/${o.key}` }));
      await putAll(c, batch);
      objs.push(...batch);
      await admin(server, 'POST', '/kms/bucket-keys/retire', {});
    }
    c.destroy();
    await server.stop();

    // 2. Restart with AWS KMS as the provider: the keyring stays open for reading what it wrapped.
    server = await startServer({ dataDir, args: ['--buckets', buckets.join(','), ...awsArgs(arn)], env: AWS_ENV });
    c = lean(server);
    let st = json<{ provider: { name: string; readers: string[] }; bucketKeys: Array<{ provider: string; records: number }>; health: { ok: boolean; readers: Array<{ provider: string; ok: boolean }> } }>((await kms(server, ['status', '--json'])).stdout);
    expect(st.provider).toMatchObject({ name: 'aws', readers: ['local'] });
    expect(st.health.ok).toBe(true);
    expect(st.health.readers).toEqual([{ provider: 'local', ok: true, bucketKey: expect.any(String) }]);
    expect(await verifyAll(c, objs)).toEqual([]);
    // New writes go to AWS from now on; writes keep going during the move.
    double.resetCalls();
    let stop = false;
    const failures: string[] = [];
    const during: Obj[] = [];
    const writer = (async () => {
      for (let i = 0; !stop; i++) {
        const o = { bucket: buckets[i % 2]!, key: `during/${i}`, body: Buffer.from(`written during the migration ${i}`) };
        const r = await c.send('PUT', `/${o.bucket}/${o.key}`, { body: o.body }).catch(() => ({ status: -1 }));
        if (r.status !== 200) failures.push(`PUT ${o.key} ${r.status}`);
        else during.push(o);
        const g = await c.send('GET', `/${objs[i % objs.length]!.bucket}/${objs[i % objs.length]!.key}`, { keepBody: true }).catch(() => ({ status: -1, body: undefined }));
        if (g.status !== 200 || !g.body!.equals(objs[i % objs.length]!.body)) failures.push(`GET ${i} ${g.status}`);
      }
    })();
    let r = await kms(server, ['rewrap', '--to-provider', 'aws', '--to-key', arn, '--max-rate', '20']);
    stop = true;
    await writer;
    expect(failures).toEqual([]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/6 of \d+ bucket keys looked at|\d+ of \d+ bucket keys looked at, 6 re-wrapped/);
    // No plaintext key reached akko from AWS: the move is local Decrypt + AWS Encrypt.
    expect(double.calls.Encrypt).toBe(6);
    expect(double.calls.ReEncrypt ?? 0).toBe(0);
    st = json((await kms(server, ['status', '--json'])).stdout);
    expect(new Set(st.bucketKeys.map((k) => k.provider))).toEqual(new Set(['aws']));
    // The keyring is no longer needed: retire says nothing references it and archives it.
    r = await kms(server, ['retire', 'akko-default/v1']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/referenced by 0 bucket key\(s\) and 0 object key\(s\)/);
    expect(r.stdout).toMatch(/kms-keyring\.json\.retired-/);
    c.destroy();
    await server.stop();
    server = await startServer({ dataDir, args: ['--buckets', buckets.join(','), ...awsArgs(arn)], env: AWS_ENV });
    c = lean(server);
    expect(await verifyAll(c, [...objs, ...during])).toEqual([]);
    c.destroy();
    await server.stop();

    // 3. And back: the local keyring as the provider (a new one), AWS open for reading, then moved.
    server = await startServer({ dataDir, args: ['--buckets', buckets.join(',')], env: AWS_ENV });
    c = lean(server);
    st = json((await kms(server, ['status', '--json'])).stdout);
    expect(st.provider).toMatchObject({ name: 'local', readers: ['aws'] });
    expect(await verifyAll(c, [...objs, ...during])).toEqual([]);
    double.resetCalls();
    r = await kms(server, ['rewrap', '--to-provider', 'local']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const moved = st.bucketKeys.reduce((n, k) => n + k.records, 0);
    expect(r.stdout).toMatch(new RegExp(`${moved} re-wrapped`));
    expect(double.calls.Decrypt).toBe(moved);
    st = json((await kms(server, ['status', '--json'])).stdout);
    expect(new Set(st.bucketKeys.map((k) => k.provider))).toEqual(new Set(['local']));
    c.destroy();
    await server.stop();
    // The AWS KMS can go away now: nothing needs it.
    await double.refuseConnections();
    try {
      server = await startServer({ dataDir, args: ['--buckets', buckets.join(',')] });
      c = lean(server);
      expect(await verifyAll(c, [...objs, ...during])).toEqual([]);
      c.destroy();
      await server.stop();
    } finally {
      await double.acceptConnections();
    }
  }, 180_000);
});

describe('aws KMS down', () => {
  it('status exits 1 naming the failing canary; rewrap fails with a clear message and succeeds once the KMS is back', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const arn = double.createKey().arn;
    const server = await startServer({ dataDir, args: ['--buckets', 'down-a', ...awsArgs(arn)], env: AWS_ENV });
    const c = lean(server);
    try {
      const objs = objectsIn(['down-a'], 50, 'down');
      await putAll(c, objs);
      await kms(server, ['rotate']);
      await double.refuseConnections();
      try {
        let r = await kms(server, ['status']);
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(/provider health: FAILING .*ServiceUnavailable/);
        r = await kms(server, ['rewrap']);
        expect(r.code).toBe(1);
        expect(r.stdout + r.stderr).toMatch(/ServiceUnavailable|unavailable|ECONNREFUSED/);
        // Reads with cached keys go on.
        expect(await verifyAll(c, objs)).toEqual([]);
      } finally {
        await double.acceptConnections();
      }
      const r = await kms(server, ['rewrap']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect((await kms(server, ['status'])).code).toBe(0);
    } finally {
      c.destroy();
      await server.stop();
    }
  }, 120_000);
});
