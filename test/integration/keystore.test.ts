// The keystore holds several access keys at once, and the server picks up changes to it
// without a restart (rotation builds on this).
import { ListBucketsCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSecretFile, type AccessKey } from '../../secrets/keystore.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server?.destroy(); });

function client(id: string, secret: string): S3Client {
  return new S3Client({ endpoint: server.s3, region: 'akko-local', forcePathStyle: true, credentials: { accessKeyId: id, secretAccessKey: secret }, maxAttempts: 1 });
}

async function outcome(id: string, secret: string): Promise<string> {
  const c = client(id, secret);
  try {
    await c.send(new ListBucketsCommand({}));
    return 'ok';
  } catch (e) {
    return e instanceof S3ServiceException ? e.name : String(e);
  } finally {
    c.destroy();
  }
}

async function eventually(f: () => Promise<string>, want: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  let last = '';
  while (Date.now() < deadline) {
    last = await f();
    if (last === want) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(last).toBe(want);
}

describe('keystore', () => {
  it('accepts a key added to the keystore file, and stops accepting it once revoked, without a restart', async () => {
    const path = join(server.dataDir, 'keystore.json');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const write = (keys: AccessKey[]) => writeSecretFile(path, JSON.stringify({ version: 1, keys }));
    const a: AccessKey = { id: 'AKKOROTATEDKEY000001', secret: 'first-secret-0123456789abcdefghijkl', state: 'current', created: new Date().toISOString() };
    const b: AccessKey = { id: 'AKKOROTATEDKEY000002', secret: 'second-secret-0123456789abcdefghijk', state: 'pending', created: new Date().toISOString() };
    expect(await outcome(a.id, a.secret)).toBe('InvalidAccessKeyId');
    write([a, b]);
    await eventually(() => outcome(a.id, a.secret), 'ok');
    expect(await outcome(b.id, b.secret)).toBe('ok'); // several keys at once
    expect(await outcome(a.id, 'wrong-secret')).toBe('SignatureDoesNotMatch');
    write([{ ...a, state: 'revoked' }, { ...b, state: 'current' }]);
    await eventually(() => outcome(a.id, a.secret), 'InvalidAccessKeyId');
    expect(await outcome(b.id, b.secret)).toBe('ok');
    // The root key from the environment keeps working throughout.
    expect(await outcome(server.accessKey, server.secretKey)).toBe('ok');
    expect(readFileSync(path, 'utf8')).toContain(b.id);
  });
});
