// The embedded store alone (no HTTP): listing throughput over 100k keys, head and put latency,
// concurrent puts, and reopen-with-cleanup time.
//   npx tsc -p . && node dist/bench/store.js      (AKKO_STORE_PERF_KEYS, default 100000)
// It stops with an error on a wrong count or a delimiter listing that walks the keys under
// the prefixes (more than 50 ms a call): those are bugs, not noise.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../src/store/store.js';
import type { ObjectMeta } from '../src/store/types.js';

const N = Number(process.env.AKKO_STORE_PERF_KEYS ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'akko-store-perf-'));
let store: Store | undefined;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`store bench: ${what}`);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const ms = (ns: bigint) => Number(ns) / 1e6;

function meta(key: string, blobId: string, size = 1): ObjectMeta {
  return { key, size, etag: '"0123456789abcdef0123456789abcdef"', lastModified: Date.now(), blobId, userMeta: { a: 'b' }, checksums: { crc64nvme: 'AAAAAAAAAAA=' }, contentType: 'application/octet-stream' };
}

try {
  {
    store = await Store.open(dir);
    await store.createBucket('perf', 'r');
    const w = store.createBlob();
    w.stream.end('x');
    await w.commit();
    const id = w.id;
    const report: string[] = [];

    // Load: 100 "directories" × N/100 keys, metadata only (one shared, reference-counted blob).
    const perDir = N / 100;
    let t = process.hrtime.bigint();
    const BATCH = 2000;
    const all: string[] = [];
    for (let d = 0; d < 100; d++) for (let f = 0; f < perDir; f++) all.push(`data/d${String(d).padStart(2, '0')}/part-${String(f).padStart(6, '0')}.parquet`);
    for (let i = 0; i < all.length; i += BATCH) await Promise.all(all.slice(i, i + BATCH).map((k) => store!.putObject('perf', meta(k, id))));
    const loadMs = ms(process.hrtime.bigint() - t);
    report.push(`load ${N} keys (putObject, ${BATCH} concurrent): ${loadMs.toFixed(0)} ms = ${((N / loadMs) * 1000).toFixed(0)} puts/s`);
    check(store.objectCount('perf') === N, `${store.objectCount('perf')} objects after loading ${N}`);

    // Flat listing, pages of 1000 (ListObjectsV2 default).
    t = process.hrtime.bigint();
    let seen = 0;
    let after: string | undefined;
    for (;;) {
      const r = store.list('perf', { prefix: 'data/', after, maxKeys: 1000 });
      seen += r.contents.length;
      if (!r.isTruncated) break;
      after = r.nextAfter;
    }
    const flatMs = ms(process.hrtime.bigint() - t);
    check(seen === N, `flat listing saw ${seen} of ${N} keys`);
    report.push(`flat list ${N} keys in pages of 1000: ${flatMs.toFixed(0)} ms = ${((N / flatMs) * 1000).toFixed(0)} keys/s`);

    // Delimiter listing of the 100 directories: must not walk the N keys under them.
    t = process.hrtime.bigint();
    const REP = 200;
    for (let i = 0; i < REP; i++) {
      const r = store.list('perf', { prefix: 'data/', delimiter: '/', maxKeys: 1000 });
      check(r.commonPrefixes.length === 100, `${r.commonPrefixes.length} common prefixes, not 100`);
    }
    const delimMs = ms(process.hrtime.bigint() - t) / REP;
    report.push(`delimiter list (100 common prefixes over ${N} keys): ${delimMs.toFixed(2)} ms per call`);
    check(delimMs < 50, `delimiter listing takes ${delimMs.toFixed(1)} ms a call: it walks the keys under the prefixes`);

    // Paging one prefix at a time with a delimiter, 10 per page (continuation across prefixes).
    t = process.hrtime.bigint();
    let pages = 0;
    after = undefined;
    for (;;) {
      const r = store.list('perf', { prefix: 'data/', delimiter: '/', after, maxKeys: 10 });
      pages++;
      if (!r.isTruncated) break;
      after = r.nextAfter;
    }
    report.push(`delimiter paging, 10 prefixes per page: ${pages} pages in ${ms(process.hrtime.bigint() - t).toFixed(2)} ms`);

    // One directory's listing (a prefix in the middle of the index).
    t = process.hrtime.bigint();
    for (let i = 0; i < REP; i++) check(store.list('perf', { prefix: 'data/d50/', maxKeys: 1000 }).contents.length === Math.min(1000, perDir), 'one directory listed short');
    report.push(`prefix list of one directory (${Math.min(1000, perDir)} keys): ${(ms(process.hrtime.bigint() - t) / REP).toFixed(2)} ms per call`);

    // headObject
    t = process.hrtime.bigint();
    for (let i = 0; i < 100_000; i++) store.headObject('perf', all[(i * 7919) % N]!);
    report.push(`headObject: ${(ms(process.hrtime.bigint() - t) / 100).toFixed(2)} µs per call`);

    // Put latency, sequential: metadata only, and a full small put (blob 4 KiB + fsyncs + commit).
    const metaOnly: number[] = [];
    for (let i = 0; i < 200; i++) {
      const s = process.hrtime.bigint();
      await store.putObject('perf', meta(`lat/meta-${i}`, id));
      metaOnly.push(ms(process.hrtime.bigint() - s));
    }
    const full: number[] = [];
    const blobOnly: number[] = [];
    const body = Buffer.alloc(4096, 1);
    for (let i = 0; i < 200; i++) {
      const s = process.hrtime.bigint();
      const b = store.createBlob();
      b.stream.end(body);
      await b.commit();
      const mid = process.hrtime.bigint();
      await store.putObject('perf', meta(`lat/full-${i % 20}`, b.id, body.length)); // overwrites: also unlinks
      const e = process.hrtime.bigint();
      blobOnly.push(ms(mid - s));
      full.push(ms(e - s));
    }
    report.push(`putObject (metadata commit only), sequential: p50 ${pct(metaOnly, 50).toFixed(2)} ms, p99 ${pct(metaOnly, 99).toFixed(2)} ms`);
    report.push(`blob write+commit 4 KiB, sequential: p50 ${pct(blobOnly, 50).toFixed(2)} ms, p99 ${pct(blobOnly, 99).toFixed(2)} ms`);
    report.push(`full 4 KiB put (blob + metadata), sequential: p50 ${pct(full, 50).toFixed(2)} ms, p99 ${pct(full, 99).toFixed(2)} ms`);

    // 32 concurrent full puts (the commits batch into shared LMDB transactions).
    t = process.hrtime.bigint();
    const CONC = 32;
    const ROUNDS = 20;
    const lat: number[] = [];
    await Promise.all(
      Array.from({ length: CONC }, async (_, c) => {
        for (let r = 0; r < ROUNDS; r++) {
          const s = process.hrtime.bigint();
          const b = store!.createBlob();
          b.stream.end(body);
          await b.commit();
          await store!.putObject('perf', meta(`conc/${c}-${r}`, b.id, body.length));
          lat.push(ms(process.hrtime.bigint() - s));
        }
      }),
    );
    const concMs = ms(process.hrtime.bigint() - t);
    report.push(`${CONC} concurrent full 4 KiB puts: ${((CONC * ROUNDS * 1000) / concMs).toFixed(0)} puts/s, latency p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms`);

    // Reopen with cleanup over the blobs we made.
    await store.close();
    t = process.hrtime.bigint();
    store = await Store.open(dir);
    report.push(`reopen with cleanup (${N + 1000} objects, ~${1 + 20 + CONC * ROUNDS} blob files): ${ms(process.hrtime.bigint() - t).toFixed(0)} ms, removed ${JSON.stringify(store.lastCleanup)}`);
    check(store.lastCleanup.blobsRemoved === 0, 'reopen removed blobs that objects reference');

    console.log(`[store bench]\n  ${report.join('\n  ')}`);
  }
} finally {
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
}
