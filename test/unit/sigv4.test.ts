import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SignatureV4 } from '@smithy/signature-v4';
import { buildQueryString } from '@smithy/core/protocols';
import { verifySigV4, type AuthInput } from '../../src/s3/auth/sigv4.js';
import { S3Error } from '../../src/s3/errors.js';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const lookup = (id: string) => (id === AKID ? SECRET : undefined);
const T2013 = Date.UTC(2013, 4, 24, 0, 0, 0);
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function input(method: string, url: string, headers: AuthInput['headers']): AuthInput {
  const q = url.indexOf('?');
  return { method, path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1), headers };
}

function authz(signedHeaders: string, signature: string, credential = `${AKID}/20130524/us-east-1/s3/aws4_request`): string {
  return `AWS4-HMAC-SHA256 Credential=${credential},SignedHeaders=${signedHeaders},Signature=${signature}`;
}

/** Runs fn and returns the S3Error it throws (fails the test if it does not throw one). */
function s3err(fn: () => unknown): S3Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof S3Error) return e;
    throw e;
  }
  throw new Error('expected an S3Error');
}

// ---------------------------------------------------------------------------------------------
// The examples of the S3 API reference, "Signature Calculations for the Authorization Header"
// and "Authenticating Requests: Using Query Parameters".

describe('AWS documented vectors', () => {
  const getObject = () => ({
    host: 'examplebucket.s3.amazonaws.com',
    range: 'bytes=0-9',
    'x-amz-content-sha256': EMPTY,
    'x-amz-date': '20130524T000000Z',
    authorization: authz(
      'host;range;x-amz-content-sha256;x-amz-date',
      'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    ),
  });

  it('GET object with Range', () => {
    const r = verifySigV4(input('GET', '/test.txt', getObject()), lookup, T2013)!;
    expect(r).toMatchObject({
      accessKeyId: AKID,
      region: 'us-east-1',
      presigned: false,
      payloadMode: 'sha256',
      payloadSha256: EMPTY,
      amzDate: '20130524T000000Z',
      scope: '20130524/us-east-1/s3/aws4_request',
      seedSignature: 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    });
    expect(r.signingKey.toString('hex')).toBe(
      createHmac('sha256', createHmac('sha256', createHmac('sha256', createHmac('sha256', `AWS4${SECRET}`)
        .update('20130524').digest()).update('us-east-1').digest()).update('s3').digest())
        .update('aws4_request').digest().toString('hex'),
    );
  });

  it('GET object: a changed signed header, path, method or secret fails', () => {
    const h = getObject();
    expect(s3err(() => verifySigV4(input('GET', '/test.txt', { ...h, range: 'bytes=0-10' }), lookup, T2013)).code)
      .toBe('SignatureDoesNotMatch');
    expect(s3err(() => verifySigV4(input('GET', '/test.txT', h), lookup, T2013)).code).toBe('SignatureDoesNotMatch');
    expect(s3err(() => verifySigV4(input('HEAD', '/test.txt', h), lookup, T2013)).code).toBe('SignatureDoesNotMatch');
    const wrong = () => 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz';
    const e = s3err(() => verifySigV4(input('GET', '/test.txt', h), wrong, T2013));
    expect(e.code).toBe('SignatureDoesNotMatch');
    expect(e.status).toBe(403);
    expect(e.fields.CanonicalRequest).toBe(
      'GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n'
      + `x-amz-content-sha256:${EMPTY}\nx-amz-date:20130524T000000Z\n\n`
      + `host;range;x-amz-content-sha256;x-amz-date\n${EMPTY}`,
    );
  });

  it('GET object: a signature in upper-case hex is the same signature; a truncated one is not', () => {
    const h = getObject();
    const upper = { ...h, authorization: h.authorization.replace(/Signature=(\w+)/, (_, s: string) => `Signature=${s.toUpperCase()}`) };
    expect(verifySigV4(input('GET', '/test.txt', upper), lookup, T2013)).not.toBeNull();
    const short = { ...h, authorization: h.authorization.slice(0, -1) };
    expect(s3err(() => verifySigV4(input('GET', '/test.txt', short), lookup, T2013)).code).toBe('SignatureDoesNotMatch');
  });

  it('header values are trimmed and inner spaces collapsed', () => {
    const h = { ...getObject(), range: '  bytes=0-9  ' };
    expect(verifySigV4(input('GET', '/test.txt', h), lookup, T2013)).not.toBeNull();
  });

  const putObject = () => ({
    host: 'examplebucket.s3.amazonaws.com',
    date: 'Fri, 24 May 2013 00:00:00 GMT',
    'x-amz-date': '20130524T000000Z',
    'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
    authorization: authz(
      'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
      '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
    ),
  });

  it('PUT object with an encoded key (test$file.text)', () => {
    const r = verifySigV4(input('PUT', '/test%24file.text', putObject()), lookup, T2013)!;
    expect(r.payloadMode).toBe('sha256');
    expect(r.payloadSha256).toBe('44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
  });

  it('PUT object sent with a raw "$" on the wire still matches the RFC 3986 canonical form', () => {
    expect(verifySigV4(input('PUT', '/test$file.text', putObject()), lookup, T2013)).not.toBeNull();
    expect(s3err(() => verifySigV4(input('PUT', '/test%25file.text', putObject()), lookup, T2013)).code)
      .toBe('SignatureDoesNotMatch');
  });

  it('PUT object: an x-amz-* header outside SignedHeaders is refused', () => {
    const h = { ...putObject(), 'x-amz-acl': 'public-read' };
    const e = s3err(() => verifySigV4(input('PUT', '/test%24file.text', h), lookup, T2013));
    expect(e.code).toBe('AccessDenied');
    expect(e.fields.HeadersNotSigned).toBe('x-amz-acl');
  });

  const bucketGet = (signature: string) => ({
    host: 'examplebucket.s3.amazonaws.com',
    'x-amz-date': '20130524T000000Z',
    'x-amz-content-sha256': EMPTY,
    authorization: authz('host;x-amz-content-sha256;x-amz-date', signature),
  });

  it('GET bucket lifecycle (valueless query parameter)', () => {
    const h = bucketGet('fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
    expect(verifySigV4(input('GET', '/?lifecycle', h), lookup, T2013)).not.toBeNull();
    expect(verifySigV4(input('GET', '/?lifecycle=', h), lookup, T2013)).not.toBeNull();
    expect(s3err(() => verifySigV4(input('GET', '/?policy', h), lookup, T2013)).code).toBe('SignatureDoesNotMatch');
  });

  it('GET bucket list objects: query order does not matter, values do', () => {
    const h = bucketGet('34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
    expect(verifySigV4(input('GET', '/?max-keys=2&prefix=J', h), lookup, T2013)).not.toBeNull();
    expect(verifySigV4(input('GET', '/?prefix=J&max-keys=2', h), lookup, T2013)).not.toBeNull();
    expect(verifySigV4(input('GET', '/?max-keys=2&prefix=%4A', h), lookup, T2013)).not.toBeNull();
    expect(s3err(() => verifySigV4(input('GET', '/?max-keys=3&prefix=J', h), lookup, T2013)).code)
      .toBe('SignatureDoesNotMatch');
  });

  const presignedUrl = '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256'
    + '&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request'
    + '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host'
    + '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
  const presignHost = { host: 'examplebucket.s3.amazonaws.com' };

  it('presigned GET object', () => {
    const r = verifySigV4(input('GET', presignedUrl, presignHost), lookup, T2013 + 3600_000)!;
    expect(r).toMatchObject({ presigned: true, payloadMode: 'unsigned', region: 'us-east-1', amzDate: '20130524T000000Z' });
    expect(r.payloadSha256).toBeUndefined();
  });

  it('presigned: expiry is enforced, including the last second', () => {
    expect(verifySigV4(input('GET', presignedUrl, presignHost), lookup, T2013 + 86400_000)).not.toBeNull();
    const e = s3err(() => verifySigV4(input('GET', presignedUrl, presignHost), lookup, T2013 + 86401_000));
    expect(e.code).toBe('AccessDenied');
    expect(e.message).toBe('Request has expired');
    const early = s3err(() => verifySigV4(input('GET', presignedUrl, presignHost), lookup, T2013 - 16 * 60_000));
    expect(early.code).toBe('AccessDenied');
  });

  it('presigned: a changed query, host or extra parameter fails', () => {
    const now = T2013 + 60_000;
    const changedExpiry = presignedUrl.replace('X-Amz-Expires=86400', 'X-Amz-Expires=86401');
    expect(s3err(() => verifySigV4(input('GET', changedExpiry, presignHost), lookup, now)).code).toBe('SignatureDoesNotMatch');
    const extra = `${presignedUrl}&response-content-type=text%2Fhtml`;
    expect(s3err(() => verifySigV4(input('GET', extra, presignHost), lookup, now)).code).toBe('SignatureDoesNotMatch');
    expect(s3err(() => verifySigV4(input('GET', presignedUrl, { host: 'evil.example' }), lookup, now)).code)
      .toBe('SignatureDoesNotMatch');
  });

  it('presigned: an unsigned x-amz-* header (e.g. x-amz-copy-source) is refused', () => {
    const h = { ...presignHost, 'x-amz-copy-source': '/other-bucket/secret' };
    const e = s3err(() => verifySigV4(input('GET', presignedUrl, h), lookup, T2013 + 60_000));
    expect(e.code).toBe('AccessDenied');
    expect(e.fields.HeadersNotSigned).toBe('x-amz-copy-source');
  });

  it('presigned: X-Amz-Expires beyond 7 days is refused before the signature is looked at', () => {
    const long = presignedUrl.replace('X-Amz-Expires=86400', 'X-Amz-Expires=604801');
    const e = s3err(() => verifySigV4(input('GET', long, presignHost), lookup, T2013));
    expect(e.code).toBe('AuthorizationQueryParametersError');
    expect(e.status).toBe(400);
    const nan = presignedUrl.replace('X-Amz-Expires=86400', 'X-Amz-Expires=soon');
    expect(s3err(() => verifySigV4(input('GET', nan, presignHost), lookup, T2013)).code).toBe('AuthorizationQueryParametersError');
  });

  it('presigned: a missing parameter is AuthorizationQueryParametersError', () => {
    const noDate = presignedUrl.replace('&X-Amz-Date=20130524T000000Z', '');
    expect(s3err(() => verifySigV4(input('GET', noDate, presignHost), lookup, T2013)).code)
      .toBe('AuthorizationQueryParametersError');
  });

  it('streaming PUT seed signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', () => {
    const h = {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'content-length': '66824',
      authorization: authz(
        'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
        '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      ),
    };
    const r = verifySigV4(input('PUT', '/examplebucket/chunkObject.txt', h), lookup, T2013)!;
    expect(r.payloadMode).toBe('streaming-signed');
    expect(r.seedSignature).toBe('4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9');
  });

  it('streaming PUT with trailer seed signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER)', () => {
    const h = {
      host: 's3.amazonaws.com',
      'x-amz-date': '20130524T000000Z',
      'x-amz-storage-class': 'REDUCED_REDUNDANCY',
      'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': '66560',
      'x-amz-trailer': 'x-amz-checksum-crc32c',
      authorization: authz(
        'content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer',
        '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
      ),
    };
    const r = verifySigV4(input('PUT', '/examplebucket/chunkObject.txt', h), lookup, T2013)!;
    expect(r.payloadMode).toBe('streaming-signed-trailer');
  });
});

// ---------------------------------------------------------------------------------------------
// Rules, each checked on a request that is otherwise valid (signed here with the same
// derivation, independent of the module: plain node:crypto).

function sign(method: string, url: string, headers: Record<string, string>, opts: { date?: string; region?: string; secret?: string } = {}) {
  const date = opts.date ?? '20130524T000000Z';
  const region = opts.region ?? 'us-east-1';
  const h: Record<string, string> = { 'x-amz-date': date, ...headers };
  const names = Object.keys(h).map((n) => n.toLowerCase()).sort();
  const [path, query = ''] = url.split('?') as [string, string?];
  const cq = query.split('&').filter(Boolean).map((p) => (p.includes('=') ? p : `${p}=`)).sort().join('&');
  const canonical = [method, path, cq, names.map((n) => `${n}:${h[n]}\n`).join(''), names.join(';'), h['x-amz-content-sha256'] ?? EMPTY].join('\n');
  const scope = `${date.slice(0, 8)}/${region}/s3/aws4_request`;
  const sts = `AWS4-HMAC-SHA256\n${date}\n${scope}\n${createHash('sha256').update(canonical).digest('hex')}`;
  let k: Buffer = createHmac('sha256', `AWS4${opts.secret ?? SECRET}`).update(date.slice(0, 8)).digest();
  for (const part of [region, 's3', 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
  const signature = createHmac('sha256', k).update(sts).digest('hex');
  return input(method, url, { ...h, authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` });
}

describe('header auth rules', () => {
  const base = { host: 'localhost:9000', 'x-amz-content-sha256': EMPTY };

  it('no authentication at all is anonymous (null)', () => {
    expect(verifySigV4(input('GET', '/b/k?versionId=1', { host: 'x' }), lookup, T2013)).toBeNull();
    expect(verifySigV4(input('GET', '/b/k', { host: 'x', authorization: '' }), lookup, T2013)).toBeNull();
  });

  it('Signature Version 2 query auth is refused, not treated as anonymous', () => {
    const v2 = input('GET', `/b/k?AWSAccessKeyId=${AKID}&Expires=1369353600&Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D`, { host: 'x' });
    expect(s3err(() => verifySigV4(v2, lookup, T2013)).code).toBe('InvalidRequest');
  });

  it('accepts any region and verifies with it', () => {
    const r = verifySigV4(sign('GET', '/b/k', base, { region: 'eu-north-7' }), lookup, T2013)!;
    expect(r.region).toBe('eu-north-7');
    expect(r.scope).toBe('20130524/eu-north-7/s3/aws4_request');
  });

  it('15-minute clock skew, both directions', () => {
    const req = sign('GET', '/b/k', base);
    expect(verifySigV4(req, lookup, T2013 + 15 * 60_000)).not.toBeNull();
    expect(verifySigV4(req, lookup, T2013 - 15 * 60_000)).not.toBeNull();
    const late = s3err(() => verifySigV4(req, lookup, T2013 + 15 * 60_000 + 1000));
    expect([late.code, late.status]).toEqual(['RequestTimeTooSkewed', 403]);
    expect(s3err(() => verifySigV4(req, lookup, T2013 - 16 * 60_000)).code).toBe('RequestTimeTooSkewed');
  });

  it('unknown access key is InvalidAccessKeyId', () => {
    const e = s3err(() => verifySigV4(sign('GET', '/b/k', base), () => undefined, T2013));
    expect([e.code, e.status]).toEqual(['InvalidAccessKeyId', 403]);
  });

  it('x-amz-content-sha256 is required for header auth with a body, and must be a known form', () => {
    const { 'x-amz-content-sha256': _, ...noHash } = base;
    const e = s3err(() => verifySigV4(sign('PUT', '/b/k', { ...noHash, 'content-length': '5' }), lookup, T2013));
    expect(e.code).toBe('InvalidRequest');
    expect(e.message).toBe('Missing required header for this request: x-amz-content-sha256');
    const bad = s3err(() => verifySigV4(sign('GET', '/b/k', { ...base, 'x-amz-content-sha256': 'abc' }), lookup, T2013));
    expect(bad.code).toBe('InvalidArgument');
  });

  it('a bodyless request without x-amz-content-sha256 is verified with the empty hash (curl --aws-sigv4)', () => {
    const { 'x-amz-content-sha256': _, ...noHash } = base;
    const ok = verifySigV4(sign('GET', '/b/k', noHash), lookup, T2013)!;
    expect([ok.payloadMode, ok.payloadSha256]).toEqual(['sha256', EMPTY]);
  });

  it('payload modes', () => {
    const mode = (v: string) => verifySigV4(sign('PUT', '/b/k', { ...base, 'x-amz-content-sha256': v }), lookup, T2013)!.payloadMode;
    expect(mode('UNSIGNED-PAYLOAD')).toBe('unsigned');
    expect(mode('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')).toBe('streaming-signed');
    expect(mode('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER')).toBe('streaming-signed-trailer');
    expect(mode('STREAMING-UNSIGNED-PAYLOAD-TRAILER')).toBe('streaming-unsigned-trailer');
    const upper = EMPTY.toUpperCase();
    const r = verifySigV4(sign('PUT', '/b/k', { ...base, 'x-amz-content-sha256': upper }), lookup, T2013)!;
    expect([r.payloadMode, r.payloadSha256]).toEqual(['sha256', EMPTY]);
  });

  it('host must be signed', () => {
    const req = sign('GET', '/b/k', { 'x-amz-content-sha256': EMPTY });
    req.headers.host = 'localhost';
    expect(s3err(() => verifySigV4(req, lookup, T2013)).code).toBe('AuthorizationHeaderMalformed');
  });

  it('malformed Authorization headers', () => {
    const req = sign('GET', '/b/k', base);
    const a = req.headers.authorization as string;
    const code = (value: string) => s3err(() => verifySigV4({ ...req, headers: { ...req.headers, authorization: value } }, lookup, T2013)).code;
    expect(code(a.replace(', SignedHeaders=', ', Signed='))).toBe('AuthorizationHeaderMalformed');
    expect(code(a.replace('/s3/', '/ec2/'))).toBe('AuthorizationHeaderMalformed');
    expect(code(a.replace('aws4_request', 'aws5_request'))).toBe('AuthorizationHeaderMalformed');
    expect(code(a.replace('/20130524/', '/20130525/'))).toBe('AuthorizationHeaderMalformed');
    expect(code(a.replace('/20130524/', '/2013-05-24/'))).toBe('AuthorizationHeaderMalformed');
    expect(code(a.replace('Credential=', 'Credentials='))).toBe('AuthorizationHeaderMalformed');
    expect(code(a.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512'))).toBe('InvalidRequest');
    expect(code(`AWS ${AKID}:frJIUN8DYpKDtOLCwo//yllqDzg=`)).toBe('InvalidRequest');
  });

  it('invalid or missing date is AccessDenied; the Date header is accepted in place of x-amz-date', () => {
    const req = sign('GET', '/b/k', base);
    for (const bad of ['20131324T000000Z', '20130431T000000Z', '20130524T240000Z', '2013-05-24T00:00:00Z']) {
      const h = { ...req.headers, 'x-amz-date': bad };
      expect(s3err(() => verifySigV4({ ...req, headers: h }, lookup, T2013)).code).toBe('AccessDenied');
    }
    // A leap day exists in 2024 (and passes the date checks, failing only the scope date).
    const leap = { ...req.headers, 'x-amz-date': '20240229T000000Z' };
    expect(s3err(() => verifySigV4({ ...req, headers: leap }, lookup, Date.UTC(2024, 1, 29))).code).toBe('AuthorizationHeaderMalformed');

    // Signed with date instead of x-amz-date: the string to sign uses its ISO8601 form.
    const withDate = sign('GET', '/b/k', { ...base, date: 'Fri, 24 May 2013 00:00:00 GMT' });
    delete withDate.headers['x-amz-date'];
    const signedNames = 'date;host;x-amz-content-sha256';
    const viaModule = s3err(() => verifySigV4(withDate, () => 'other', T2013));
    expect(viaModule.fields.StringToSign?.split('\n')[1]).toBe('20130524T000000Z');
    expect(viaModule.fields.CanonicalRequest).toContain(signedNames);
  });

  it('both Authorization header and X-Amz-Algorithm is InvalidArgument', () => {
    const req = sign('GET', '/b/k', base);
    req.query = 'X-Amz-Algorithm=AWS4-HMAC-SHA256';
    expect(s3err(() => verifySigV4(req, lookup, T2013)).code).toBe('InvalidArgument');
  });

  it('query canonicalisation: "+", "%20", lower-case hex and "~" forms are equivalent', () => {
    const req = sign('GET', '/b?prefix=a%20b%2Fc~d&list-type=2', base);
    for (const q of ['prefix=a+b%2fc~d&list-type=2', 'list-type=2&prefix=a%20b/c%7Ed', 'prefix=a%20b%2Fc%7ed&list-type=2']) {
      expect(verifySigV4({ ...req, query: q }, lookup, T2013)).not.toBeNull();
    }
    expect(s3err(() => verifySigV4({ ...req, query: 'prefix=a%20b%2Fc~e&list-type=2' }, lookup, T2013)).code)
      .toBe('SignatureDoesNotMatch');
  });

  it('a header sent several times is canonicalised as its trimmed values joined by ","', () => {
    const req = sign('GET', '/b/k', { ...base, 'x-amz-meta-a': '1,2 3' });
    expect(verifySigV4({ ...req, headers: { ...req.headers, 'x-amz-meta-a': [' 1 ', '2   3'] } }, lookup, T2013)).not.toBeNull();
    expect(s3err(() => verifySigV4({ ...req, headers: { ...req.headers, 'x-amz-meta-a': ['1', '2 4'] } }, lookup, T2013)).code)
      .toBe('SignatureDoesNotMatch');
  });

  it('a rotated secret is not served a cached signing key', () => {
    let secret = SECRET;
    const rotating = () => secret;
    expect(verifySigV4(sign('GET', '/b/k', base), rotating, T2013)).not.toBeNull();
    secret = 'a-new-secret';
    expect(s3err(() => verifySigV4(sign('GET', '/b/k', base), rotating, T2013)).code).toBe('SignatureDoesNotMatch');
    expect(verifySigV4(sign('GET', '/b/k', base, { secret: 'a-new-secret' }), rotating, T2013)).not.toBeNull();
  });
});

// ---------------------------------------------------------------------------------------------
// Requests signed by the real AWS SDK, captured on the wire.

interface Captured { method: string; url: string; headers: IncomingHttpHeaders; body: Buffer }

describe('requests signed by @aws-sdk/client-s3', () => {
  let server: Server;
  let client: S3Client;
  const seen: Captured[] = [];
  const region = 'eu-central-1';

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        res.writeHead(200, { etag: '"x"', 'content-type': 'application/xml' });
        res.end(req.method === 'GET' && req.url!.includes('list-type')
          ? '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>false</IsTruncated></ListBucketResult>'
          : '');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    client = new S3Client({
      region,
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: AKID, secretAccessKey: SECRET },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await new Promise((r) => server.close(r));
  });

  async function capture(send: () => Promise<unknown>): Promise<AuthInput> {
    seen.length = 0;
    await send().catch(() => undefined);
    expect(seen).toHaveLength(1);
    const c = seen[0]!;
    return input(c.method, c.url, c.headers);
  }

  const awkwardKey = 'dir/a b+c~d$e!(f)*\'é&=?.txt';

  it('GetObject with an awkward key and a Range', async () => {
    const req = await capture(() => client.send(new GetObjectCommand({ Bucket: 'bkt', Key: awkwardKey, Range: 'bytes=0-9' })));
    const r = verifySigV4(req, lookup)!;
    expect(r).toMatchObject({ accessKeyId: AKID, region, presigned: false });
    // Tampering: a changed Range, key or time fails.
    expect(s3err(() => verifySigV4({ ...req, headers: { ...req.headers, range: 'bytes=0-99' } }, lookup)).code)
      .toBe('SignatureDoesNotMatch');
    expect(s3err(() => verifySigV4({ ...req, path: req.path.replace('dir', 'dis') }, lookup)).code)
      .toBe('SignatureDoesNotMatch');
    expect(s3err(() => verifySigV4(req, lookup, Date.now() + 20 * 60_000)).code).toBe('RequestTimeTooSkewed');
    expect(s3err(() => verifySigV4(req, () => 'not-the-secret')).code).toBe('SignatureDoesNotMatch');
  });

  it('ListObjectsV2 with a prefix needing encoding', async () => {
    const req = await capture(() => client.send(new ListObjectsV2Command({ Bucket: 'bkt', Prefix: 'a b+c/é~*', Delimiter: '/', MaxKeys: 7 })));
    expect(req.query).toContain('prefix=');
    expect(verifySigV4(req, lookup)).not.toBeNull();
    expect(s3err(() => verifySigV4({ ...req, query: req.query.replace('max-keys=7', 'max-keys=8') }, lookup)).code)
      .toBe('SignatureDoesNotMatch');
  });

  it('PutObject with a buffer body and user metadata', async () => {
    const req = await capture(() => client.send(new PutObjectCommand({
      Bucket: 'bkt', Key: awkwardKey, Body: Buffer.from('hello world'), Metadata: { colour: 'blue  green' },
    })));
    const r = verifySigV4(req, lookup)!;
    expect(r.payloadMode).not.toBe('streaming-signed');
    if (r.payloadMode === 'sha256') expect(r.payloadSha256).toBe(createHash('sha256').update('hello world').digest('hex'));
    const h = { ...req.headers, 'x-amz-meta-colour': 'red' };
    expect(s3err(() => verifySigV4({ ...req, headers: h }, lookup)).code).toBe('SignatureDoesNotMatch');
  });

  it('SignatureV4.presign: valid, tampered, expired', async () => {
    const signer = new SignatureV4({
      service: 's3', region, sha256: NodeSha256, uriEscapePath: false, applyChecksum: false,
      credentials: { accessKeyId: AKID, secretAccessKey: SECRET },
    });
    const signingDate = new Date(T2013 + 3 * 3600_000);
    const presigned = await signer.presign({
      method: 'GET', protocol: 'http:', hostname: 'localhost', port: 9000,
      path: `/bkt/${awkwardKey.split('/').map(encodeRfc3986).join('/')}`,
      query: { 'response-content-disposition': 'attachment; filename="a b.txt"', versionId: 'v 1' },
      headers: { host: 'localhost:9000', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    }, { signingDate, expiresIn: 3600 });
    const req: AuthInput = { method: 'GET', path: presigned.path, query: buildQueryString(presigned.query ?? {}), headers: { host: 'localhost:9000' } };
    const now = signingDate.getTime() + 60_000;
    const r = verifySigV4(req, lookup, now)!;
    expect(r).toMatchObject({ presigned: true, payloadMode: 'unsigned', region });
    expect(s3err(() => verifySigV4({ ...req, query: req.query.replace('versionId=v%201', 'versionId=v%202') }, lookup, now)).code)
      .toBe('SignatureDoesNotMatch');
    const expired = s3err(() => verifySigV4(req, lookup, signingDate.getTime() + 3601_000));
    expect([expired.code, expired.message]).toEqual(['AccessDenied', 'Request has expired']);
    // A body hash given to the presigner is hoisted into the query and signed as the payload.
    const hashed = await signer.presign({
      method: 'PUT', protocol: 'http:', hostname: 'localhost', port: 9000, path: '/bkt/k', query: {},
      headers: { host: 'localhost:9000', 'x-amz-content-sha256': EMPTY },
    }, { signingDate, expiresIn: 60 });
    const put: AuthInput = { method: 'PUT', path: '/bkt/k', query: buildQueryString(hashed.query ?? {}), headers: { host: 'localhost:9000' } };
    expect(verifySigV4(put, lookup, now)).toMatchObject({ payloadMode: 'sha256', payloadSha256: EMPTY });
    const week = s3err(() => verifySigV4({ ...req, query: req.query.replace('X-Amz-Expires=3600', 'X-Amz-Expires=700000') }, lookup, now));
    expect(week.code).toBe('AuthorizationQueryParametersError');
  });
});

function encodeRfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The hash the SDK signer wants, over node:crypto (HMAC when given a key). */
class NodeSha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {}
}

function bytes(d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof d === 'string') return d;
  return ArrayBuffer.isView(d) ? new Uint8Array(d.buffer, d.byteOffset, d.byteLength) : new Uint8Array(d);
}
