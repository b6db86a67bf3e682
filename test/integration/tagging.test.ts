// Object tagging (?tagging, x-amz-tagging on PutObject / CopyObject / CreateMultipartUpload,
// x-amz-tagging-count) and bucket tagging, through the SDK and signed raw requests.
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand,
  DeleteBucketTaggingCommand, DeleteObjectTaggingCommand, GetBucketTaggingCommand, GetObjectCommand,
  GetObjectTaggingCommand, PutBucketTaggingCommand, PutObjectCommand, PutObjectTaggingCommand, S3Client,
  S3ServiceException, UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { errorCode } from '../helpers/sign.js';
import { signedRequest } from '../helpers/signed.js';

let server: TestServer;
let s3: S3Client;
const B = 'tagging-test';

async function s3Error(p: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { name: e.name, status: e.$metadata.httpStatusCode, message: e.message };
    throw e;
  }
  throw new Error('expected an S3 error');
}

async function tagsOf(key: string): Promise<Record<string, string>> {
  const r = await s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: key }));
  return Object.fromEntries((r.TagSet ?? []).map((t) => [t.Key!, t.Value!]));
}

function taggingXml(tags: [string, string][]): string {
  return `<Tagging><TagSet>${tags.map(([k, v]) => `<Tag><Key>${k}</Key><Value>${v}</Value></Tag>`).join('')}</TagSet></Tagging>`;
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

describe('object tagging', () => {
  it('x-amz-tagging on PutObject sets the tags (form-encoded), counted on GET and HEAD', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'put', Body: 'x', Tagging: 'b=two+words&a=1&empty=&c=%2Fpath%3A%40' }));
    expect(await tagsOf('put')).toEqual({ a: '1', b: 'two words', c: '/path:@', empty: '' });
    const r = await s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'put' }));
    expect(r.TagSet!.map((t) => t.Key)).toEqual(['a', 'b', 'c', 'empty']);
    const g = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'put' }));
    expect(g.TagCount).toBe(4);
    await g.Body!.transformToString();
    const head = await signedRequest(server, 'HEAD', `/${B}/put`);
    expect(head.status).toBe(200);
    expect(head.headers['x-amz-tagging-count']).toBe('4');
  });

  it('PutObjectTagging replaces, an empty TagSet and DeleteObjectTagging (204) remove, and the object is untouched', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: B, Key: 'replace', Body: 'body', Tagging: 'old=1' }));
    await s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'replace', Tagging: { TagSet: [{ Key: 'new', Value: 'v' }, { Key: 'k2', Value: '' }] } }));
    expect(await tagsOf('replace')).toEqual({ new: 'v', k2: '' });
    const g = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'replace' }));
    expect(g.ETag).toBe(put.ETag);
    expect(await g.Body!.transformToString()).toBe('body');

    const empty = await signedRequest(server, 'PUT', `/${B}/replace`, { query: { tagging: '' }, body: '<Tagging><TagSet/></Tagging>' });
    expect(empty.status).toBe(200);
    expect(await tagsOf('replace')).toEqual({});
    const head = await signedRequest(server, 'HEAD', `/${B}/replace`);
    expect(head.headers['x-amz-tagging-count']).toBeUndefined();

    await s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'replace', Tagging: { TagSet: [{ Key: 'x', Value: 'y' }] } }));
    const del = await signedRequest(server, 'DELETE', `/${B}/replace`, { query: { tagging: '' } });
    expect(del.status).toBe(204);
    expect(await tagsOf('replace')).toEqual({});
  });

  it('GetObjectTagging answers the namespaced <Tagging> document', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'doc', Body: 'x', Tagging: 'k=v' }));
    const r = await signedRequest(server, 'GET', `/${B}/doc`, { query: { tagging: '' } });
    expect(r.status).toBe(200);
    expect(r.body).toContain('<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>');
  });

  it('an overwrite drops the old tags', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'over', Body: '1', Tagging: 'a=1' }));
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'over', Body: '2' }));
    expect(await tagsOf('over')).toEqual({});
  });

  it('a missing key is NoSuchKey 404 for Put, Get and Delete', async () => {
    expect(await s3Error(s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'nope', Tagging: { TagSet: [] } })))).toMatchObject({ name: 'NoSuchKey', status: 404 });
    expect(await s3Error(s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'nope' })))).toMatchObject({ name: 'NoSuchKey', status: 404 });
    expect(await s3Error(s3.send(new DeleteObjectTaggingCommand({ Bucket: B, Key: 'nope' })))).toMatchObject({ name: 'NoSuchKey', status: 404 });
  });

  it("S3's limits: 10 tags, 128/256 characters, allowed characters, unique keys, no aws: prefix", async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'limits', Body: 'x' }));
    const ten = Array.from({ length: 10 }, (_, i) => ({ Key: `k${i}`.padEnd(128, 'k'), Value: 'v'.repeat(256) }));
    await s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'limits', Tagging: { TagSet: ten } }));
    expect(Object.keys(await tagsOf('limits'))).toHaveLength(10);

    const cases: [{ Key: string; Value: string }[], string, string][] = [
      [[...ten, { Key: 'eleven', Value: '' }], 'BadRequest', 'Object tags cannot be greater than 10'],
      [[{ Key: 'k'.repeat(129), Value: '' }], 'InvalidTag', 'The TagKey you have provided is invalid'],
      [[{ Key: 'k', Value: 'v'.repeat(257) }], 'InvalidTag', 'The TagValue you have provided is invalid'],
      [[{ Key: 'bad{key}', Value: '' }], 'InvalidTag', 'The TagKey you have provided is invalid'],
      [[{ Key: 'aws:system', Value: '' }], 'InvalidTag', 'Your TagKey cannot be prefixed with aws:'],
      [[{ Key: 'dup', Value: '1' }, { Key: 'dup', Value: '2' }], 'InvalidTag', 'Cannot provide multiple Tags with the same key'],
    ];
    for (const [TagSet, name, message] of cases) {
      expect(await s3Error(s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: 'limits', Tagging: { TagSet } })))).toEqual({ name, status: 400, message });
    }
    // A refused update leaves the tags as they were.
    expect(Object.keys(await tagsOf('limits'))).toHaveLength(10);
  });

  it('x-amz-tagging that is not URL query parameters without duplicates: InvalidArgument; over the limits: as the document', async () => {
    for (const bad of ['a=1&a=2', 'TagSet=[{Key=string,Value=string}]', 'a=%E0%A4%A']) {
      const e = await s3Error(s3.send(new PutObjectCommand({ Bucket: B, Key: 'hdr', Body: 'x', Tagging: bad })));
      expect(e).toMatchObject({ name: 'InvalidArgument', status: 400 });
      expect(e.message).toBe("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.");
    }
    const eleven = Array.from({ length: 11 }, (_, i) => `k${i}=v`).join('&');
    expect(await s3Error(s3.send(new PutObjectCommand({ Bucket: B, Key: 'hdr', Body: 'x', Tagging: eleven })))).toMatchObject({ name: 'BadRequest', status: 400 });
    expect(await s3Error(s3.send(new PutObjectCommand({ Bucket: B, Key: 'hdr', Body: 'x', Tagging: `${'k'.repeat(129)}=v` })))).toMatchObject({ name: 'InvalidTag', status: 400 });
    expect(await s3Error(s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'hdr' })))).toMatchObject({ name: 'NoSuchKey' });
  });

  it('malformed documents: MalformedXML; no Content-MD5 or checksum: InvalidRequest', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'xml', Body: 'x' }));
    for (const body of ['<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>', '<Tagging></Tagging>', '<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Other/></Tag></TagSet></Tagging>', 'not xml']) {
      const r = await signedRequest(server, 'PUT', `/${B}/xml`, { query: { tagging: '' }, body });
      expect([r.status, errorCode(r.body)]).toEqual([400, 'MalformedXML']);
    }
    const r = await signedRequest(server, 'PUT', `/${B}/xml`, { query: { tagging: '' }, body: taggingXml([['a', 'b']]), md5: false });
    expect([r.status, errorCode(r.body)]).toEqual([400, 'InvalidRequest']);
    expect(r.body).toContain('Missing required header for this request: Content-MD5');
    expect(await tagsOf('xml')).toEqual({});
  });

  it('CopyObject keeps the source tags (COPY, the default) or takes x-amz-tagging (REPLACE)', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'src', Body: 'source', Tagging: 'from=source' }));
    await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'copy-default', CopySource: `${B}/src`, Tagging: 'ignored=1' }));
    expect(await tagsOf('copy-default')).toEqual({ from: 'source' });
    await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'copy-replace', CopySource: `${B}/src`, TaggingDirective: 'REPLACE', Tagging: 'to=dest' }));
    expect(await tagsOf('copy-replace')).toEqual({ to: 'dest' });
    await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'copy-clear', CopySource: `${B}/src`, TaggingDirective: 'REPLACE' }));
    expect(await tagsOf('copy-clear')).toEqual({});
    const bad = await signedRequest(server, 'PUT', `/${B}/copy-bad`, { headers: { 'x-amz-copy-source': `${B}/src`, 'x-amz-tagging-directive': 'MERGE' } });
    expect([bad.status, errorCode(bad.body)]).toEqual([400, 'InvalidArgument']);
    expect(bad.body).toContain('Unknown tagging directive.');
  });

  it('CreateMultipartUpload with x-amz-tagging: the completed object has the tags', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'mpu', Tagging: 'stage=raw&team=data' }));
    const part = await s3.send(new UploadPartCommand({ Bucket: B, Key: 'mpu', UploadId, PartNumber: 1, Body: 'only part' }));
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'mpu', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
    expect(await tagsOf('mpu')).toEqual({ stage: 'raw', team: 'data' });
  });

  it('tag updates racing overwrites never mix: every final state is one a request produced', async () => {
    const key = 'race';
    await s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: 'v0' }));
    const ops: Promise<unknown>[] = [];
    for (let i = 1; i <= 20; i++) {
      ops.push(s3.send(new PutObjectTaggingCommand({ Bucket: B, Key: key, Tagging: { TagSet: [{ Key: 'n', Value: String(i) }] } })));
      if (i % 5 === 0) ops.push(s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: `v${i}`, Tagging: `n=put${i}` })));
    }
    await Promise.all(ops);
    const g = await s3.send(new GetObjectCommand({ Bucket: B, Key: key }));
    const body = await g.Body!.transformToString();
    expect(body).toMatch(/^v(5|10|15|20)$/);
    const n = (await tagsOf(key)).n!;
    // Either a tagging call that ran after the last overwrite, or that overwrite's own tags.
    expect(n === `put${body.slice(1)}` || /^\d+$/.test(n)).toBe(true);
    expect(g.TagCount).toBe(1);
  });
});

describe('bucket tagging', () => {
  it('NoSuchTagSet 404 until set; Put 204, Get, Delete 204', async () => {
    expect(await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket: B })))).toMatchObject({ name: 'NoSuchTagSet', status: 404 });
    const put = await signedRequest(server, 'PUT', `/${B}`, { query: { tagging: '' }, body: taggingXml([['env', 'test'], ['owner', 'akko']]) });
    expect(put.status).toBe(204);
    const r = await s3.send(new GetBucketTaggingCommand({ Bucket: B }));
    expect(r.TagSet).toEqual([{ Key: 'env', Value: 'test' }, { Key: 'owner', Value: 'akko' }]);
    await s3.send(new PutBucketTaggingCommand({ Bucket: B, Tagging: { TagSet: [{ Key: 'only', Value: 'one' }] } }));
    expect((await s3.send(new GetBucketTaggingCommand({ Bucket: B }))).TagSet).toEqual([{ Key: 'only', Value: 'one' }]);
    const del = await s3.send(new DeleteBucketTaggingCommand({ Bucket: B }));
    expect(del.$metadata.httpStatusCode).toBe(204);
    expect(await s3Error(s3.send(new GetBucketTaggingCommand({ Bucket: B })))).toMatchObject({ name: 'NoSuchTagSet', status: 404 });
  });
});
