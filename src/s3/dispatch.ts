// One S3 request, start to end: addressing → SigV4 → route → handler, and every failure
// turned into the S3 XML error. Metrics and request ids are applied here for all operations.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config.js';
import { s3Latency, s3Requests } from '../metrics.js';
import type { ObjectService } from '../service/objects.js';
import { IntegrityError, s3ErrorFor } from '../../kms/errors.js';
import { parseTarget } from './addressing.js';
import { verifySigV4, type SecretLookup } from './auth/sigv4.js';
import { sendError, type S3Context } from './context.js';
import { S3Error, isS3Error } from './errors.js';
import { applyCorsHeaders } from './cors.js';
import { HANDLERS, PRE_AUTH_HANDLERS } from './handlers.js';
import { PRE_AUTH_OPERATIONS, route, type Operation } from './router.js';

export interface S3Deps {
  config: Config;
  objects: ObjectService;
  secrets: SecretLookup;
  log: (line: string) => void;
}

/** Bodies larger than this are not drained after an early error: the connection is closed. */
const MAX_DRAIN_BYTES = 8 * 1024 * 1024;

export async function dispatchS3(req: IncomingMessage, res: ServerResponse, deps: S3Deps): Promise<void> {
  const started = process.hrtime.bigint();
  const requestId = randomBytes(8).toString('hex').toUpperCase();
  res.setHeader('x-amz-request-id', requestId);
  res.setHeader('x-amz-id-2', requestId);
  res.setHeader('server', 'AkkoS3');
  let operation: Operation | 'Unknown' = 'Unknown';
  const method = req.method ?? 'GET';
  let resource = req.url ?? '/';
  try {
    const target = parseTarget(req.url ?? '/', req.headers.host, deps.config.virtualHostDomains);
    resource = target.rawPath;
    // Browsers read a response only if it carries the CORS headers: set them (when the bucket's
    // rules allow the Origin) before anything can fail, so errors carry them too.
    applyCorsHeaders(req, res, deps.objects.store, target.bucket);
    const routed = route(method, target.bucket, target.key, target.query, req.headers);
    const preAuth = PRE_AUTH_OPERATIONS.has(routed) ? PRE_AUTH_HANDLERS[routed] : undefined;
    if (preAuth) {
      operation = routed;
      await preAuth({ req, res, requestId, operation: routed, target, config: deps.config, objects: deps.objects, secrets: deps.secrets });
      return;
    }
    const auth = verifySigV4({ method, path: target.rawPath, query: target.rawQuery, headers: req.headers }, deps.secrets);
    if (!auth) throw new S3Error('AccessDenied');
    operation = routed;
    const handler = HANDLERS[operation];
    if (!handler) throw new S3Error('NotImplemented');
    const ctx: S3Context = { req, res, requestId, operation, target, auth, config: deps.config, objects: deps.objects };
    await handler(ctx);
  } catch (e) {
    let err: S3Error;
    const mapped = s3ErrorFor(e);
    if (isS3Error(e)) {
      err = e;
    } else if (mapped) {
      // KMS refusals reach the client as AWS words them; integrity failures only as InternalError.
      if (e instanceof IntegrityError) deps.log(`request ${requestId} ${method} ${operation}: integrity check failed: ${(e as Error).message}`);
      err = S3Error.of(mapped.code, mapped.status, mapped.status === 503 ? 'Please reduce your request rate.' : mapped.message, mapped.headers);
    } else {
      deps.log(`request ${requestId} ${method} ${operation} failed: ${(e as Error).stack ?? e}`);
      err = new S3Error('InternalError');
    }
    const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
    if (hasBody && !req.complete) {
      // Answering before the body is read: a small rest is read and dropped so the client
      // finishes sending and reads the error (instead of EPIPE); a large one closes the
      // connection rather than receive gigabytes nobody wants.
      const length = Number(req.headers['content-length'] ?? Infinity);
      if (length <= MAX_DRAIN_BYTES) req.resume();
      else res.setHeader('connection', 'close');
    }
    sendError(res, err, resource, requestId, method);
  } finally {
    s3Requests.inc({ operation, status: String(res.statusCode) });
    s3Latency.observe({ operation }, Number(process.hrtime.bigint() - started) / 1e9);
  }
}
