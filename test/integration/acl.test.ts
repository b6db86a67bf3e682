// ACLs as AWS answers with Object Ownership "bucket owner enforced": readable, owner-only.
import { GetBucketAclCommand, GetObjectAclCommand, PutBucketAclCommand, PutObjectAclCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let s3: S3Client;
beforeAll(async () => {
  server = await startServer({ args: ['--buckets', 'acl'] });
  s3 = sdkClient(server);
  await s3.send(new PutObjectCommand({ Bucket: 'acl', Key: 'k', Body: 'x' }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return e instanceof S3ServiceException ? `${e.name} ${e.$metadata.httpStatusCode}` : String(e);
  }
}

describe('ACLs', () => {
  it('reads the owner FULL_CONTROL grant on buckets and objects (Hadoop 3.3.0 probes it)', async () => {
    for (const r of [await s3.send(new GetBucketAclCommand({ Bucket: 'acl' })), await s3.send(new GetObjectAclCommand({ Bucket: 'acl', Key: 'k' }))]) {
      expect(r.Owner?.ID).toBe('akko');
      expect(r.Grants).toEqual([{ Grantee: { ID: 'akko', DisplayName: 'akko', Type: 'CanonicalUser' }, Permission: 'FULL_CONTROL' }]);
    }
  });

  it('accepts private, refuses grants to anyone else as AccessControlListNotSupported', async () => {
    expect(await code(s3.send(new PutBucketAclCommand({ Bucket: 'acl', ACL: 'private' })))).toBe('ok');
    expect(await code(s3.send(new PutObjectAclCommand({ Bucket: 'acl', Key: 'k', ACL: 'bucket-owner-full-control' })))).toBe('ok');
    expect(await code(s3.send(new PutBucketAclCommand({ Bucket: 'acl', ACL: 'public-read' })))).toBe('AccessControlListNotSupported 400');
    expect(await code(s3.send(new PutObjectCommand({ Bucket: 'acl', Key: 'pub', Body: 'x', ACL: 'public-read' })))).toBe('AccessControlListNotSupported 400');
    expect(await code(s3.send(new PutObjectCommand({ Bucket: 'acl', Key: 'priv', Body: 'x', ACL: 'private' })))).toBe('ok');
    expect(await code(s3.send(new GetObjectAclCommand({ Bucket: 'acl', Key: 'missing' })))).toBe('NoSuchKey 404');
  });
});
