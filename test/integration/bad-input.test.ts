// Bad input over real sockets: each case gets the exact S3 error and leaves stored data as it was.
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { errorCode, rawRequest, sha256hex, signedChunkedPut, signer } from '../helpers/sign.js';

let server: TestServer;
let s3: S3Client;
const B = 'akko-rag';
const ORIGINAL = 'original bytes';

async function stored(key = 'victim'): Promise<string> {
  const r = await s3.send(new GetObjectCommand({ Bucket: B, Key: key }));
  return r.Body!.transformToString();
}

async function signedRaw(method: string, path: string, opts: { headers?: Record<string, string>; body?: string; secret?: string; date?: Date; query?: Record<string, string>; region?: string } = {}) {
  const u = new URL(server.s3);
  const body = opts.body ?? '';
  const headers: Record<string, string> = { host: u.host, 'x-amz-content-sha256': sha256hex(body), ...opts.headers };
  const sig = signer(server.accessKey, opts.secret ?? server.secretKey, opts.region);
  const req = await sig.sign({ method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path, query: opts.query ?? {}, headers }, { signingDate: opts.date });
  const qs = new URLSearchParams(opts.query ?? {}).toString();
  return rawRequest(server.s3, method, path + (qs ? `?${qs}` : ''), req.headers as Record<string, string>, body);
}

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'victim', Body: ORIGINAL }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

describe('signatures', () => {
  it('a wrong secret: SignatureDoesNotMatch 403, object untouched', async () => {
    const r = await signedRaw('PUT', `/${B}/victim`, { body: 'evil', secret: 'not-the-secret' });
    expect([r.status, errorCode(r.body)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(r.headers['x-amz-request-id']).toBeTruthy();
    expect(await stored()).toBe(ORIGINAL);
  });

  it('an unknown access key: InvalidAccessKeyId 403', async () => {
    const u = new URL(server.s3);
    const req = await signer('AKIAUNKNOWN00000000', 'x').sign({ method: 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: '/', headers: { host: u.host, 'x-amz-content-sha256': sha256hex('') } });
    const r = await rawRequest(server.s3, 'GET', '/', req.headers as Record<string, string>);
    expect([r.status, errorCode(r.body)]).toEqual([403, 'InvalidAccessKeyId']);
  });

  it('a body that does not match x-amz-content-sha256: XAmzContentSHA256Mismatch 400', async () => {
    const u = new URL(server.s3);
    const headers = { host: u.host, 'x-amz-content-sha256': sha256hex('declared') };
    const req = await signer(server.accessKey, server.secretKey).sign({ method: 'PUT', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: `/${B}/victim`, headers });
    const r = await rawRequest(server.s3, 'PUT', `/${B}/victim`, req.headers as Record<string, string>, 'different');
    expect([r.status, errorCode(r.body)]).toEqual([400, 'XAmzContentSHA256Mismatch']);
    expect(await stored()).toBe(ORIGINAL);
  });

  it('a clock 20 minutes off: RequestTimeTooSkewed 403', async () => {
    const r = await signedRaw('PUT', `/${B}/victim`, { body: 'late', date: new Date(Date.now() - 20 * 60_000) });
    expect([r.status, errorCode(r.body)]).toEqual([403, 'RequestTimeTooSkewed']);
    expect(await stored()).toBe(ORIGINAL);
  });

  it('any region in the credential scope is accepted and verified', async () => {
    const r = await signedRaw('GET', `/${B}/victim`, { region: 'us-east-1' });
    expect(r.status).toBe(200);
    expect(r.body).toBe(ORIGINAL);
  });

  it('a tampered signed header after signing: SignatureDoesNotMatch', async () => {
    const u = new URL(server.s3);
    const headers = { host: u.host, 'x-amz-content-sha256': sha256hex('evil'), 'x-amz-meta-a': 'signed' };
    const req = await signer(server.accessKey, server.secretKey).sign({ method: 'PUT', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: `/${B}/victim`, headers });
    const r = await rawRequest(server.s3, 'PUT', `/${B}/victim`, { ...(req.headers as Record<string, string>), 'x-amz-meta-a': 'changed' }, 'evil');
    expect([r.status, errorCode(r.body)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(await stored()).toBe(ORIGINAL);
  });
});

describe('presigned URLs', () => {
  it('work within their lifetime', async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'victim' }), { expiresIn: 60 });
    const u = new URL(url);
    const r = await rawRequest(server.s3, 'GET', u.pathname + u.search, {});
    expect(r.status).toBe(200);
    expect(r.body).toBe(ORIGINAL);
  });

  it('expired: AccessDenied 403', async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'victim' }), { expiresIn: 1, signingDate: new Date(Date.now() - 60_000) });
    const u = new URL(url);
    const r = await rawRequest(server.s3, 'GET', u.pathname + u.search, {});
    expect([r.status, errorCode(r.body)]).toEqual([403, 'AccessDenied']);
    expect(r.body).toContain('Request has expired');
  });

  it('longer than 7 days: AuthorizationQueryParametersError 400', async () => {
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket: B, Key: 'victim' }), { expiresIn: 60 });
    const u = new URL(url);
    u.searchParams.set('X-Amz-Expires', '604801');
    const r = await rawRequest(server.s3, 'GET', u.pathname + u.search, {});
    expect(r.status).toBe(400);
    expect(errorCode(r.body)).toBe('AuthorizationQueryParametersError');
  });

  it('a presigned PUT with a tampered key: SignatureDoesNotMatch', async () => {
    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: B, Key: 'other' }), { expiresIn: 60 });
    const u = new URL(url);
    const r = await rawRequest(server.s3, 'PUT', u.pathname.replace('other', 'victim') + u.search, { 'content-length': '4' }, 'evil');
    expect([r.status, errorCode(r.body)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(await stored()).toBe(ORIGINAL);
  });
});

describe('aws-chunked bodies', () => {
  const base = () => ({ base: server.s3, path: `/${B}/victim`, accessKey: server.accessKey, secret: server.secretKey });

  it('signed chunks are accepted', async () => {
    const r = await signedChunkedPut({ ...base(), path: `/${B}/chunked-ok`, chunks: [Buffer.alloc(65536, 'a'), Buffer.from('tail')] });
    expect(r.status).toBe(200);
    expect(await stored('chunked-ok')).toBe('a'.repeat(65536) + 'tail');
  });

  it('a tampered chunk signature: SignatureDoesNotMatch, object untouched', async () => {
    const r = await signedChunkedPut({
      ...base(), chunks: [Buffer.alloc(65536, 'e'), Buffer.from('tail')],
      tamper: (frames) => { frames[1] = Buffer.from(frames[1]!.toString('latin1').replace(/chunk-signature=([0-9a-f])/, (_m, c) => `chunk-signature=${c === '0' ? '1' : '0'}`), 'latin1'); },
    });
    expect([r.status, errorCode(r.body)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(await stored()).toBe(ORIGINAL);
  });

  it('a tampered chunk byte: SignatureDoesNotMatch, object untouched', async () => {
    const r = await signedChunkedPut({
      ...base(), chunks: [Buffer.alloc(1000, 'e')],
      tamper: (frames) => { const f = frames[0]!; f[f.length - 10] ^= 1; },
    });
    expect([r.status, errorCode(r.body)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect(await stored()).toBe(ORIGINAL);
  });

  it('a wrong trailing checksum: BadDigest, object untouched', async () => {
    const r = await signedChunkedPut({
      ...base(), chunks: [Buffer.from('evil')],
      trailer: { name: 'x-amz-checksum-crc32', value: Buffer.from([0, 0, 0, 0]).toString('base64') },
    });
    expect([r.status, errorCode(r.body)]).toEqual([400, 'BadDigest']);
    expect(await stored()).toBe(ORIGINAL);
  });

  it('a correct trailing checksum is accepted and stored', async () => {
    const { crc32 } = await import('node:zlib');
    const value = Buffer.alloc(4);
    value.writeUInt32BE(crc32('good body'));
    const r = await signedChunkedPut({ ...base(), path: `/${B}/trailer-ok`, chunks: [Buffer.from('good body')], trailer: { name: 'x-amz-checksum-crc32', value: value.toString('base64') } });
    expect(r.status).toBe(200);
    expect(r.headers['x-amz-checksum-crc32']).toBe(value.toString('base64'));
  });
});

describe('names', () => {
  it('bad bucket names: InvalidBucketName', async () => {
    for (const name of ['Bad_Name', 'ab', 'a..b']) {
      const r = await signedRaw('PUT', `/${name}`);
      expect([name, r.status, errorCode(r.body)]).toEqual([name, 400, 'InvalidBucketName']);
    }
  });

  it('a key over 1024 bytes: KeyTooLongError', async () => {
    const r = await signedRaw('PUT', `/${B}/${'k'.repeat(1025)}`, { body: 'x' });
    expect([r.status, errorCode(r.body)]).toEqual([400, 'KeyTooLongError']);
  });

  it('wrong Content-MD5: BadDigest, object untouched', async () => {
    const r = await signedRaw('PUT', `/${B}/victim`, { body: 'evil', headers: { 'content-md5': Buffer.alloc(16).toString('base64') } });
    expect([r.status, errorCode(r.body)]).toEqual([400, 'BadDigest']);
    expect(await stored()).toBe(ORIGINAL);
  });

  it('keys with .., %00 and %2F are data, not paths', async () => {
    for (const key of ['../../etc/passwd', 'a/../victim', 'nul%00byte', '%2Fslash']) {
      const r = await signedRaw('PUT', `/${B}/${key}`, { body: `v:${key}` });
      expect([key, r.status]).toEqual([key, 200]);
      const g = await signedRaw('GET', `/${B}/${key}`);
      expect(g.body).toBe(`v:${key}`);
    }
    expect(await stored()).toBe(ORIGINAL);
  });

  it('invalid percent-encoding: InvalidURI', async () => {
    const r = await signedRaw('GET', `/${B}/bad%ZZkey`);
    expect([r.status, errorCode(r.body)]).toEqual([400, 'InvalidURI']);
  });
});
