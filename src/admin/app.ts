// The admin listener (DESIGN §7, port 8888): health and readiness for probes, and the admin API
// the `akko-storage kms …` commands drive. Every /admin/v1 call is SigV4-authenticated against
// the keystore (403 otherwise). JSON in, JSON out.
//
//   GET  /admin/v1/kms/status[?bucket=B&canary=false]   coverage, bucket keys, provider health
//   GET  /admin/v1/kms/keys                             keys of every open provider
//   GET  /admin/v1/kms/keys/describe?keyId=ID[&provider=P]
//   POST /admin/v1/kms/keys         {name?, provider?, alias?, description?, endpoint?, region?}
//   POST /admin/v1/kms/rotate       {keyId?, provider?, retireBucketKeys?}
//   POST /admin/v1/kms/retire       {keyId, provider?, dryRun?}
//   POST /admin/v1/kms/bucket-keys/retire {bucket?}   new writes get new bucket keys
//   POST /admin/v1/kms/rewrap       {bucket?, toKey?, toProvider?, toEndpoint?, toRegion?, dryRun?, maxRate?}  → 202 job
//   POST /admin/v1/kms/encrypt-existing {bucket?, keyId?, dryRun?, maxRate?}                                → 202 job
//   GET  /admin/v1/jobs             newest first
//   GET  /admin/v1/jobs/:id
//   POST /admin/v1/jobs/:id/cancel  stops at the next item, keeps the checkpoint
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { KmsError, KmsUnavailableError } from '../../kms/errors.js';
import { IntegrityError } from '../../kms/errors.js';
import type { KeyOps } from '../keyops/index.js';
import { JobError } from '../keyops/jobs.js';
import type { SecretLookup } from '../s3/auth/sigv4.js';
import type { Store } from '../store/store.js';
import { AdminAuthError, verifyAdminRequest } from './auth.js';

export interface AdminDeps {
  store: Store;
  secrets: SecretLookup;
  keyops?: KeyOps;
  log: (line: string) => void;
}

const MAX_BODY = 64 * 1024;

function json(body: unknown): Record<string, unknown> {
  if (body === undefined || (Buffer.isBuffer(body) && body.length === 0)) return {};
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : String(body);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new JobError('the request body is not JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new JobError('the request body must be a JSON object');
  return v as Record<string, unknown>;
}

function sendError(reply: FastifyReply, e: unknown, log: (line: string) => void): FastifyReply {
  if (e instanceof AdminAuthError) return reply.code(403).send({ error: e.code, message: e.message });
  if (e instanceof JobError) return reply.code(e.status).send({ error: 'Refused', message: e.message });
  if (e instanceof KmsUnavailableError) return reply.code(503).header('retry-after', String(e.retryAfterSeconds)).send({ error: e.s3Code, message: `${e.message} (${e.detail})` });
  if (e instanceof KmsError) return reply.code(e.status === 403 ? 502 : 409).send({ error: e.s3Code, message: e.message });
  if (e instanceof IntegrityError) return reply.code(500).send({ error: 'IntegrityError', message: e.message });
  log(`admin: ${(e as Error)?.stack ?? String(e)}`);
  return reply.code(500).send({ error: 'InternalError', message: (e as Error)?.message ?? String(e) });
}

export function adminApp(deps: AdminDeps): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY, forceCloseConnections: 'idle' });
  // Bodies stay raw: their SHA-256 is part of the signature.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => ({ status: 'ok', buckets: deps.store.listBuckets().length }));

  app.register(
    async (api) => {
      api.addHook('preHandler', async (req: FastifyRequest, reply: FastifyReply) => {
        try {
          verifyAdminRequest({ method: req.method, url: req.raw.url ?? req.url, headers: req.headers }, req.body as Buffer | undefined, deps.secrets);
        } catch (e) {
          return sendError(reply, e, deps.log);
        }
      });
      const ops = (): KeyOps => {
        if (!deps.keyops) throw new JobError('key operations are not available on this server', 409);
        return deps.keyops;
      };
      const route = (method: 'GET' | 'POST', url: string, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>) =>
        api.route({
          method,
          url,
          handler: async (req, reply) => {
            try {
              return await handler(req, reply);
            } catch (e) {
              return sendError(reply, e, deps.log);
            }
          },
        });
      const query = (req: FastifyRequest) => req.query as Record<string, string | undefined>;

      route('GET', '/kms/status', async (req) => {
        const q = query(req);
        return ops().status({ bucket: q.bucket, canary: q.canary !== 'false' });
      });
      route('GET', '/kms/keys', async (req) => ops().keys().list(query(req)));
      route('GET', '/kms/keys/describe', async (req) => ops().keys().describe(query(req)));
      route('POST', '/kms/keys', async (req, reply) => reply.code(201).send(await ops().keys().create(json(req.body))));
      route('POST', '/kms/rotate', async (req) => ops().keys().rotate(json(req.body)));
      route('POST', '/kms/retire', async (req) => ops().keys().retire(json(req.body)));
      route('POST', '/kms/bucket-keys/retire', async (req) => {
        const b = json(req.body);
        return { retired: await ops().requireEncryption().retireBucketKeys(b.bucket === undefined ? undefined : String(b.bucket)) };
      });
      for (const kind of ['rewrap', 'encrypt-existing'] as const) {
        route('POST', `/kms/${kind}`, async (req, reply) => {
          const r = await ops().jobs.start(kind, json(req.body));
          return reply.code(r.attached ? 200 : 202).send(r);
        });
      }
      route('GET', '/jobs', async () => ({ jobs: ops().jobs.list() }));
      route('GET', '/jobs/:id', async (req, reply) => {
        const job = ops().jobs.get((req.params as { id: string }).id);
        return job ?? reply.code(404).send({ error: 'NoSuchJob', message: 'no such job' });
      });
      route('POST', '/jobs/:id/cancel', async (req, reply) => {
        const job = await ops().jobs.cancel((req.params as { id: string }).id);
        return job ?? reply.code(404).send({ error: 'NoSuchJob', message: 'no such job' });
      });
    },
    { prefix: '/admin/v1' },
  );
  // Anything else under /admin is refused like an unsigned call would be, not described.
  app.setNotFoundHandler((req, reply) => {
    if (req.url.startsWith('/admin/')) {
      try {
        verifyAdminRequest({ method: req.method, url: req.raw.url ?? req.url, headers: req.headers }, req.body as Buffer | undefined, deps.secrets);
      } catch (e) {
        return sendError(reply, e, deps.log);
      }
    }
    return reply.code(404).send({ error: 'NotFound', message: `${req.method} ${req.url.split('?')[0]} is not an admin API route` });
  });
  return app;
}
