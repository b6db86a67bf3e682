// The bucket lifecycle rule this server carries out: AbortIncompleteMultipartUpload. An upload
// whose key a bucket's enabled rule matches (by prefix) is aborted once its initiation time plus
// DaysAfterInitiation, rounded up to midnight UTC, has passed, as S3 does
// (user guide mpu-abort-incomplete-mpu-lifecycle-config, intro-lifecycle-rules). The
// server-wide age limit (Store.abortStaleUploads) keeps applying as well; whichever comes first
// aborts the upload. Expiration and transitions are stored, not enforced.
import { lifecycleAbortDateFor, lifecycleOf } from '../s3/lifecycle.js';
import type { Store } from '../store/store.js';

type SweepStore = Pick<Store, 'listBuckets' | 'listUploads' | 'abortUpload'>;

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

/**
 * Runs abortUploadsDueByLifecycle once at start and then every `everyMs` (an hour by default:
 * the rule's unit is a day). stop() waits for a running pass.
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
