// Signed raw requests for tests that need exact bytes (XML documents the SDK would not write,
// a missing Content-MD5) or must read raw response headers.
import { createHash } from 'node:crypto';
import type { TestServer } from './server.js';
import { rawRequest, sha256hex, signer, type RawResponse } from './sign.js';

export interface SignedOptions {
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Adds Content-MD5 of the body (configuration PUTs require an integrity header). Default true when there is a body. */
  md5?: boolean;
  /** Headers added after signing (unsigned, as a browser adds Origin). */
  unsigned?: Record<string, string>;
}

export async function signedRequest(server: TestServer, method: string, path: string, opts: SignedOptions = {}): Promise<RawResponse> {
  const u = new URL(server.s3);
  const body = opts.body ?? '';
  const headers: Record<string, string> = { host: u.host, 'x-amz-content-sha256': sha256hex(body), ...opts.headers };
  if (body.length > 0 && opts.md5 !== false) headers['content-md5'] = createHash('md5').update(body).digest('base64');
  const req = await signer(server.accessKey, server.secretKey).sign({ method, protocol: 'http:', hostname: u.hostname, port: Number(u.port), path, query: opts.query ?? {}, headers });
  const qs = new URLSearchParams(opts.query ?? {}).toString();
  return rawRequest(server.s3, method, path + (qs ? `?${qs}` : ''), { ...(req.headers as Record<string, string>), ...opts.unsigned }, body.length > 0 ? body : undefined);
}
