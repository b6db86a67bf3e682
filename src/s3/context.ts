// What a handler gets for one request, and the only ways it answers: XML, empty, or a stream.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config.js';
import type { ObjectService } from '../service/objects.js';
import type { AuthResult, SecretLookup } from './auth/sigv4.js';
import type { Target } from './addressing.js';
import type { Operation } from './router.js';
import { S3Error } from './errors.js';
import { toXml } from './xml.js';

export interface S3Context {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  operation: Operation;
  target: Target;
  auth: AuthResult;
  config: Config;
  objects: ObjectService;
}

/**
 * What an operation that authenticates itself, or needs no authentication, gets: a CORS
 * preflight (browsers send it without credentials) and POST Object (authenticated by its signed
 * policy, not by the Authorization header). `secrets` is the keystore lookup SigV4 uses.
 */
export type PreAuthContext = Omit<S3Context, 'auth'> & { secrets: SecretLookup };

export type Headers = Record<string, string | number | undefined>;

function cleanHeaders(h: Headers): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = v;
  return out;
}

export function sendXml(ctx: Pick<S3Context, 'res'>, status: number, root: string, body: Record<string, unknown>, headers: Headers = {}): void {
  const text = toXml(root, body);
  ctx.res.writeHead(status, cleanHeaders({ ...headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) }));
  ctx.res.end(text);
}

export function sendEmpty(ctx: Pick<S3Context, 'res'>, status: number, headers: Headers = {}): void {
  ctx.res.writeHead(status, cleanHeaders({ 'content-length': 0, ...headers }));
  ctx.res.end();
}

/** Headers only: HEAD (with the object's real Content-Length) and empty objects. */
export function sendHead(ctx: Pick<S3Context, 'res'>, status: number, headers: Headers): void {
  ctx.res.writeHead(status, cleanHeaders(headers));
  ctx.res.end();
}

/**
 * Streams a body. The first chunk is read before the headers go out, so a failure the first
 * bytes reveal (a KMS refusal, a failed integrity check) is still answered as an S3 error.
 * After the headers an error can only cut the connection: the client sees a short body,
 * never wrong bytes.
 */
export async function sendStream(ctx: Pick<S3Context, 'res'>, status: number, headers: Headers, body: Readable): Promise<void> {
  const it = body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  ctx.res.writeHead(status, cleanHeaders(headers));
  async function* all(): AsyncGenerator<Buffer> {
    if (first.done) return;
    yield first.value;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  try {
    await pipeline(all(), ctx.res);
  } catch (e) {
    ctx.res.destroy();
    body.destroy();
    if ((e as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') throw e;
  }
}

export function errorXml(err: S3Error, resource: string, requestId: string): string {
  return toXml('Error', {
    Code: err.code,
    Message: err.message,
    ...err.fields,
    Resource: resource,
    RequestId: requestId,
  }, false);
}

export function sendError(res: ServerResponse, err: S3Error, resource: string, requestId: string, method: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string | number> = { ...err.headers, 'x-amz-request-id': requestId };
  if (method === 'HEAD' || err.status === 304) {
    res.writeHead(err.status, headers);
    res.end();
    return;
  }
  const text = errorXml(err, resource, requestId);
  res.writeHead(err.status, { ...headers, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
