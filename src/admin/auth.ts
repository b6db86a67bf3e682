// Authentication of the admin API (/admin/v1/*): AWS SigV4, verified exactly as on the S3 API
// (src/s3/auth/sigv4.ts, credential scope service `s3`, any region), against the same keystore.
// A request with a body must sign its SHA-256 (x-amz-content-sha256), which is checked here.
// The CLI side (signAdminRequest) is a small SigV4 signer without SDK dependencies.
import { createHash, createHmac } from 'node:crypto';
import { verifySigV4, type SecretLookup } from '../s3/auth/sigv4.js';
import { S3Error } from '../s3/errors.js';

export class AdminAuthError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** Verifies a signed admin request; returns the access key id. Throws AdminAuthError (answered 403). */
export function verifyAdminRequest(req: { method: string; url: string; headers: Record<string, string | string[] | undefined> }, body: Buffer | undefined, lookup: SecretLookup): string {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  const query = q < 0 ? '' : req.url.slice(q + 1);
  let result;
  try {
    result = verifySigV4({ method: req.method, path, query, headers: req.headers }, lookup);
  } catch (e) {
    if (e instanceof S3Error) throw new AdminAuthError(e.code, e.message);
    throw e;
  }
  if (!result) throw new AdminAuthError('AccessDenied', 'the admin API needs a SigV4-signed request (akko-storage kms … signs with AKKO_S3_ACCESS_KEY/AKKO_S3_SECRET_KEY or the data dir keystore)');
  if (result.presigned) throw new AdminAuthError('AccessDenied', 'presigned admin requests are not accepted');
  const actual = body && body.length ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256;
  if (result.payloadMode !== 'sha256') {
    if (actual !== EMPTY_SHA256) throw new AdminAuthError('AccessDenied', 'an admin request with a body must sign its SHA-256 (x-amz-content-sha256)');
  } else if (result.payloadSha256 !== actual) {
    throw new AdminAuthError('XAmzContentSHA256Mismatch', 'the body does not match x-amz-content-sha256');
  }
  return result.accessKeyId;
}

function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

/** Headers that sign a request to the admin API (SigV4, service s3). */
export function signAdminRequest(opts: {
  method: string;
  url: URL;
  body?: Buffer;
  accessKeyId: string;
  secretAccessKey: string;
  region?: string;
  now?: Date;
  headers?: Record<string, string>;
}): Record<string, string> {
  const region = opts.region ?? 'akko-local';
  const amzDate = (opts.now ?? new Date()).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const payload = opts.body && opts.body.length ? createHash('sha256').update(opts.body).digest('hex') : EMPTY_SHA256;
  const headers: Record<string, string> = { ...(opts.headers ?? {}), host: opts.url.host, 'x-amz-date': amzDate, 'x-amz-content-sha256': payload };
  const names = Object.keys(headers).map((h) => h.toLowerCase()).sort();
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const canonicalHeaders = names.map((n) => `${n}:${lower[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const query = [...opts.url.searchParams].map(([k, v]) => [rfc3986(k), rfc3986(v)] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const canonicalQuery = query.map(([k, v]) => `${k}=${v}`).join('&');
  const canonical = [opts.method.toUpperCase(), opts.url.pathname, canonicalQuery, canonicalHeaders, names.join(';'), payload].join('\n');
  const scope = `${date}/${region}/s3/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  let k: Buffer = createHmac('sha256', `AWS4${opts.secretAccessKey}`).update(date).digest();
  for (const part of [region, 's3', 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
  const signature = createHmac('sha256', k).update(toSign).digest('hex');
  return { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${opts.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}` };
}
