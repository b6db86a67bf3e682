// `akko-storage serve`: three listeners in one process (S3, admin, metrics), the store, the
// keystore, and a graceful SIGTERM.
import { mkdirSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { registry } from './metrics.js';
import { dispatchS3 } from './s3/dispatch.js';
import { ObjectService } from './service/objects.js';
import { startStaleUploadSweep } from './service/multipart.js';
import { startLifecycleSweep } from './service/lifecycle.js';
import { Store } from './store/store.js';
import { Keystore } from '../secrets/keystore.js';
import { Encryption } from '../kms/keys.js';
import { openKmsProvider } from '../kms/setup.js';
import { ObjectCrypto } from './service/crypto.js';
import { StoredBucketKeys } from './store/bucket-keys.js';
import { adminApp } from './admin/app.js';
import { KeyOps } from './keyops/index.js';
import { openReaders } from './keyops/providers.js';

export interface RunningServer {
  urls: { s3: string; admin: string; metrics: string };
  close(): Promise<void>;
}

function log(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

function s3App(config: Config, objects: ObjectService, keystore: Keystore): FastifyInstance {
  const deps = { config, objects, secrets: (id: string) => keystore.secretFor(id), log };
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    keepAliveTimeout: 65_000,
    routerOptions: { maxParamLength: 16_384, ignoreDuplicateSlashes: false },
    // A URL the router cannot decode is still an S3 request: our own parser answers InvalidURI.
    frameworkErrors: (_err, request, reply) => {
      reply.hijack();
      void dispatchS3(request.raw, reply.raw, deps);
    },
  });
  // Bodies are streamed by the handlers (through SigV4 chunk decoding), never parsed here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  app.route({
    method: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'],
    url: '*',
    handler: async (request, reply) => {
      reply.hijack();
      await dispatchS3(request.raw, reply.raw, deps);
    },
  });
  return app;
}

function metricsApp(): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
  return app;
}


async function listen(app: FastifyInstance, host: string, port: number): Promise<string> {
  await app.listen({ host, port });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('listener has no address');
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return `http://${h}:${addr.port}`;
}

export async function ensureBuckets(store: Store, config: Config, print: (line: string) => void): Promise<void> {
  for (const name of config.buckets) {
    if (!store.getBucket(name)) await store.createBucket(name, config.region);
    print(`[+] bucket ${name} ready`);
  }
}

/**
 * The KMS provider and key hierarchy. The local keyring is opened even with encryption off,
 * so requests that ask for SSE are honoured; a keyring that lacks a key some stored bucket
 * key names stops the start (never a silent replacement).
 */
async function openEncryption(config: Config, store: Store): Promise<Encryption | undefined> {
  if (config.kmsProvider === 'aws' && !config.kmsKeyId) return undefined; // only allowed with encryption off (config.ts)
  const records = new StoredBucketKeys(store);
  try {
    const provider = await openKmsProvider({ kind: config.kmsProvider, dataDir: config.dataDir, records, keyId: config.kmsKeyId, endpoint: config.kmsEndpoint, keyring: config.kmsKeyring });
    // The other provider of a migration (kms rewrap --to-provider), when stored bucket keys name it.
    const readers = await openReaders(config, store, records);
    return Encryption.create({ provider, records, readers, log });
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
}

export async function startServer(config: Config, print: (line: string) => void): Promise<RunningServer> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const store = await Store.open(config.dataDir, { multipartMaxAgeSeconds: config.multipartMaxAgeSeconds });
  const keystore = new Keystore(config.dataDir);
  const generated = keystore.init();
  if (generated) {
    print(`root credentials generated (shown once, kept in ${keystore.path}):`);
    print(`  AKKO_S3_ACCESS_KEY=${generated.id}`);
    print(`  AKKO_S3_SECRET_KEY=${generated.secret}`);
  }
  keystore.watch();
  const encryption = await openEncryption(config, store);
  const objects = new ObjectService(store, new ObjectCrypto(encryption, config.encryption === 'on'));
  await ensureBuckets(store, config, print);

  const s3 = s3App(config, objects, keystore);
  const keyops = new KeyOps({ config, store, objects, encryption, log });
  const admin = adminApp({ store, secrets: (id: string) => keystore.secretFor(id), keyops, log });
  const metrics = metricsApp();
  const urls = {
    s3: await listen(s3, config.host, config.s3Port),
    admin: await listen(admin, config.host, config.adminPort),
    metrics: await listen(metrics, config.host, config.metricsPort),
  };
  const uploadSweep = startStaleUploadSweep(store, log);
  const lifecycleSweep = startLifecycleSweep(store, log);
  await keyops.start();
  let closing: Promise<void> | undefined;
  return {
    urls,
    close() {
      closing ??= (async () => {
        // In-flight requests get the grace period; after it, remaining connections are cut.
        const timer = setTimeout(() => {
          s3.server.closeAllConnections();
        }, config.shutdownGraceSeconds * 1000);
        await Promise.all([s3.close(), admin.close(), metrics.close()]);
        clearTimeout(timer);
        keystore.close();
        await keyops.close();
        await uploadSweep.stop();
        await lifecycleSweep.stop();
        encryption?.close();
        await store.close();
      })();
      return closing;
    },
  };
}
