// POST Object: browser form uploads with a SigV4-signed POST policy, built by hand and by
// @aws-sdk/s3-presigned-post, submitted with fetch + FormData as a browser would, read back with
// the SDK.
import { CreateBucketCommand, GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { createPresignedPost } from '@aws-sdk/s3-presigned-post';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { errorCode, hmac, signingKey } from '../helpers/sign.js';

let server: TestServer;
let s3: S3Client;
const B = 'post-object-test';
const ALG = 'AWS4-HMAC-SHA256';

type Condition = Record<string, string> | (string | number)[];

interface SignOptions {
  expiration?: Date;
  secret?: string;
  accessKey?: string;
  /** Conditions for the SigV4 fields are added unless false. */
  authConditions?: boolean;
}

/** The SigV4 fields of a signed POST policy (sigv4-authentication-HTTPPOST). */
function signPolicy(conditions: Condition[], opts: SignOptions = {}): [string, string][] {
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const credential = `${opts.accessKey ?? server.accessKey}/${date}/${server.region}/s3/aws4_request`;
  const all = opts.authConditions === false ? conditions : [...conditions, { 'x-amz-algorithm': ALG }, { 'x-amz-credential': credential }, { 'x-amz-date': amzDate }];
  const policy = Buffer.from(JSON.stringify({ expiration: (opts.expiration ?? new Date(Date.now() + 600_000)).toISOString(), conditions: all })).toString('base64');
  const signature = hmac(signingKey(opts.secret ?? server.secretKey, date, server.region), policy).toString('hex');
  return [['X-Amz-Algorithm', ALG], ['X-Amz-Credential', credential], ['X-Amz-Date', amzDate], ['Policy', policy], ['X-Amz-Signature', signature]];
}

interface FilePart { content: string | Buffer; filename?: string; type?: string }

function form(fields: [string, string][], file?: FilePart, after: [string, string][] = []): FormData {
  const fd = new FormData();
  for (const [k, v] of fields) fd.append(k, v);
  if (file) fd.append('file', new Blob([file.content], { type: file.type ?? 'application/octet-stream' }), file.filename ?? 'upload.bin');
  for (const [k, v] of after) fd.append(k, v);
  return fd;
}

function post(body: FormData | string, headers: Record<string, string> = {}, bucket = B): Promise<Response> {
  return fetch(`${server.s3}/${bucket}`, { method: 'POST', body, headers, redirect: 'manual' });
}

async function errorOf(r: Response): Promise<{ status: number; code?: string; message?: string; body: string }> {
  const body = await r.text();
  return { status: r.status, code: errorCode(body), message: /<Message>([^<]*)<\/Message>/.exec(body)?.[1], body };
}

async function read(key: string): Promise<string> {
  const r = await s3.send(new GetObjectCommand({ Bucket: B, Key: key }));
  return r.Body!.transformToString();
}

async function missing(key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: B, Key: key }));
    return false;
  } catch (e) {
    if (e instanceof S3ServiceException && e.$metadata.httpStatusCode === 404) return true;
    throw e;
  }
}

const md5 = (s: string | Buffer) => `"${createHash('md5').update(s).digest('hex')}"`;

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  await s3.send(new CreateBucketCommand({ Bucket: B }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

describe('POST Object with a hand-signed policy', () => {
  it('stores the file (204, ETag, Location) with the form\'s content type and metadata, encrypted like a PUT', async () => {
    const fields: [string, string][] = [
      ['key', 'uploads/plain.txt'],
      ['Content-Type', 'text/plain'],
      ['x-amz-meta-Owner', 'browser'],
      ...signPolicy([{ bucket: B }, ['starts-with', '$key', 'uploads/'], ['eq', '$Content-Type', 'text/plain'], ['starts-with', '$x-amz-meta-owner', '']]),
    ];
    const r = await post(form(fields, { content: 'hello from a form', type: 'image/png' }));
    expect(r.status).toBe(204);
    expect(await r.text()).toBe('');
    expect(r.headers.get('etag')).toBe(md5('hello from a form'));
    expect(r.headers.get('location')).toBe(`${server.s3}/${B}/uploads%2Fplain.txt`);
    expect(r.headers.get('x-amz-checksum-crc64nvme')).toBeTruthy();
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'uploads/plain.txt' }));
    expect(head.ContentType).toBe('text/plain');
    expect(head.Metadata).toEqual({ owner: 'browser' });
    expect(head.ServerSideEncryption).toBe('aws:kms');
    expect(await read('uploads/plain.txt')).toBe('hello from a form');
  });

  it('${filename} in the key is the file part\'s name; fields after the file are ignored', async () => {
    const fields: [string, string][] = [['key', 'user/${filename}'], ...signPolicy([{ bucket: B }, ['starts-with', '$key', 'user/']])];
    const r = await post(form(fields, { content: 'named', filename: 'report.csv' }, [['x-amz-meta-late', 'ignored']]));
    expect(r.status).toBe(204);
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'user/report.csv' }));
    expect(head.Metadata).toEqual({});
    expect(head.ContentType).toBe('binary/octet-stream');
  });

  it('success_action_status 201 answers a <PostResponse>; 200 an empty 200; anything else 204', async () => {
    const key = 'status/created';
    const fields = (status: string): [string, string][] => [['key', key], ['success_action_status', status], ...signPolicy([{ bucket: B }, { key }, ['starts-with', '$success_action_status', '']])];
    const created = await post(form(fields('201'), { content: 'c' }));
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toBe('application/xml');
    expect(await created.text()).toBe(`<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Location>${server.s3}/${B}/status%2Fcreated</Location><Bucket>${B}</Bucket><Key>${key}</Key><ETag>${md5('c').replace(/"/g, '&quot;')}</ETag></PostResponse>`);
    const ok = await post(form(fields('200'), { content: 'c' }));
    expect([ok.status, await ok.text()]).toEqual([200, '']);
    const other = await post(form(fields('404'), { content: 'c' }));
    expect(other.status).toBe(204);
  });

  it('success_action_redirect: 303 to it with bucket, key and etag appended', async () => {
    const key = 'redirect/a b.txt';
    const target = 'http://app.example.test/done?from=form';
    const fields: [string, string][] = [['key', key], ['success_action_redirect', target], ...signPolicy([{ bucket: B }, { key }, { success_action_redirect: target }])];
    const r = await post(form(fields, { content: 'r' }));
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe(`${target}&bucket=${B}&key=redirect%2Fa+b.txt&etag=${encodeURIComponent(md5('r'))}`);
    expect(await read(key)).toBe('r');
  });

  it('content-length-range: larger is EntityTooLarge, smaller EntityTooSmall (400), bounds inclusive; nothing stored', async () => {
    const fields = (key: string): [string, string][] => [['key', key], ...signPolicy([{ bucket: B }, { key }, ['content-length-range', 5, 10]])];
    const big = await errorOf(await post(form(fields('size/big'), { content: 'x'.repeat(12) })));
    expect([big.status, big.code, big.message]).toEqual([400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size']);
    expect(big.body).toContain('<ProposedSize>12</ProposedSize><MaxSizeAllowed>10</MaxSizeAllowed>');
    expect(await missing('size/big')).toBe(true);
    const small = await errorOf(await post(form(fields('size/small'), { content: 'x' })));
    expect([small.status, small.code, small.message]).toEqual([400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size']);
    expect(small.body).toContain('<ProposedSize>1</ProposedSize><MinSizeAllowed>5</MinSizeAllowed>');
    expect(await missing('size/small')).toBe(true);
    for (const n of [5, 10]) expect((await post(form(fields(`size/${n}`), { content: 'x'.repeat(n) }))).status).toBe(204);
  });

  it('a failed condition, an uncovered field, an expired policy: 403 AccessDenied "Invalid according to Policy: ..."', async () => {
    const wrongKey = await errorOf(await post(form([['key', 'elsewhere/x'], ...signPolicy([{ bucket: B }, ['starts-with', '$key', 'uploads/']])], { content: 'x' })));
    expect([wrongKey.status, wrongKey.code, wrongKey.message]).toEqual([403, 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: [&quot;starts-with&quot;, &quot;$key&quot;, &quot;uploads/&quot;]']);

    const wrongBucket = await errorOf(await post(form([['key', 'k'], ...signPolicy([{ bucket: 'another-bucket' }, { key: 'k' }])], { content: 'x' })));
    expect([wrongBucket.status, wrongBucket.message]).toEqual([403, 'Invalid according to Policy: Policy Condition failed: [&quot;eq&quot;, &quot;$bucket&quot;, &quot;another-bucket&quot;]']);

    const extra = await errorOf(await post(form([['key', 'k'], ['x-amz-meta-Extra', 'v'], ...signPolicy([{ bucket: B }, { key: 'k' }])], { content: 'x' })));
    expect([extra.status, extra.code, extra.message]).toEqual([403, 'AccessDenied', 'Invalid according to Policy: Extra input fields: x-amz-meta-Extra']);

    const expired = await errorOf(await post(form([['key', 'k'], ...signPolicy([{ bucket: B }, { key: 'k' }], { expiration: new Date(Date.now() - 1000) })], { content: 'x' })));
    expect([expired.status, expired.code, expired.message]).toEqual([403, 'AccessDenied', 'Invalid according to Policy: Policy expired.']);
    expect(await missing('k')).toBe(true);
  });

  it('signature faults: SignatureDoesNotMatch / InvalidAccessKeyId 403; a missing field 400 InvalidArgument; no policy is anonymous 403', async () => {
    const conditions: Condition[] = [{ bucket: B }, { key: 'auth' }];
    const badSig = await errorOf(await post(form([['key', 'auth'], ...signPolicy(conditions, { secret: 'not-the-secret' })], { content: 'x' })));
    expect([badSig.status, badSig.code]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(badSig.body).toContain('<StringToSign>');

    const unknown = await errorOf(await post(form([['key', 'auth'], ...signPolicy(conditions, { accessKey: 'AKIAUNKNOWN000000000' })], { content: 'x' })));
    expect([unknown.status, unknown.code]).toEqual([403, 'InvalidAccessKeyId']);

    const noSig = await errorOf(await post(form([['key', 'auth'], ...signPolicy(conditions).filter(([k]) => k !== 'X-Amz-Signature')], { content: 'x' })));
    expect([noSig.status, noSig.code, noSig.message]).toEqual([400, 'InvalidArgument', "Bucket POST must contain a field named &apos;X-Amz-Signature&apos;.  If it is specified, please check the order of the fields."]);

    const noKey = await errorOf(await post(form(signPolicy(conditions), { content: 'x' })));
    expect([noKey.status, noKey.code]).toEqual([400, 'InvalidArgument']);
    expect(noKey.body).toContain('<ArgumentName>key</ArgumentName>');

    const anonymous = await errorOf(await post(form([['key', 'auth']], { content: 'x' })));
    expect([anonymous.status, anonymous.code]).toEqual([403, 'AccessDenied']);
    expect(await missing('auth')).toBe(true);
  });

  it('form faults: not multipart 412 PreconditionFailed; no file 400; a policy that is not JSON 400 InvalidPolicyDocument', async () => {
    const notForm = await errorOf(await post('key=x', { 'content-type': 'application/x-www-form-urlencoded' }));
    expect([notForm.status, notForm.code]).toEqual([412, 'PreconditionFailed']);
    expect(notForm.body).toContain('<Condition>Bucket POST must be of the enclosure-type multipart/form-data</Condition>');

    const noFile = await errorOf(await post(form([['key', 'nofile'], ...signPolicy([{ bucket: B }, { key: 'nofile' }])])));
    expect([noFile.status, noFile.code, noFile.message]).toEqual([400, 'InvalidArgument', 'POST requires exactly one file upload per request.']);

    const fields = signPolicy([{ bucket: B }, { key: 'json' }]);
    const policy = Buffer.from('{"expiration": "2099-01-01T00:00:00Z", "conditions": [').toString('base64');
    const date = fields.find(([k]) => k === 'X-Amz-Date')![1].slice(0, 8);
    const signature = hmac(signingKey(server.secretKey, date, server.region), policy).toString('hex');
    const broken = fields.map(([k, v]): [string, string] => (k === 'Policy' ? [k, policy] : k === 'X-Amz-Signature' ? [k, signature] : [k, v]));
    const bad = await errorOf(await post(form([['key', 'json'], ...broken], { content: 'x' })));
    expect([bad.status, bad.code, bad.message]).toEqual([400, 'InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.']);
  });

  it('a `tagging` field sets the object\'s tags', async () => {
    const tagging = '<Tagging><TagSet><Tag><Key>src</Key><Value>form</Value></Tag></TagSet></Tagging>';
    const r = await post(form([['key', 'tagged'], ['tagging', tagging], ...signPolicy([{ bucket: B }, { key: 'tagged' }, { tagging }])], { content: 't' }));
    expect(r.status).toBe(204);
    expect((await s3.send(new GetObjectTaggingCommand({ Bucket: B, Key: 'tagged' }))).TagSet).toEqual([{ Key: 'src', Value: 'form' }]);
  });
});

describe('POST Object with @aws-sdk/s3-presigned-post', () => {
  it('createPresignedPost, then fetch + FormData, then GetObject: the same bytes (3 MiB, streamed and encrypted)', async () => {
    const data = randomBytes(3 * 1024 * 1024);
    const { url, fields } = await createPresignedPost(s3, {
      Bucket: B,
      Key: 'sdk/${filename}',
      Conditions: [['content-length-range', 1, 4 * 1024 * 1024], ['starts-with', '$Content-Type', 'application/']],
      Fields: { 'Content-Type': 'application/x-parquet' },
      Expires: 300,
    });
    expect(url).toBe(`${server.s3}/${B}`);
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) fd.append(k, v);
    fd.append('file', new Blob([data]), 'part-0001.parquet');
    const r = await fetch(url, { method: 'POST', body: fd });
    expect(r.status).toBe(204);
    expect(r.headers.get('etag')).toBe(md5(data));
    const got = await s3.send(new GetObjectCommand({ Bucket: B, Key: 'sdk/part-0001.parquet' }));
    expect(got.ContentType).toBe('application/x-parquet');
    expect(got.ServerSideEncryption).toBe('aws:kms');
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(data)).toBe(true);
  });

  it('the same presigned form refuses a file over its content-length-range', async () => {
    const { url, fields } = await createPresignedPost(s3, { Bucket: B, Key: 'sdk/limited', Conditions: [['content-length-range', 0, 1024]] });
    const fd = new FormData();
    for (const [k, v] of Object.entries(fields)) fd.append(k, v);
    fd.append('file', new Blob([Buffer.alloc(2048)]), 'big.bin');
    const e = await errorOf(await fetch(url, { method: 'POST', body: fd }));
    expect([e.status, e.code]).toEqual([400, 'EntityTooLarge']);
    expect(await missing('sdk/limited')).toBe(true);
  });
});
