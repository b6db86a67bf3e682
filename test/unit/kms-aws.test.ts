// The aws provider through the real @aws-sdk/client-kms against the KMS double (real JSON 1.1
// protocol and SigV4): data keys, context enforcement, error mapping, refused connections, and
// the Encryption façade's behaviour during an outage.
import { CreateAliasCommand, CreateKeyCommand, DecryptCommand, DisableKeyCommand, EnableKeyCommand, EnableKeyRotationCommand, EncryptCommand, KMSClient, ListKeysCommand, RotateKeyOnDemandCommand, ScheduleKeyDeletionCommand } from '@aws-sdk/client-kms';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { IntegrityError, KmsKeyDisabledError, KmsKeyInvalidStateError, KmsKeyNotFoundError, KmsUnavailableError, s3ErrorFor } from '../../kms/errors.js';
import { Encryption, MemoryBucketKeyRecords } from '../../kms/keys.js';
import { AwsKmsProvider } from '../../kms/providers/aws.js';
import { DOUBLE_ACCOUNT, DOUBLE_CREDENTIALS, KmsDouble } from '../doubles/kms-double.js';

let kms: KmsDouble;
let key: { keyId: string; arn: string };
let alias: string;
const providers: AwsKmsProvider[] = [];
const CTX = { 'aws:s3:arn': 'arn:aws:s3:::bucket-a' };

function provider(over: Partial<ConstructorParameters<typeof AwsKmsProvider>[0]> = {}): AwsKmsProvider {
  const p = new AwsKmsProvider({ defaultKeyId: key.arn, region: 'us-east-1', endpoint: kms.endpoint, credentials: DOUBLE_CREDENTIALS, maxAttempts: 1, connectTimeoutMs: 1000, requestTimeoutMs: 2000, ...over });
  providers.push(p);
  return p;
}

function sdk(): KMSClient {
  return new KMSClient({ region: 'us-east-1', endpoint: kms.endpoint, credentials: DOUBLE_CREDENTIALS });
}

beforeAll(async () => {
  kms = await KmsDouble.start();
});
afterAll(async () => {
  await kms.close();
});
beforeEach(async () => {
  await kms.acceptConnections();
  kms.throttle = false;
  kms.fault = undefined;
  alias = `alias/test-${Math.random().toString(36).slice(2)}`;
  key = kms.createKey({ alias });
  kms.resetCalls();
});
afterEach(() => providers.splice(0).forEach((p) => p.destroy()));

describe('KMS double speaks AWS KMS to the real SDK', () => {
  it('supports the key-management operations', async () => {
    const c = sdk();
    const created = await c.send(new CreateKeyCommand({ Description: 'akko test' }));
    const arn = created.KeyMetadata!.Arn!;
    expect(arn).toMatch(new RegExp(`^arn:aws:kms:us-east-1:${DOUBLE_ACCOUNT}:key/[0-9a-f-]{36}$`));
    expect(created.KeyMetadata!.CreationDate).toBeInstanceOf(Date);
    await c.send(new CreateAliasCommand({ AliasName: 'alias/akko-ops', TargetKeyId: created.KeyMetadata!.KeyId }));
    const enc = await c.send(new EncryptCommand({ KeyId: 'alias/akko-ops', Plaintext: Buffer.from('hi'), EncryptionContext: CTX }));
    expect(enc.KeyId).toBe(arn);
    await c.send(new EnableKeyRotationCommand({ KeyId: arn }));
    await c.send(new RotateKeyOnDemandCommand({ KeyId: arn }));
    const dec = await c.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: CTX }));
    expect(Buffer.from(dec.Plaintext!).toString()).toBe('hi');
    await c.send(new DisableKeyCommand({ KeyId: arn }));
    await expect(c.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, EncryptionContext: CTX }))).rejects.toMatchObject({ name: 'DisabledException' });
    await c.send(new EnableKeyCommand({ KeyId: arn }));
    const keys = await c.send(new ListKeysCommand({}));
    expect(keys.Keys!.map((k) => k.KeyArn)).toContain(arn);
    await c.send(new ScheduleKeyDeletionCommand({ KeyId: arn, PendingWindowInDays: 7 }));
    await expect(c.send(new EncryptCommand({ KeyId: arn, Plaintext: Buffer.from('x') }))).rejects.toMatchObject({ name: 'KMSInvalidStateException' });
    expect(kms.calls).toMatchObject({ CreateKey: 1, CreateAlias: 1, Encrypt: 2, Decrypt: 2, EnableKeyRotation: 1, RotateKeyOnDemand: 1, DisableKey: 1, EnableKey: 1, ListKeys: 1, ScheduleKeyDeletion: 1 });
    c.destroy();
  });

  it('rejects requests with bad credentials or signatures', async () => {
    const bad = new KMSClient({ region: 'us-east-1', endpoint: kms.endpoint, credentials: { accessKeyId: 'AKIAUNKNOWN', secretAccessKey: 'x' }, maxAttempts: 1 });
    await expect(bad.send(new ListKeysCommand({}))).rejects.toMatchObject({ name: 'UnrecognizedClientException' });
    const wrong = new KMSClient({ region: 'us-east-1', endpoint: kms.endpoint, credentials: { ...DOUBLE_CREDENTIALS, secretAccessKey: 'wrong' }, maxAttempts: 1 });
    await expect(wrong.send(new ListKeysCommand({}))).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    const region = new KMSClient({ region: 'eu-west-1', endpoint: kms.endpoint, credentials: DOUBLE_CREDENTIALS, maxAttempts: 1 });
    await expect(region.send(new ListKeysCommand({}))).rejects.toMatchObject({ name: 'InvalidSignatureException' });
    const unsigned = await fetch(kms.endpoint, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' }, body: '{}' });
    expect(unsigned.status).toBe(400);
    expect(await unsigned.json()).toMatchObject({ __type: 'MissingAuthenticationTokenException' });
    [bad, wrong, region].forEach((c) => c.destroy());
  });
});

describe('aws provider', () => {
  it('generates and decrypts data keys; key ids come back as ARNs', async () => {
    const p = provider();
    const dk = await p.generateDataKey(key.keyId, CTX);
    expect(dk.plaintext.length).toBe(32);
    expect(dk.keyId).toBe(key.arn);
    expect(dk.keyVersion).toMatch(/^[0-9a-f]{64}$/);
    const back = await p.decrypt(dk.ciphertext, CTX, dk.keyId);
    expect(back.plaintext.equals(dk.plaintext)).toBe(true);
    expect(back.keyId).toBe(key.arn);
    expect(kms.calls).toEqual({ GenerateDataKey: 1, Decrypt: 1 });
  });

  it('a different encryption context fails (InvalidCiphertextException → IntegrityError)', async () => {
    const p = provider();
    const dk = await p.generateDataKey(key.arn, CTX);
    await expect(p.decrypt(dk.ciphertext, { 'aws:s3:arn': 'arn:aws:s3:::bucket-b' })).rejects.toMatchObject({ name: 'IntegrityError', reason: 'kms-ciphertext' });
    await expect(p.decrypt(dk.ciphertext, {})).rejects.toBeInstanceOf(IntegrityError);
    const other = kms.createKey();
    await expect(p.decrypt(dk.ciphertext, CTX, other.arn)).rejects.toBeInstanceOf(IntegrityError);
  });

  it('maps NotFound, Disabled and pending deletion to the S3 answers', async () => {
    const p = provider();
    const nf = await p.generateDataKey(`arn:aws:kms:us-east-1:${DOUBLE_ACCOUNT}:key/00000000-0000-0000-0000-000000000000`, CTX).catch((e: unknown) => e);
    expect(nf).toBeInstanceOf(KmsKeyNotFoundError);
    expect(s3ErrorFor(nf)).toMatchObject({ status: 400, code: 'KMS.NotFoundException' });
    expect(await p.generateDataKey('alias/nope', CTX).catch((e: unknown) => e)).toBeInstanceOf(KmsKeyNotFoundError);
    expect(await p.describeKey('not-a-key').catch((e: unknown) => e)).toBeInstanceOf(KmsKeyNotFoundError);
    kms.setKeyState(key.arn, 'Disabled');
    const dis = await p.generateDataKey(key.arn, CTX).catch((e: unknown) => e);
    expect(dis).toBeInstanceOf(KmsKeyDisabledError);
    expect(s3ErrorFor(dis)).toMatchObject({ status: 400, code: 'KMS.DisabledException' });
    kms.setKeyState(key.arn, 'PendingDeletion');
    const pd = await p.generateDataKey(key.arn, CTX).catch((e: unknown) => e);
    expect(pd).toBeInstanceOf(KmsKeyInvalidStateError);
    expect((pd as Error).message).toBe(`${key.arn} is pending deletion.`);
    expect(s3ErrorFor(pd)).toMatchObject({ status: 400, code: 'KMS.KMSInvalidStateException' });
    expect(await p.describeKey(key.arn)).toMatchObject({ keyId: key.arn, state: 'PendingDeletion' });
  });

  it('maps throttling to a retryable 503 SlowDown, after the SDK retries', async () => {
    kms.throttle = true;
    const p = provider({ maxAttempts: 2 });
    const e = await p.generateDataKey(key.arn, CTX).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KmsUnavailableError);
    expect(e).toMatchObject({ throttled: true });
    expect(s3ErrorFor(e)).toMatchObject({ status: 503, code: 'SlowDown', headers: { 'Retry-After': '5' } });
    expect(kms.calls.GenerateDataKey).toBe(2);
  });

  it('maps KMS internal errors to 503 ServiceUnavailable', async () => {
    kms.fault = (op) => (op === 'Decrypt' ? { type: 'KMSInternalException', message: 'boom', status: 500 } : undefined);
    const p = provider();
    const dk = await p.generateDataKey(key.arn, CTX);
    const e = await p.decrypt(dk.ciphertext, CTX).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KmsUnavailableError);
    expect(s3ErrorFor(e)).toMatchObject({ status: 503, code: 'ServiceUnavailable' });
  });

  it('refused connections are KmsUnavailableError', async () => {
    const p = provider();
    await p.describeKey(key.arn); // a kept-alive connection exists
    await kms.refuseConnections();
    const e = await p.generateDataKey(key.arn, CTX).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KmsUnavailableError);
    // A kept-alive socket the server closed may answer ECONNRESET first; a new connection is refused.
    expect((e as KmsUnavailableError).detail).toMatch(/ECONNREFUSED|ECONNRESET/);
    const e2 = await p.generateDataKey(key.arn, CTX).catch((x: unknown) => x);
    expect((e2 as KmsUnavailableError).detail).toMatch(/^ECONNREFUSED/);
    await kms.acceptConnections();
    await expect(p.generateDataKey(key.arn, CTX)).resolves.toMatchObject({ keyId: key.arn });
  });

  it('re-encrypts under rotated key material', async () => {
    const p = provider();
    const dk = await p.generateDataKey(key.arn, CTX);
    kms.rotate(key.arn);
    const re = await p.reEncrypt(dk.ciphertext, CTX, key.arn, key.arn);
    expect(re.keyVersion).not.toBe(dk.keyVersion);
    expect((await p.decrypt(re.ciphertext, CTX, key.arn)).plaintext.equals(dk.plaintext)).toBe(true);
  });
});

describe('Encryption over the aws provider', () => {
  it('10,000 objects cost one GenerateDataKey; aliases resolve to the ARN', async () => {
    const records = new MemoryBucketKeyRecords();
    const enc = Encryption.create({ provider: provider({ defaultKeyId: alias }), records, log: () => {} });
    for (let i = 0; i < 10_000; i++) (await enc.sealObject('b', `k${i}`, 'v', { sse: 'aws:kms' })).objectKey.fill(0);
    expect(kms.calls).toEqual({ GenerateDataKey: 1 });
    const [rec] = [...records.list()];
    expect(rec).toMatchObject({ provider: 'aws', kmsKeyId: key.arn, encryptionContext: { 'aws:s3:arn': 'arn:aws:s3:::b' } });
    expect(rec!.keyVersion).toMatch(/^[0-9a-f]{64}$/);
    enc.close();
  });

  it('during an outage cached reads and writes go on, new bucket keys fail with one log line', async () => {
    const records = new MemoryBucketKeyRecords();
    const logs: string[] = [];
    const enc = Encryption.create({ provider: provider(), records, log: (l) => logs.push(l) });
    const a = await enc.sealObject('a', 'k', 'v', { sse: 'aws:kms' });
    await kms.refuseConnections();
    expect((await enc.openObject('a', 'k', 'v', a.envelope)).equals(a.objectKey)).toBe(true);
    const a2 = await enc.sealObject('a', 'k2', 'v', { sse: 'aws:kms' });
    expect((await enc.openObject('a', 'k2', 'v', a2.envelope)).equals(a2.objectKey)).toBe(true);
    for (let i = 0; i < 5; i++) {
      const e = await enc.sealObject('b', `k${i}`, 'v', { sse: 'aws:kms' }).catch((x: unknown) => x);
      expect(s3ErrorFor(e)).toMatchObject({ status: 503, code: 'ServiceUnavailable' });
    }
    const cold = Encryption.create({ provider: provider(), records, log: (l) => logs.push(l), negativeTtlMs: 50 });
    await expect(cold.openObject('a', 'k', 'v', a.envelope)).rejects.toBeInstanceOf(KmsUnavailableError);
    expect(logs.filter((l) => l.startsWith('kms unavailable'))).toHaveLength(2); // one per Encryption instance
    expect(logs[0]).toContain(`provider=aws key=${key.arn}`);
    expect(logs[0]).toMatch(/ECONNREFUSED|ECONNRESET/);
    expect(logs.join('\n')).not.toContain(DOUBLE_CREDENTIALS.secretAccessKey);
    await kms.acceptConnections();
    await new Promise((r) => setTimeout(r, 60));
    expect((await cold.openObject('a', 'k', 'v', a.envelope)).equals(a.objectKey)).toBe(true);
    expect(logs.at(-1)).toBe(`kms available again: provider=aws key=${key.arn}`);
    enc.close();
    cold.close();
  });

  it('an unknown key id on a write answers KMS.NotFoundException', async () => {
    const enc = Encryption.create({ provider: provider(), records: new MemoryBucketKeyRecords(), log: () => {} });
    const e = await enc.sealObject('b', 'k', 'v', { sse: 'aws:kms', kmsKeyId: 'alias/does-not-exist' }).catch((x: unknown) => x);
    expect(s3ErrorFor(e)).toMatchObject({ status: 400, code: 'KMS.NotFoundException' });
    enc.close();
  });
});
