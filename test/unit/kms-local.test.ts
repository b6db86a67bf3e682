// The local keyring KMS: creation (0600, atomic), context enforcement, rotation with old
// versions still decrypting, and refusal to start when stored bucket keys name missing keys.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IntegrityError, KmsKeyNotFoundError } from '../../kms/errors.js';
import { FileKeyringStorage } from '../../kms/keyring/file.js';
import { KEYRING_FILE, KeyringMissingKeysError, LocalKmsProvider, verifyKeyring } from '../../kms/providers/local.js';
import { MemoryBucketKeyRecords } from '../../kms/keys.js';
import { AwsKmsProvider } from '../../kms/providers/aws.js';
import { openKmsProvider } from '../../kms/setup.js';
import type { BucketKeyRecord } from '../../kms/types.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'akko-kms-local-'));
  dirs.push(d);
  return d;
}
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const CTX = { 'aws:s3:arn': 'arn:aws:s3:::bucket-a' };
const mode = (f: string) => statSync(f).mode & 0o777;

function record(over: Partial<BucketKeyRecord>): BucketKeyRecord {
  return { id: 'r1', bucket: 'b', provider: 'local', kmsKeyId: 'akko-default', keyVersion: 'v1', wrapped: '', encryptionContext: CTX, created: 0, maxAgeMs: 1, maxObjects: 1, ...over };
}

describe('local keyring file', () => {
  it('is created on first start with one key, mode 0600, no temp files left', async () => {
    const dir = tmp();
    const p = await LocalKmsProvider.open({ dataDir: dir });
    const file = join(dir, KEYRING_FILE);
    expect(p.location).toBe(file);
    expect(mode(file)).toBe(0o600);
    expect(readdirSync(dir)).toEqual([KEYRING_FILE]);
    const data = JSON.parse(readFileSync(file, 'utf8'));
    expect(data.defaultKey).toBe('akko-default');
    expect(data.keys.map((k: { kid: string; kty: string }) => [k.kid, k.kty])).toEqual([['akko-default/v1', 'oct']]);
    expect(Buffer.from(data.keys[0].k, 'base64url').length).toBe(32);
    expect(p.defaultKeyId()).toBe('akko-default');
  });

  it('is loaded, not replaced, on the next start: data keys survive a restart', async () => {
    const dir = tmp();
    const p1 = await LocalKmsProvider.open({ dataDir: dir });
    const dk = await p1.generateDataKey('akko-default', CTX);
    const before = readFileSync(join(dir, KEYRING_FILE), 'utf8');
    const p2 = await LocalKmsProvider.open({ dataDir: dir });
    expect(readFileSync(join(dir, KEYRING_FILE), 'utf8')).toBe(before);
    expect((await p2.decrypt(dk.ciphertext, CTX)).plaintext.equals(dk.plaintext)).toBe(true);
  });

  it('tightens a keyring file that is readable by others to 0600', async () => {
    const dir = tmp();
    await LocalKmsProvider.open({ dataDir: dir });
    chmodSync(join(dir, KEYRING_FILE), 0o644);
    await LocalKmsProvider.open({ dataDir: dir });
    expect(mode(join(dir, KEYRING_FILE))).toBe(0o600);
  });

  it('refuses to create a keyring when stored bucket keys reference local keys', async () => {
    const dir = tmp();
    const err = await LocalKmsProvider.open({ dataDir: dir, records: [record({ keyVersion: 'v2' }), record({ provider: 'aws', kmsKeyId: 'arn:x' })] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyringMissingKeysError);
    expect((err as Error).message).toContain(join(dir, KEYRING_FILE));
    expect((err as Error).message).toContain('akko-default/v2');
    expect((err as Error).message).not.toContain('arn:x');
    expect(existsSync(join(dir, KEYRING_FILE))).toBe(false);
  });

  it('creating a keyring that appeared meanwhile is refused, not overwritten, and leaves no temp file', async () => {
    const dir = tmp();
    await LocalKmsProvider.open({ dataDir: dir });
    const before = readFileSync(join(dir, KEYRING_FILE), 'utf8');
    const doc = JSON.parse(before);
    await expect(new FileKeyringStorage(join(dir, KEYRING_FILE)).create({ ...doc, keys: [] })).rejects.toThrow(/created by someone else meanwhile/);
    expect(readFileSync(join(dir, KEYRING_FILE), 'utf8')).toBe(before);
    expect(readdirSync(dir)).toEqual([KEYRING_FILE]);
  });

  it('rejects a file that is not a keyring', async () => {
    const dir = tmp();
    writeFileSync(join(dir, KEYRING_FILE), '{"keys":[]}');
    await expect(LocalKmsProvider.open({ dataDir: dir })).rejects.toThrow(/not an akko keyring/);
  });
});

describe('local data keys', () => {
  it('generates 32-byte keys that decrypt only under the same context', async () => {
    const p = await LocalKmsProvider.open({ dataDir: tmp() });
    const dk = await p.generateDataKey('akko-default', CTX);
    expect(dk.plaintext.length).toBe(32);
    expect(dk.keyId).toBe('akko-default');
    expect(dk.keyVersion).toBe('v1');
    expect(dk.ciphertext.includes(dk.plaintext)).toBe(false);
    const back = await p.decrypt(dk.ciphertext, { ...CTX });
    expect(back.plaintext.equals(dk.plaintext)).toBe(true);
    expect(back.keyId).toBe('akko-default');
    await expect(p.decrypt(dk.ciphertext, { 'aws:s3:arn': 'arn:aws:s3:::bucket-b' })).rejects.toBeInstanceOf(IntegrityError);
    await expect(p.decrypt(dk.ciphertext, {})).rejects.toBeInstanceOf(IntegrityError);
    await expect(p.decrypt(dk.ciphertext, { ...CTX, extra: 'x' })).rejects.toBeInstanceOf(IntegrityError);
  });

  it('context key order does not matter', async () => {
    const p = await LocalKmsProvider.open({ dataDir: tmp() });
    const dk = await p.generateDataKey('akko-default', { a: '1', b: '2' });
    expect((await p.decrypt(dk.ciphertext, { b: '2', a: '1' })).plaintext.equals(dk.plaintext)).toBe(true);
  });

  it('a tampered blob or a blob under another key id fails', async () => {
    const p = await LocalKmsProvider.open({ dataDir: tmp() });
    await p.createKey('other');
    const dk = await p.generateDataKey('akko-default', CTX);
    const jwe = JSON.parse(dk.ciphertext.toString());
    const ct = Buffer.from(jwe.ciphertext, 'base64url');
    ct[0]! ^= 1;
    const bad = Buffer.from(JSON.stringify({ ...jwe, ciphertext: ct.toString('base64url') }));
    await expect(p.decrypt(bad, CTX)).rejects.toBeInstanceOf(IntegrityError);
    await expect(p.decrypt(Buffer.from('garbage'), CTX)).rejects.toBeInstanceOf(IntegrityError);
    await expect(p.decrypt(dk.ciphertext, CTX, 'other')).rejects.toBeInstanceOf(IntegrityError);
    expect((await p.decrypt(dk.ciphertext, CTX, 'akko-default')).plaintext.equals(dk.plaintext)).toBe(true);
  });

  it('unknown keys are KmsKeyNotFoundError (S3: 400 KMS.NotFoundException)', async () => {
    const p = await LocalKmsProvider.open({ dataDir: tmp() });
    const e = await p.generateDataKey('nope', CTX).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KmsKeyNotFoundError);
    expect(e).toMatchObject({ s3Code: 'KMS.NotFoundException', status: 400 });
    await expect(p.describeKey('nope')).rejects.toBeInstanceOf(KmsKeyNotFoundError);
    await expect(p.describeKey('akko-default/v9')).rejects.toBeInstanceOf(KmsKeyNotFoundError);
    expect(await p.describeKey('akko-default')).toEqual({ keyId: 'akko-default', state: 'Enabled', currentVersion: 'v1' });
  });
});

describe('local rotation', () => {
  it('adds a current version; old versions still decrypt, also after a restart', async () => {
    const dir = tmp();
    const p = await LocalKmsProvider.open({ dataDir: dir });
    const old = await p.generateDataKey('akko-default', CTX);
    expect(await p.rotate()).toBe('akko-default/v2');
    expect(mode(join(dir, KEYRING_FILE))).toBe(0o600);
    const fresh = await p.generateDataKey('akko-default', CTX);
    expect(fresh.keyVersion).toBe('v2');
    expect(JSON.parse(Buffer.from(JSON.parse(fresh.ciphertext.toString()).protected, 'base64url').toString()).kid).toBe('akko-default/v2');
    const p2 = await LocalKmsProvider.open({ dataDir: dir });
    expect(p2.versions('akko-default')).toEqual(['akko-default/v1', 'akko-default/v2']);
    expect((await p2.decrypt(old.ciphertext, CTX)).plaintext.equals(old.plaintext)).toBe(true);
    expect((await p2.decrypt(old.ciphertext, CTX)).keyVersion).toBe('v1');
    expect((await p2.decrypt(fresh.ciphertext, CTX)).plaintext.equals(fresh.plaintext)).toBe(true);
    expect((await p2.describeKey('akko-default')).currentVersion).toBe('v2');
  });

  it('re-encrypts an old blob under the newest version', async () => {
    const p = await LocalKmsProvider.open({ dataDir: tmp() });
    const old = await p.generateDataKey('akko-default', CTX);
    await p.rotate();
    const re = await p.reEncrypt(old.ciphertext, CTX, 'akko-default');
    expect(re.keyVersion).toBe('v2');
    expect((await p.decrypt(re.ciphertext, CTX)).plaintext.equals(old.plaintext)).toBe(true);
    await expect(p.reEncrypt(old.ciphertext, { other: 'ctx' }, 'akko-default')).rejects.toBeInstanceOf(IntegrityError);
  });

  it('a rotation by another process (the CLI) is not lost by the next rotation here', async () => {
    const dir = tmp();
    const server = await LocalKmsProvider.open({ dataDir: dir });
    const cli = await LocalKmsProvider.open({ dataDir: dir });
    await cli.rotate();
    expect(await server.rotate()).toBe('akko-default/v3');
    expect((await LocalKmsProvider.open({ dataDir: dir })).versions('akko-default')).toHaveLength(3);
  });
});

describe('verifyKeyring (start-up check)', () => {
  it('passes when every referenced version exists', async () => {
    const p = await LocalKmsProvider.open({ dataDir: tmp() });
    await p.rotate();
    expect(() => verifyKeyring(p, [record({ keyVersion: 'v1' }), record({ keyVersion: 'v2' }), record({ provider: 'aws', kmsKeyId: 'arn:aws:kms:x' })])).not.toThrow();
  });

  it('names the missing key ids and the keyring file', async () => {
    const dir = tmp();
    const p = await LocalKmsProvider.open({ dataDir: dir });
    const e = (() => {
      try {
        verifyKeyring(p, [record({ keyVersion: 'v1' }), record({ keyVersion: 'v3' }), record({ kmsKeyId: 'gone', keyVersion: 'v1' })]);
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(KeyringMissingKeysError);
    expect((e as KeyringMissingKeysError).keyIds).toEqual(['akko-default/v3', 'gone/v1']);
    expect((e as Error).message).toContain(join(dir, KEYRING_FILE));
    expect((e as Error).message).not.toContain('akko-default/v1,');
  });
});

describe('openKmsProvider (server start)', () => {
  it('local: creates the keyring on first start and uses the configured default key', async () => {
    const dir = tmp();
    const records = new MemoryBucketKeyRecords();
    const p = await openKmsProvider({ kind: 'local', dataDir: dir, records });
    expect(p.defaultKeyId()).toBe('akko-default');
    const named = await openKmsProvider({ kind: 'local', dataDir: tmp(), records, keyId: 'team' });
    expect(named.defaultKeyId()).toBe('team');
    await (p as LocalKmsProvider).createKey('second');
    const again = await openKmsProvider({ kind: 'local', dataDir: dir, records, keyId: 'second' });
    expect(again.defaultKeyId()).toBe('second');
    await (again as LocalKmsProvider).rotate();
    expect(again.defaultKeyId()).toBe('second');
  });

  it('local: refuses to start with a missing keyring or missing versions, or an unknown key id', async () => {
    const dir = tmp();
    const records = new MemoryBucketKeyRecords();
    await records.put(record({ keyVersion: 'v2' }));
    await expect(openKmsProvider({ kind: 'local', dataDir: dir, records })).rejects.toBeInstanceOf(KeyringMissingKeysError);
    expect(existsSync(join(dir, KEYRING_FILE))).toBe(false);
    await LocalKmsProvider.open({ dataDir: dir });
    await expect(openKmsProvider({ kind: 'local', dataDir: dir, records })).rejects.toThrow(/akko-default\/v2/);
    await expect(openKmsProvider({ kind: 'local', dataDir: dir, records: new MemoryBucketKeyRecords(), keyId: 'nope' })).rejects.toThrow(/kmsKeyId nope is not a key of the keyring/);
  });

  it('aws: needs a key id and takes the region from a key ARN', async () => {
    await expect(openKmsProvider({ kind: 'aws', dataDir: tmp(), records: new MemoryBucketKeyRecords() })).rejects.toThrow(/kmsKeyId is required/);
    const p = (await openKmsProvider({ kind: 'aws', dataDir: tmp(), records: new MemoryBucketKeyRecords(), keyId: 'arn:aws:kms:eu-central-1:111122223333:key/abc' })) as AwsKmsProvider;
    expect(await p.client.config.region()).toBe('eu-central-1');
    p.destroy();
  });
});
