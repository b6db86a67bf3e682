// The server core through @aws-sdk/client-s3 at its defaults (aws-chunked bodies with
// trailing CRC checksums), over real sockets.
import {
  CopyObjectCommand, CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand,
  GetBucketLocationCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand, ListBucketsCommand,
  ListObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let s3: S3Client;
const B = 'sdk-core';

async function s3Error(p: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { name: e.name, status: e.$metadata.httpStatusCode };
    throw e;
  }
  throw new Error('expected an S3 error');
}

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  await s3.send(new CreateBucketCommand({ Bucket: B }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

describe('buckets', () => {
  it('lists the seeded platform buckets and the created one', async () => {
    const r = await s3.send(new ListBucketsCommand({}));
    const names = r.Buckets!.map((b) => b.Name);
    expect(names).toEqual(expect.arrayContaining(['akko-iceberg', 'akko-spark-logs', 'akko-mlflow', 'akko-rag', 'akko-aden', 'akko-airflow-logs', B]));
    expect([...names].sort()).toEqual(names);
  });

  it('names the configured region, whatever region the client signed with', async () => {
    const other = sdkClient(server, { region: 'us-east-1' });
    const r = await other.send(new GetBucketLocationCommand({ Bucket: B }));
    expect(r.LocationConstraint).toBe('akko-local');
    const h = await other.send(new HeadBucketCommand({ Bucket: B }));
    expect(h.BucketRegion).toBe('akko-local');
    other.destroy();
  });

  it('refuses invalid names and duplicates with the S3 errors', async () => {
    for (const bad of ['ab', 'UPPER', 'a..b', '192.168.1.1', '-dash', 'xn--bad', 'x'.repeat(64), 'bad-s3alias']) {
      expect(await s3Error(s3.send(new CreateBucketCommand({ Bucket: bad })))).toEqual({ name: 'InvalidBucketName', status: 400 });
    }
    expect(await s3Error(s3.send(new CreateBucketCommand({ Bucket: B })))).toEqual({ name: 'BucketAlreadyOwnedByYou', status: 409 });
  });

  it('will not delete a bucket that holds objects', async () => {
    await s3.send(new CreateBucketCommand({ Bucket: 'sdk-nonempty' }));
    await s3.send(new PutObjectCommand({ Bucket: 'sdk-nonempty', Key: 'k', Body: 'x' }));
    expect(await s3Error(s3.send(new DeleteBucketCommand({ Bucket: 'sdk-nonempty' })))).toEqual({ name: 'BucketNotEmpty', status: 409 });
    await s3.send(new DeleteObjectCommand({ Bucket: 'sdk-nonempty', Key: 'k' }));
    await s3.send(new DeleteBucketCommand({ Bucket: 'sdk-nonempty' }));
    expect(await s3Error(s3.send(new HeadBucketCommand({ Bucket: 'sdk-nonempty' })))).toMatchObject({ status: 404 });
    expect(await s3Error(s3.send(new ListObjectsV2Command({ Bucket: 'sdk-nonempty' })))).toEqual({ name: 'NoSuchBucket', status: 404 });
  });
});

describe('objects', () => {
  it('round-trips bytes, metadata, content headers and checksums', async () => {
    const body = randomBytes(300_000);
    const put = await s3.send(new PutObjectCommand({
      Bucket: B, Key: 'dir/obj.bin', Body: body, ContentType: 'application/x-test',
      Metadata: { team: 'akko', 'run-id': '42' }, CacheControl: 'no-cache', ContentDisposition: 'attachment',
    }));
    expect(put.ETag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    // The SDK sends a trailing CRC32 by default; the server verified and stored it.
    expect(put.ChecksumCRC32).toBeTruthy();
    const got = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'dir/obj.bin', ChecksumMode: 'ENABLED' }));
    expect(Buffer.from(await got.Body!.transformToByteArray())).toEqual(body);
    expect(got.ContentType).toBe('application/x-test');
    expect(got.Metadata).toEqual({ team: 'akko', 'run-id': '42' });
    expect(got.CacheControl).toBe('no-cache');
    expect(got.ContentDisposition).toBe('attachment');
    expect(got.ChecksumCRC32).toBe(put.ChecksumCRC32);
    expect(got.ETag).toBe(put.ETag);
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'dir/obj.bin' }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.ETag).toBe(put.ETag);
  });

  it('computes CRC64NVME when the client sends no checksum', async () => {
    const bare = new S3Client({ endpoint: server.s3, region: server.region, forcePathStyle: true, credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey }, requestChecksumCalculation: 'WHEN_REQUIRED' });
    const put = await bare.send(new PutObjectCommand({ Bucket: B, Key: 'nocrc', Body: 'hello' }));
    bare.destroy();
    const crc = new Crc64Nvme();
    crc.update(Buffer.from('hello'));
    const expected = Buffer.from(await crc.digest()).toString('base64');
    expect(put.ChecksumCRC64NVME).toBe(expected);
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'nocrc', ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumCRC64NVME).toBe(expected);
    expect(head.ChecksumType).toBe('FULL_OBJECT');
  });

  it('serves ranges a-b, a- and -N with 206, and 416 past the end', async () => {
    const body = Buffer.from('0123456789abcdefghij');
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'range', Body: body }));
    const get = async (Range: string) => {
      const r = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'range', Range }));
      return { text: await r.Body!.transformToString(), cr: r.ContentRange, status: r.$metadata.httpStatusCode };
    };
    expect(await get('bytes=2-5')).toEqual({ text: '2345', cr: 'bytes 2-5/20', status: 206 });
    expect(await get('bytes=15-')).toEqual({ text: 'fghij', cr: 'bytes 15-19/20', status: 206 });
    expect(await get('bytes=-3')).toEqual({ text: 'hij', cr: 'bytes 17-19/20', status: 206 });
    expect(await get('bytes=10-1000')).toEqual({ text: 'abcdefghij', cr: 'bytes 10-19/20', status: 206 });
    expect(await s3Error(s3.send(new GetObjectCommand({ Bucket: B, Key: 'range', Range: 'bytes=20-' })))).toEqual({ name: 'InvalidRange', status: 416 });
  });

  it('stores an empty object', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'empty', Body: '' }));
    const r = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'empty' }));
    expect(r.ContentLength).toBe(0);
    expect(await r.Body!.transformToString()).toBe('');
    expect(r.ETag).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
  });

  it('answers NoSuchKey and NoSuchBucket', async () => {
    expect(await s3Error(s3.send(new GetObjectCommand({ Bucket: B, Key: 'missing' })))).toEqual({ name: 'NoSuchKey', status: 404 });
    expect(await s3Error(s3.send(new HeadObjectCommand({ Bucket: B, Key: 'missing' })))).toMatchObject({ status: 404 });
    expect(await s3Error(s3.send(new PutObjectCommand({ Bucket: 'no-such-bucket-x', Key: 'k', Body: 'x' })))).toEqual({ name: 'NoSuchBucket', status: 404 });
  });

  it('keeps keys as plain data: .., %00-like bytes, a/ next to a, 1024-byte UTF-8', async () => {
    const keys = ['a', 'a/', 'a/b', 'x/../y', '../escape', 'nul\u0000byte', 'sp ace+plus', 'é'.repeat(512), '日本/語'];
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: B, Key, Body: `v:${Key}` }));
    for (const Key of keys) {
      const r = await s3.send(new GetObjectCommand({ Bucket: B, Key }));
      expect(await r.Body!.transformToString()).toBe(`v:${Key}`);
    }
    expect(await s3Error(s3.send(new PutObjectCommand({ Bucket: B, Key: 'é'.repeat(512) + 'x', Body: 'x' })))).toEqual({ name: 'KeyTooLongError', status: 400 });
  });

  it('copies with COPY and REPLACE metadata directives', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'src', Body: 'copy me', ContentType: 'text/plain', Metadata: { a: '1' } }));
    const c1 = await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'dst1', CopySource: `${B}/src` }));
    const h1 = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'dst1' }));
    expect(h1.Metadata).toEqual({ a: '1' });
    expect(h1.ContentType).toBe('text/plain');
    expect(c1.CopyObjectResult!.ETag).toBe(h1.ETag);
    await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'dst2', CopySource: `${B}/src`, MetadataDirective: 'REPLACE', Metadata: { b: '2' }, ContentType: 'text/x' }));
    const h2 = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'dst2' }));
    expect(h2.Metadata).toEqual({ b: '2' });
    expect(h2.ContentType).toBe('text/x');
    // Overwriting the source does not change the copies.
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'src', Body: 'changed' }));
    expect(await (await s3.send(new GetObjectCommand({ Bucket: B, Key: 'dst1' }))).Body!.transformToString()).toBe('copy me');
    expect(await s3Error(s3.send(new CopyObjectCommand({ Bucket: B, Key: 'src', CopySource: `${B}/src` })))).toEqual({ name: 'InvalidRequest', status: 400 });
    expect(await s3Error(s3.send(new CopyObjectCommand({ Bucket: B, Key: 'x', CopySource: `${B}/nope` })))).toEqual({ name: 'NoSuchKey', status: 404 });
  });

  it('deletes many objects at once, quiet and verbose', async () => {
    for (let i = 0; i < 5; i++) await s3.send(new PutObjectCommand({ Bucket: B, Key: `del/${i}`, Body: 'x' }));
    const r = await s3.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Objects: [{ Key: 'del/0' }, { Key: 'del/1' }, { Key: 'del/nope' }] } }));
    expect(r.Deleted!.map((d) => d.Key).sort()).toEqual(['del/0', 'del/1', 'del/nope']);
    const q = await s3.send(new DeleteObjectsCommand({ Bucket: B, Delete: { Quiet: true, Objects: [{ Key: 'del/2' }, { Key: 'del/3' }] } }));
    expect(q.Deleted ?? []).toEqual([]);
    const left = await s3.send(new ListObjectsV2Command({ Bucket: B, Prefix: 'del/' }));
    expect(left.Contents!.map((c) => c.Key)).toEqual(['del/4']);
  });

  it('refuses a second create with If-None-Match: *', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'once', Body: '1', IfNoneMatch: '*' }));
    expect(await s3Error(s3.send(new PutObjectCommand({ Bucket: B, Key: 'once', Body: '2', IfNoneMatch: '*' })))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await (await s3.send(new GetObjectCommand({ Bucket: B, Key: 'once' }))).Body!.transformToString()).toBe('1');
  });
});

describe('listing', () => {
  const LB = 'sdk-list';
  const keys = ['a', 'a/', 'a/b', 'a/b/c', 'a-', 'b/1', 'b/2', 'c', 'é', 'z/z', '\u{1F600}'];
  beforeAll(async () => {
    await s3.send(new CreateBucketCommand({ Bucket: LB }));
    await Promise.all(keys.map((Key) => s3.send(new PutObjectCommand({ Bucket: LB, Key, Body: Key }))));
  });

  it('lists in UTF-8 binary order', async () => {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: LB }));
    const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect(r.Contents!.map((c) => c.Key)).toEqual(sorted);
    expect(r.KeyCount).toBe(keys.length);
  });

  it('rolls up common prefixes with a delimiter', async () => {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: LB, Delimiter: '/' }));
    expect(r.Contents!.map((c) => c.Key)).toEqual(['a', 'a-', 'c', 'é', '\u{1F600}']);
    expect(r.CommonPrefixes!.map((c) => c.Prefix)).toEqual(['a/', 'b/', 'z/']);
    const sub = await s3.send(new ListObjectsV2Command({ Bucket: LB, Delimiter: '/', Prefix: 'a/' }));
    expect(sub.Contents!.map((c) => c.Key)).toEqual(['a/', 'a/b']);
    expect(sub.CommonPrefixes!.map((c) => c.Prefix)).toEqual(['a/b/']);
  });

  it('paginates with max-keys and continuation tokens, and with start-after', async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const r = await s3.send(new ListObjectsV2Command({ Bucket: LB, MaxKeys: 2, Delimiter: '/', ContinuationToken: token }));
      seen.push(...(r.Contents ?? []).map((c) => c.Key!), ...(r.CommonPrefixes ?? []).map((c) => c.Prefix!));
      expect((r.Contents?.length ?? 0) + (r.CommonPrefixes?.length ?? 0)).toBeLessThanOrEqual(2);
      token = r.NextContinuationToken;
      pages++;
    } while (token);
    expect(pages).toBe(4);
    expect(seen.sort()).toEqual(['a', 'a-', 'a/', 'b/', 'c', 'z/', 'é', '\u{1F600}'].sort());
    const after = await s3.send(new ListObjectsV2Command({ Bucket: LB, StartAfter: 'b/1' }));
    expect(after.Contents![0]!.Key).toBe('b/2');
  });

  it('lists with V1 markers', async () => {
    const r1 = await s3.send(new ListObjectsCommand({ Bucket: LB, MaxKeys: 3 }));
    expect(r1.IsTruncated).toBe(true);
    const last = r1.Contents!.at(-1)!.Key!;
    const r2 = await s3.send(new ListObjectsCommand({ Bucket: LB, Marker: last }));
    expect(r1.Contents!.length + r2.Contents!.length).toBe(keys.length);
  });

  it('url-encodes keys when asked', async () => {
    const r = await s3.send(new ListObjectsV2Command({ Bucket: LB, Prefix: 'é', EncodingType: 'url' }));
    // The JS SDK v3 hands the url-encoded key through as sent (botocore decodes it).
    expect(r.Contents!.map((c) => c.Key)).toEqual(['%C3%A9']);
    expect(r.EncodingType).toBe('url');
  });
});
