// Crash safety: a server killed with SIGKILL at random moments during concurrent PUTs and
// overwrites loses no acknowledged write, tears no object and leaves no temp file.
import { GetObjectCommand, PutObjectCommand, S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type TestServer } from '../helpers/server.js';

const ROUNDS = Number(process.env.AKKO_CRASH_ROUNDS ?? 50);
const KEYS = 12;
const WRITERS = 6;

function bodyFor(key: string, version: number): Buffer {
  // Sizes from tiny to a few blocks of the socket buffer, so kills land mid-body too.
  const size = [0, 1, 1000, 70_000, 300_000, 1_200_000][version % 6]!;
  const seed = createHash('sha256').update(`${key}#${version}`).digest();
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i += 32) seed.copy(out, i, 0, Math.min(32, size - i));
  if (size >= 8) out.writeUInt32BE(version, 0);
  return out;
}

function digest(b: Buffer | Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

let server: TestServer | undefined;
const dataDir = tempDir('akko-crash-');
afterAll(async () => {
  await server?.destroy();
});

describe('crash safety under SIGKILL', () => {
  it(`keeps every acknowledged write across ${ROUNDS} kills`, { timeout: 600_000 }, async () => {
    // acked: the digest of the last acknowledged write per key; inflight: writes started but not acknowledged.
    const acked = new Map<string, string>();
    const inflight = new Map<string, Set<string>>();
    let version = 0;
    for (let round = 0; round < ROUNDS; round++) {
      server = await startServer({ dataDir, args: ['--buckets', 'crash'] });
      const s3 = new S3Client({
        endpoint: server.s3, region: 'akko-local', forcePathStyle: true, maxAttempts: 1,
        credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
      });
      // 1. Everything acknowledged before the last kill reads back intact (or as an in-flight write).
      expect(filesUnder(join(dataDir, 'tmp'))).toEqual([]);
      for (let k = 0; k < KEYS; k++) {
        const key = `obj-${k}`;
        let got: string | undefined;
        try {
          const r = await s3.send(new GetObjectCommand({ Bucket: 'crash', Key: key }));
          got = digest(await r.Body!.transformToByteArray());
        } catch (e) {
          if ((e as Error).name !== 'NoSuchKey') throw e;
        }
        const allowed = new Set([acked.get(key), ...(inflight.get(key) ?? [])]);
        expect(allowed.has(got), `round ${round} key ${key}: ${got} not in ${[...allowed].join(',')}`).toBe(true);
        if (got !== undefined) acked.set(key, got);
        inflight.delete(key);
      }
      // 2. Concurrent writers overwrite keys until the server is killed at a random moment.
      let killed = false;
      const earlyErrors: string[] = [];
      // Each writer owns its keys, so per key the writes are sequential and "the last
      // acknowledged or the one in flight" is exactly what may be on disk.
      const writer = async (w: number) => {
        while (!killed) {
          const key = `obj-${w + WRITERS * Math.floor(Math.random() * (KEYS / WRITERS))}`;
          const v = ++version;
          const body = bodyFor(key, v);
          const d = digest(body);
          inflight.set(key, new Set([d]));
          try {
            await s3.send(new PutObjectCommand({ Bucket: 'crash', Key: key, Body: body }));
            // Acknowledged: from now on this (or a later write) must survive.
            acked.set(key, d);
            inflight.delete(key);
          } catch (e) {
            // Only the kill may fail a write.
            if (!killed) earlyErrors.push(`${key}: ${(e as Error).name} ${(e as Error).message}`);
            return;
          }
        }
      };
      const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 400));
      killed = true;
      await server.stop('SIGKILL');
      await Promise.all(writers);
      s3.destroy();
      expect(earlyErrors).toEqual([]);
    }
    // 3. After a last restart, cleanup leaves exactly one blob per object and no temp file.
    server = await startServer({ dataDir, args: ['--buckets', 'crash'] });
    expect(filesUnder(join(dataDir, 'tmp'))).toEqual([]);
    const blobs = filesUnder(join(dataDir, 'blobs'));
    expect(blobs.length).toBeLessThanOrEqual(KEYS);
  });
});
