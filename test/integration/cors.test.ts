// Bucket CORS: the configuration (?cors), preflight OPTIONS as a browser sends it (no
// credentials, raw http), and the CORS headers on actual responses.
import { CreateBucketCommand, DeleteBucketCorsCommand, GetBucketCorsCommand, PutBucketCorsCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { errorCode, rawRequest, type RawResponse } from '../helpers/sign.js';
import { signedRequest } from '../helpers/signed.js';

let server: TestServer;
let s3: S3Client;
const B = 'cors-test';
const OPEN = 'cors-open';
const BARE = 'cors-none';

const CORS_HEADERS = ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-allow-credentials', 'access-control-expose-headers', 'access-control-max-age', 'vary'];

function corsOf(r: RawResponse): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const h of CORS_HEADERS) if (r.headers[h] !== undefined) out[h] = String(r.headers[h]);
  return out;
}

function preflight(path: string, headers: Record<string, string>): Promise<RawResponse> {
  return rawRequest(server.s3, 'OPTIONS', path, headers);
}

function message(body: string): string | undefined {
  return /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
}

async function s3Error(p: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { name: e.name, status: e.$metadata.httpStatusCode };
    throw e;
  }
  throw new Error('expected an S3 error');
}

const VARY = 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method';
const NOT_ALLOWED = 'CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource&apos;s CORS spec.';

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  for (const b of [B, OPEN, BARE]) await s3.send(new CreateBucketCommand({ Bucket: b }));
  await s3.send(new PutObjectCommand({ Bucket: B, Key: 'obj', Body: 'hello' }));
  await s3.send(new PutObjectCommand({ Bucket: OPEN, Key: 'obj', Body: 'open' }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

describe('before any configuration', () => {
  it('GetBucketCors is NoSuchCORSConfiguration 404', async () => {
    expect(await s3Error(s3.send(new GetBucketCorsCommand({ Bucket: BARE })))).toEqual({ name: 'NoSuchCORSConfiguration', status: 404 });
  });

  it('a preflight is 403 AccessForbidden "CORS is not enabled for this bucket."; without Origin 400 BadRequest; no bucket "Bucket not found"', async () => {
    const r = await preflight(`/${BARE}/obj`, { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' });
    expect([r.status, errorCode(r.body), message(r.body)]).toEqual([403, 'AccessForbidden', 'CORSResponse: CORS is not enabled for this bucket.']);
    expect(r.body).toContain('<Method>PUT</Method><ResourceType>BUCKET</ResourceType>');
    expect(corsOf(r)).toEqual({});

    const noOrigin = await preflight(`/${BARE}/obj`, { 'access-control-request-method': 'PUT' });
    expect([noOrigin.status, errorCode(noOrigin.body), message(noOrigin.body)]).toEqual([400, 'BadRequest', 'Insufficient information. Origin request header needed.']);

    const noBucket = await preflight('/no-such-bucket-here/obj', { origin: 'https://app.example.com', 'access-control-request-method': 'GET' });
    expect([noBucket.status, errorCode(noBucket.body), message(noBucket.body)]).toEqual([403, 'AccessForbidden', 'CORSResponse: Bucket not found']);
  });

  it('an actual request with an Origin gets no CORS headers', async () => {
    const r = await signedRequest(server, 'GET', `/${BARE}`, { unsigned: { origin: 'https://app.example.com' } });
    expect(r.status).toBe(200);
    expect(corsOf(r)).toEqual({});
  });
});

describe('with rules', () => {
  beforeAll(async () => {
    await s3.send(new PutBucketCorsCommand({
      Bucket: B,
      CORSConfiguration: {
        CORSRules: [
          { ID: 'uploads', AllowedOrigins: ['https://*.example.com'], AllowedMethods: ['PUT', 'POST', 'GET'], AllowedHeaders: ['content-type', 'x-amz-*'], ExposeHeaders: ['ETag', 'x-amz-request-id'], MaxAgeSeconds: 600 },
          { AllowedOrigins: ['http://localhost:3000'], AllowedMethods: ['GET', 'HEAD'] },
        ],
      },
    }));
    await s3.send(new PutBucketCorsCommand({ Bucket: OPEN, CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['*'], AllowedMethods: ['GET'] }] } }));
  });

  it('GetBucketCors gives the rules back', async () => {
    const r = await s3.send(new GetBucketCorsCommand({ Bucket: B }));
    expect(r.CORSRules).toEqual([
      { ID: 'uploads', AllowedOrigins: ['https://*.example.com'], AllowedMethods: ['PUT', 'POST', 'GET'], AllowedHeaders: ['content-type', 'x-amz-*'], ExposeHeaders: ['ETag', 'x-amz-request-id'], MaxAgeSeconds: 600 },
      { AllowedOrigins: ['http://localhost:3000'], AllowedMethods: ['GET', 'HEAD'] },
    ]);
  });

  it('an allowed preflight: 200, empty body, the CORS headers of the first matching rule', async () => {
    const r = await preflight(`/${B}/some/new-object`, {
      origin: 'https://app.example.com',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'Content-Type,X-Amz-Meta-Owner, x-amz-date',
    });
    expect(r.status).toBe(200);
    expect(r.body).toBe('');
    expect(corsOf(r)).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-methods': 'PUT, POST, GET',
      'access-control-allow-headers': 'content-type, x-amz-meta-owner, x-amz-date',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'ETag, x-amz-request-id',
      'access-control-max-age': '600',
      vary: VARY,
    });
    const local = await preflight(`/${B}`, { origin: 'http://localhost:3000', 'access-control-request-method': 'HEAD' });
    expect(local.status).toBe(200);
    expect(corsOf(local)).toEqual({ 'access-control-allow-origin': 'http://localhost:3000', 'access-control-allow-methods': 'GET, HEAD', 'access-control-allow-credentials': 'true', vary: VARY });
  });

  it('refused preflights: 403 AccessForbidden "This CORS request is not allowed", no CORS headers', async () => {
    const refused: [string, Record<string, string>, string][] = [
      ['another origin', { origin: 'https://evil.test', 'access-control-request-method': 'GET' }, 'GET'],
      ['a scheme that differs', { origin: 'http://app.example.com', 'access-control-request-method': 'GET' }, 'GET'],
      ['a method not allowed', { origin: 'https://app.example.com', 'access-control-request-method': 'DELETE' }, 'DELETE'],
      ['a header not allowed', { origin: 'https://app.example.com', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type,authorization' }, 'PUT'],
      ['headers where the rule allows none', { origin: 'http://localhost:3000', 'access-control-request-method': 'GET', 'access-control-request-headers': 'x-custom' }, 'GET'],
      ['no requested method', { origin: 'https://app.example.com' }, 'OPTIONS'],
    ];
    for (const [why, headers, method] of refused) {
      const r = await preflight(`/${B}/obj`, headers);
      expect([why, r.status, errorCode(r.body), message(r.body)]).toEqual([why, 403, 'AccessForbidden', NOT_ALLOWED]);
      expect(r.body).toContain(`<Method>${method}</Method><ResourceType>OBJECT</ResourceType>`);
      expect(corsOf(r)).toEqual({});
    }
  });

  it('an actual GET from an allowed Origin carries the headers; from another origin none, and no Vary', async () => {
    const ok = await signedRequest(server, 'GET', `/${B}/obj`, { unsigned: { origin: 'https://www.example.com' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('hello');
    expect(corsOf(ok)).toEqual({
      'access-control-allow-origin': 'https://www.example.com',
      'access-control-allow-methods': 'PUT, POST, GET',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'ETag, x-amz-request-id',
      'access-control-max-age': '600',
      vary: VARY,
    });
    const other = await signedRequest(server, 'GET', `/${B}/obj`, { unsigned: { origin: 'https://evil.test' } });
    expect(other.status).toBe(200);
    expect(corsOf(other)).toEqual({});
    // The method that decides is the request's own: DELETE is allowed by no rule.
    const del = await signedRequest(server, 'DELETE', `/${B}/missing-key`, { unsigned: { origin: 'https://www.example.com' } });
    expect(del.status).toBe(204);
    expect(corsOf(del)).toEqual({});
  });

  it('errors carry the CORS headers too, so a browser can read them', async () => {
    const anon = await rawRequest(server.s3, 'GET', `/${B}/obj`, { origin: 'https://www.example.com' });
    expect([anon.status, errorCode(anon.body)]).toEqual([403, 'AccessDenied']);
    expect(anon.headers['access-control-allow-origin']).toBe('https://www.example.com');
    const missing = await signedRequest(server, 'GET', `/${B}/missing`, { unsigned: { origin: 'https://www.example.com' } });
    expect([missing.status, errorCode(missing.body)]).toEqual([404, 'NoSuchKey']);
    expect(missing.headers.vary).toBe(VARY);
  });

  it('AllowedOrigin "*": Access-Control-Allow-Origin "*" and no credentials', async () => {
    const r = await preflight(`/${OPEN}/obj`, { origin: 'http://anything.test:8080', 'access-control-request-method': 'GET' });
    expect(r.status).toBe(200);
    expect(corsOf(r)).toEqual({ 'access-control-allow-origin': '*', 'access-control-allow-methods': 'GET', vary: VARY });
    const get = await signedRequest(server, 'GET', `/${OPEN}/obj`, { unsigned: { origin: 'http://anything.test:8080' } });
    expect(get.headers['access-control-allow-origin']).toBe('*');
    expect(get.headers['access-control-allow-credentials']).toBeUndefined();
  });

  it('invalid configurations: InvalidRequest / MalformedXML, and the old one stays', async () => {
    const cases: [string, string, string?][] = [
      ['<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod></CORSRule>', 'InvalidRequest', 'Found unsupported HTTP method in CORS config. Unsupported method is PATCH'],
      ['<CORSRule><AllowedOrigin>http://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>', 'InvalidRequest', 'AllowedOrigin &quot;http://*.*.com&quot; can not have more than one wildcard.'],
      ['<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod><ExposeHeader>*</ExposeHeader></CORSRule>', 'InvalidRequest', 'ExposeHeader &quot;*&quot; contains wildcard. We currently do not support wildcard for ExposeHeader.'],
      ['<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>', 'MalformedXML'],
      ['', 'MalformedXML'],
    ];
    for (const [rules, code, msg] of cases) {
      const r = await signedRequest(server, 'PUT', `/${B}`, { query: { cors: '' }, body: `<CORSConfiguration>${rules}</CORSConfiguration>` });
      expect([r.status, errorCode(r.body)]).toEqual([400, code]);
      if (msg) expect(message(r.body)).toBe(msg);
    }
    expect((await s3.send(new GetBucketCorsCommand({ Bucket: B }))).CORSRules).toHaveLength(2);
  });

  it('DeleteBucketCors: 204; then preflights are refused as for a bucket without CORS', async () => {
    const del = await s3.send(new DeleteBucketCorsCommand({ Bucket: OPEN }));
    expect(del.$metadata.httpStatusCode).toBe(204);
    expect(await s3Error(s3.send(new GetBucketCorsCommand({ Bucket: OPEN })))).toEqual({ name: 'NoSuchCORSConfiguration', status: 404 });
    const r = await preflight(`/${OPEN}/obj`, { origin: 'http://anything.test', 'access-control-request-method': 'GET' });
    expect([r.status, message(r.body)]).toEqual([403, 'CORSResponse: CORS is not enabled for this bucket.']);
  });
});
