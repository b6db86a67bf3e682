// Crash tests of the key-operation jobs: the server running `kms rewrap` / `kms encrypt-existing`
// (and the CLI following it) is killed with SIGKILL at random points, 30+ rounds each; every
// restart resumes the interrupted job from its checkpoint, and the final run of the same
// command finishes it with nothing lost or left half-done.
import { createHash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type TestServer } from '../helpers/server.js';
import { admin, bodyFor, filesUnder, kms, lean, objectsIn, pool, putAll, spawnKms, verifyAll, type Obj } from './kms-ops-support.js';

const ROUNDS = 30;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Deterministic pseudo-random kill points, so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

async function killBoth(server: TestServer, cli: ReturnType<typeof spawnKms>): Promise<void> {
  server.child.kill('SIGKILL');
  await server.stop();
  cli.child.kill('SIGKILL');
  await cli.done;
}

function json<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop()!) as T;
}

describe('SIGKILL during kms rewrap', () => {
  it(`${ROUNDS} rounds killed at random points; re-running finishes with every record under the newest version and every object intact`, async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const buckets = ['cr-a', 'cr-b', 'cr-c'];
    const args = ['--buckets', buckets.join(',')];
    let server = await startServer({ dataDir, args });
    let c = lean(server);
    // 243 bucket-key records (one write per bucket, then new bucket keys, 80 times) and 900 objects.
    const objs: Obj[] = [];
    for (let i = 0; i < 80; i++) {
      const batch = buckets.map((b) => ({ bucket: b, key: `seed/${i}`, body: bodyFor(i * 3 + b.length, b) }));
      objs.push(...batch);
      await putAll(c, batch);
      await admin(server, 'POST', '/kms/bucket-keys/retire', {});
    }
    const more = objectsIn(buckets, 660, 'crash-rw');
    await putAll(c, more);
    objs.push(...more);
    const seeded = json<{ bucketKeys: Array<{ records: number }> }>((await kms(server, ['status', '--json', '--no-canary'])).stdout);
    // 80 × 3 retired bucket keys, and the 3 that the last 660 writes opened.
    const records = seeded.bucketKeys.reduce((n, k) => n + k.records, 0);
    expect(records).toBe(243);
    c.destroy();
    await server.stop();

    const random = rng(20260501);
    let midJob = 0;
    let rotations = 0;
    for (let round = 0; round < ROUNDS; round++) {
      server = await startServer({ dataDir, args });
      if (round % 5 === 0) {
        expect((await kms(server, ['rotate'])).code).toBe(0);
        rotations++;
      }
      const cli = spawnKms(server, ['rewrap', '--max-rate', '300']);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 1500)));
      await killBoth(server, cli);
      if (!/rewrap succeeded/.test(cli.out())) midJob++;
    }

    server = await startServer({ dataDir, args });
    const r = await kms(server, ['rewrap']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/rewrap succeeded/);
    expect(r.stdout).toMatch(/0 failed/);
    const current = `v${rotations + 1}`;
    const s = json<{ bucketKeys: Array<{ provider: string; key: string; version: string; records: number }> }>((await kms(server, ['status', '--json'])).stdout);
    // Nothing lost, nothing half-done: every record, each under the newest version.
    expect(s.bucketKeys).toEqual([{ provider: 'local', key: 'akko-default', version: current, records }]);
    const jobs = json<{ jobs: Array<{ state: string }> }>((await kms(server, ['jobs', '--json'])).stdout).jobs;
    expect(jobs.filter((j) => j.state === 'running')).toEqual([]);
    // The old versions can go; the cold read afterwards proves nothing needs them.
    for (let v = 1; v <= rotations; v++) expect((await kms(server, ['retire', `akko-default/v${v}`])).code).toBe(0);
    await server.stop();
    server = await startServer({ dataDir, args });
    c = lean(server);
    expect(await verifyAll(c, objs)).toEqual([]);
    c.destroy();
    await server.stop();
    console.log(`rewrap crash test: ${ROUNDS} SIGKILL rounds (${midJob} with the job unfinished at the kill), ${rotations} rotations, ${records} records all at ${current}, ${objs.length} objects intact`);
    expect(midJob).toBeGreaterThanOrEqual(10);
  }, 300_000);
});

describe('SIGKILL during kms encrypt-existing', () => {
  it(`${ROUNDS} rounds killed at random points while writes continue between them; re-running encrypts everything, keeps every byte and ETag, leaves no stray blob`, async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const buckets = ['ce-a', 'ce-b'];
    const args = ['--buckets', buckets.join(','), '--encryption', 'off'];
    let server = await startServer({ dataDir, args });
    let c = lean(server);
    const expected = new Map<string, Obj>();
    const initial = objectsIn(buckets, 1500, 'crash-ee');
    await putAll(c, initial);
    for (const o of initial) expected.set(`${o.bucket}/${o.key}`, o);
    c.destroy();
    await server.stop();

    const random = rng(777);
    let midJob = 0;
    for (let round = 0; round < ROUNDS; round++) {
      server = await startServer({ dataDir, args });
      if (round % 5 === 4) {
        // New plaintext writes between crashes: overwrites and new keys.
        c = lean(server);
        const writes: Obj[] = [];
        for (let i = 0; i < 40; i++) {
          const base = initial[Math.floor(random() * initial.length)]!;
          writes.push({ ...base, body: bodyFor(i + round * 100, `round${round}`) });
          writes.push({ bucket: buckets[i % 2]!, key: `new/${round}/${i}`, body: bodyFor(i, `new${round}`) });
        }
        await putAll(c, writes);
        for (const o of writes) expected.set(`${o.bucket}/${o.key}`, o);
        c.destroy();
      }
      const cli = spawnKms(server, ['encrypt-existing', '--max-rate', '400']);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 2500)));
      await killBoth(server, cli);
      if (!/encrypt-existing succeeded/.test(cli.out())) midJob++;
    }

    server = await startServer({ dataDir, args });
    const r = await kms(server, ['encrypt-existing']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/encrypt-existing succeeded.* 0 failed/);
    const s = json<{ totals: { objects: number; plaintextObjects: number } }>((await kms(server, ['status', '--json'])).stdout);
    expect(s.totals.plaintextObjects).toBe(0);
    expect(s.totals.objects).toBe(expected.size);
    const objs = [...expected.values()];
    c = lean(server);
    expect(await verifyAll(c, objs)).toEqual([]);
    // ETags are still the MD5 of the plaintext.
    const badEtags: string[] = [];
    await pool(objs.filter((_, i) => i % 7 === 0), 32, async (o) => {
      const h = await c.send('HEAD', `/${o.bucket}/${o.key}`);
      if (h.headers.etag !== `"${createHash('md5').update(o.body).digest('hex')}"` || h.headers['x-amz-server-side-encryption'] !== 'aws:kms') badEtags.push(o.key);
    });
    expect(badEtags).toEqual([]);
    c.destroy();
    await server.stop();
    // Nothing half-done on disk: after a restart (which sweeps leftovers), one blob per object and no temp file.
    server = await startServer({ dataDir, args });
    await server.stop();
    expect(filesUnder(join(dataDir, 'blobs'))).toHaveLength(expected.size);
    expect(readdirSync(join(dataDir, 'tmp'))).toEqual([]);
    console.log(`encrypt-existing crash test: ${ROUNDS} SIGKILL rounds (${midJob} with the job unfinished at the kill), ${expected.size} objects all encrypted and intact`);
    expect(midJob).toBeGreaterThanOrEqual(10);
  }, 400_000);
});
