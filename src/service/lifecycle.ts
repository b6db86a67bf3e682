// The bucket lifecycle actions this server carries out, as S3 does (user guide
// mpu-abort-incomplete-mpu-lifecycle-config, intro-lifecycle-rules,
// lifecycle-expire-general-considerations):
//   - AbortIncompleteMultipartUpload: an upload whose key an enabled rule matches (by prefix) is
//     aborted once its initiation time plus DaysAfterInitiation, rounded up to midnight UTC, has
//     passed. The server-wide age limit (Store.abortStaleUploads) keeps applying as well.
//   - Expiration (Days or Date): an object that an enabled rule's filter selects is deleted once
//     its expiry date has passed. S3 too deletes some time after that date, not at it; an hourly
//     sweep is well inside its "usually within a day". The delete names the blobs it saw, so an
//     object overwritten meanwhile (a new last-modified) is not deleted.
// Transitions and the noncurrent-version actions are stored, not carried out.
import { setImmediate as yieldToRequests } from 'node:timers/promises';
import { expiresObjects, lifecycleAbortDateFor, lifecycleExpirationFor, lifecycleOf, rulePrefix, type LifecycleRule } from '../s3/lifecycle.js';
import { blobIdsOf } from '../store/metadata.js';
import type { Store } from '../store/store.js';

type SweepStore = Pick<Store, 'listBuckets' | 'listUploads' | 'abortUpload' | 'list' | 'deleteObject'>;

const PAGE = 1000;

/** Aborts every upload a bucket's AbortIncompleteMultipartUpload rule has made due by `now`; returns how many. */
export async function abortUploadsDueByLifecycle(store: SweepStore, now: number = Date.now()): Promise<number> {
  let aborted = 0;
  for (const bucket of store.listBuckets()) {
    const config = bucket.config;
    if (!lifecycleOf(config)?.rules.some((r) => r.status === 'Enabled' && r.abortIncompleteMultipartUpload)) continue;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      let page;
      try {
        page = store.listUploads(bucket.name, { keyMarker, uploadIdMarker, maxUploads: PAGE });
      } catch (e) {
        if ((e as { code?: string }).code === 'NoSuchBucket') break; // deleted meanwhile
        throw e;
      }
      for (const u of page.uploads) {
        const due = lifecycleAbortDateFor(config, u.key, u.initiated);
        if (!due || due.date > now) continue;
        try {
          await store.abortUpload(bucket.name, u.uploadId, u.key);
          aborted++;
        } catch (e) {
          if ((e as { code?: string }).code !== 'NoSuchUpload') throw e; // completed or aborted meanwhile
        }
      }
      if (!page.isTruncated || page.nextKeyMarker === undefined) break;
      keyMarker = page.nextKeyMarker;
      uploadIdMarker = page.nextUploadIdMarker;
    }
  }
  return aborted;
}

/** The key prefixes an expiration sweep must look under: none nested in another; [''] for the whole bucket. */
function expirationPrefixes(rules: LifecycleRule[]): string[] {
  const all = rules.filter(expiresObjects).map(rulePrefix);
  return [...new Set(all)].sort().filter((p, i, sorted) => !sorted.slice(0, i).some((q) => p.startsWith(q)));
}

/**
 * Deletes every object a bucket's Expiration rule has made due by `now`; returns how many.
 * Yields to requests after every page (a large bucket with nothing due must not block the
 * server for the whole scan) and stops early once `stopping()` says so.
 */
export async function expireObjectsDueByLifecycle(store: SweepStore, now: number = Date.now(), stopping: () => boolean = () => false): Promise<number> {
  let expired = 0;
  for (const bucket of store.listBuckets()) {
    const config = bucket.config;
    const rules = lifecycleOf(config)?.rules ?? [];
    for (const prefix of expirationPrefixes(rules)) {
      let after: string | undefined;
      for (;;) {
        if (stopping()) return expired;
        const page = store.list(bucket.name, { prefix, after, maxKeys: PAGE }); // empty once the bucket is gone
        for (const o of page.contents) {
          const due = lifecycleExpirationFor(config, o);
          if (!due || due.date > now) continue;
          if (await store.deleteObject(bucket.name, o.key, blobIdsOf(o))) expired++;
        }
        if (!page.isTruncated || page.nextAfter === undefined) break;
        after = page.nextAfter;
        await yieldToRequests();
      }
    }
  }
  return expired;
}

/**
 * Runs abortUploadsDueByLifecycle and expireObjectsDueByLifecycle once at start and then every
 * `everyMs` (an hour by default: the rules' unit is a day). stop() ends a running expiration
 * scan at its next page and waits for it.
 */
export function startLifecycleSweep(store: SweepStore, log: (line: string) => void, everyMs = 3600_000): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = () => {
    running = running.then(async () => {
      if (stopped) return;
      try {
        const n = await abortUploadsDueByLifecycle(store, Date.now());
        if (n > 0) log(`lifecycle: aborted ${n} incomplete multipart upload(s) (AbortIncompleteMultipartUpload)`);
        const e = await expireObjectsDueByLifecycle(store, Date.now(), () => stopped);
        if (e > 0) log(`lifecycle: deleted ${e} expired object(s) (Expiration)`);
      } catch (e) {
        log(`lifecycle: sweep failed: ${(e as Error).stack ?? e}`);
      }
    });
  };
  run();
  const timer = setInterval(run, everyMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
