// The embedded store: blob files for bytes (blobs.ts) and an LMDB index for metadata
// (metadata.ts), behind one façade. Nothing here knows about HTTP; S3-visible conditions are
// thrown as S3Error codes.
//
// Write protocol (a crash at any point leaves the old object or the new one, never a mix):
//   1. createBlob(): bytes go to <data>/tmp/<id>
//   2. BlobWriter.commit(): fsync file, rename to <data>/blobs/<xx>/<id>, fsync the directory
//   3. putObject(): one LMDB write transaction checks the conditions, writes the metadata and
//      the blob reference counts; it resolves only when that commit is on disk
//   4. after the commit: unlink the blob(s) the replaced object no longer needs
// At open, tmp/ is emptied and blob files without a committed reference are deleted.
//
// Durability of step 3 (lmdb-js 3.5.x, Linux, default options): an async write's promise
// resolves when the writer thread's mdb_txn_commit() has returned (src/writer.cpp sets
// TXN_COMMITTED only after it). With overlappingSync (default on non-Windows) that commit
// fdatasync()s the data file and writes the meta page through an O_DSYNC descriptor before
// returning (liblmdb/mdb.c, mdb_txn_commit, the MDB_OVERLAPPINGSYNC branch). Observed with
// strace: fdatasync + O_DSYNC pwrite happen before the awaited put/transaction resolves.
// The README's "promise resolves when committed, `flushed` when synced" wording describes the
// separateFlushed option's JS view; natively the commit call already includes the flush.
import { randomBytes } from 'node:crypto';
import type { Database } from 'lmdb';
import { mkdir } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobFiles, DIR_MODE, isBlobId } from './blobs.js';
import { S3Error } from '../s3/errors.js';
import { checkBucketName, checkObjectKey } from './keys.js';
import { MIN_PART_SIZE, Metadata, blobIdsOf } from './metadata.js';
import type {
  BlobWriter,
  BucketInfo,
  BucketUsage,
  CompletePartRequest,
  CompleteResult,
  ListOptions,
  ListPartsOptions,
  ListPartsResult,
  ListResult,
  ListUploadsOptions,
  ListUploadsResult,
  ObjectMeta,
  OpenedObject,
  PartRecord,
  PutConditions,
  StoreOptions,
  UploadRecord,
} from './types.js';

export type * from './types.js';
export { MIN_PART_SIZE } from './metadata.js';

/** Default age after which an in-progress multipart upload is aborted (AWS has no default; 7 days is the common lifecycle rule). */
export const DEFAULT_MULTIPART_MAX_AGE_SECONDS = 7 * 24 * 3600;

const UPLOAD_ID_RE = /^[0-9a-f]{44}$/;

/** Upload ids: 12 hex digits of the initiation time (ms), then 128 random bits, so that id order is initiation order. */
export function isUploadId(id: string): boolean {
  return UPLOAD_ID_RE.test(id);
}

function newUploadId(now: number): string {
  return Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12) + randomBytes(16).toString('hex');
}

function noSuchUpload(uploadId: string): S3Error {
  return new S3Error('NoSuchUpload', undefined, { UploadId: uploadId });
}

function isENOENT(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

export interface CleanupReport {
  tmpRemoved: number;
  blobsRemoved: number;
}

export class Store {
  /** What the cleanup at open removed (zeros when cleanup was off). */
  lastCleanup: CleanupReport = { tmpRemoved: 0, blobsRemoved: 0 };

  private constructor(
    readonly dataDir: string,
    private readonly blobs: BlobFiles,
    private readonly meta: Metadata,
    private readonly openRetries: number,
    /** Uploads initiated longer ago than this are aborted by abortStaleUploads(). */
    readonly multipartMaxAgeSeconds: number = DEFAULT_MULTIPART_MAX_AGE_SECONDS,
  ) {}

  /**
   * Creates the directories (0700) and opens the index. Unless `cleanup: false`, removes
   * leftovers of interrupted writes: everything in tmp/, and blob files that no committed
   * metadata references (one index lookup per blob file).
   */
  static async open(dataDir: string, opts: StoreOptions = {}): Promise<Store> {
    await mkdir(dataDir, { recursive: true, mode: DIR_MODE });
    const blobs = new BlobFiles(dataDir);
    await blobs.init();
    const metaDir = join(dataDir, 'meta');
    await mkdir(metaDir, { recursive: true, mode: DIR_MODE });
    const meta = Metadata.open(metaDir);
    const store = new Store(dataDir, blobs, meta, opts.openRetries ?? 8, opts.multipartMaxAgeSeconds ?? DEFAULT_MULTIPART_MAX_AGE_SECONDS);
    if (opts.cleanup !== false) {
      try {
        store.lastCleanup = {
          tmpRemoved: await blobs.clearTmp(),
          blobsRemoved: await blobs.sweep((id) => meta.isBlobReferenced(id)),
        };
      } catch (e) {
        await meta.close().catch(() => {});
        throw e;
      }
    }
    return store;
  }

  async close(): Promise<void> {
    await this.meta.close();
  }

  // ---- buckets ----

  async createBucket(name: string, region: string): Promise<void> {
    checkBucketName(name);
    await this.meta.createBucket(name, region, Date.now());
  }

  getBucket(name: string): BucketInfo | undefined {
    return this.meta.getBucket(name);
  }

  /** Sorted by name. */
  listBuckets(): BucketInfo[] {
    return this.meta.listBuckets();
  }

  /**
   * NoSuchBucket, BucketNotEmpty. In-progress multipart uploads do not make a bucket non-empty:
   * they are aborted with it (AWS S3 deletes a bucket that has only incomplete uploads).
   */
  async deleteBucket(name: string): Promise<void> {
    const freed = await this.meta.deleteBucket(name);
    await this.blobs.unlink(freed).catch(() => {});
  }

  /** Sets (or with `undefined` removes) one subresource configuration. NoSuchBucket. */
  async setBucketConfig(name: string, key: string, value: unknown | undefined): Promise<void> {
    await this.meta.setBucketConfig(name, key, value);
  }

  /** Object count and logical bytes of a bucket, maintained in the same transactions as the objects. */
  bucketUsage(name: string): BucketUsage | undefined {
    return this.meta.bucketUsage(name);
  }

  objectCount(bucket: string): number {
    return this.meta.bucketUsage(bucket)?.objects ?? 0;
  }

  isEmpty(bucket: string): boolean {
    return this.meta.isEmpty(bucket);
  }

  /**
   * A further named database in the same LMDB environment, for records other modules own
   * (kms bucket keys): their writes are as durable as the object index's.
   */
  database<V>(name: string): Database<V, string> {
    return this.meta.env.openDB<V, string>({ name });
  }

  // ---- blobs ----

  /** A new blob file; it is durable after commit() and owned by the caller until a putObject references it. */
  createBlob(): BlobWriter {
    return this.blobs.create((id) => this.deleteBlobs([id]));
  }

  /** Opens a durable blob. Throws an error with code 'ENOENT' if it does not exist. */
  openBlob(id: string): Promise<FileHandle> {
    return this.blobs.open(id);
  }

  /**
   * A durable copy of a blob under a new id (a hard link: no bytes copied). Owned by the
   * caller until a putObject references it. Throws code 'ENOENT' if the source is gone
   * (e.g. a racing overwrite of the source object): re-read the source and retry.
   */
  linkBlob(id: string): Promise<string> {
    return this.blobs.link(id);
  }

  /** Deletes caller-owned blobs (e.g. after a failed putObject). Ids that committed metadata references are left alone. */
  async deleteBlobs(ids: Iterable<string>): Promise<void> {
    const unreferenced = [...ids].filter((id) => isBlobId(id) && !this.meta.isBlobReferenced(id));
    await this.blobs.unlink(unreferenced);
  }

  // ---- multipart uploads ----

  /** Starts an upload of `key`. NoSuchBucket; the key is checked as for putObject. */
  async createUpload(bucket: string, key: string, init: Omit<UploadRecord, 'key' | 'uploadId' | 'initiated'>, now = Date.now()): Promise<UploadRecord> {
    checkObjectKey(key);
    const rec: UploadRecord = { key, uploadId: newUploadId(now), initiated: now, meta: init.meta };
    if (init.checksumAlgorithm !== undefined) rec.checksumAlgorithm = init.checksumAlgorithm;
    if (init.checksumType !== undefined) rec.checksumType = init.checksumType;
    if (init.seal !== undefined) rec.seal = init.seal;
    await this.meta.createUpload(bucket, rec);
    return rec;
  }

  /** The upload of `key` with this id. NoSuchUpload (also for a malformed id or another key's upload). */
  getUpload(bucket: string, uploadId: string, key: string): UploadRecord {
    const rec = isUploadId(uploadId) ? this.meta.getUpload(bucket, uploadId) : undefined;
    if (!rec || rec.key !== key) throw noSuchUpload(uploadId);
    return rec;
  }

  /**
   * Records a part whose blob is durable (createBlob + commit); a part with the same number is
   * replaced and its blob unlinked. NoSuchUpload. On failure the caller still owns the blob.
   */
  async putPart(bucket: string, uploadId: string, key: string, part: PartRecord): Promise<PartRecord | undefined> {
    if (!isUploadId(uploadId)) throw noSuchUpload(uploadId);
    if (!isBlobId(part.blobId)) throw new Error(`putPart: ${JSON.stringify(part.blobId)} is not a blob id`);
    if (!Number.isInteger(part.partNumber) || part.partNumber < 1 || part.partNumber > 10_000) throw new Error(`putPart: bad part number ${part.partNumber}`);
    const { replaced, freed } = await this.meta.putPart(bucket, uploadId, key, part);
    await this.blobs.unlink(freed).catch(() => {});
    return replaced;
  }

  /**
   * CompleteMultipartUpload. `build` turns the upload and the listed part records (after the
   * structural checks) into the object's metadata; it runs outside the write transaction (it may
   * hash), and the commit then checks, in one transaction, that the upload still exists, the
   * conditions hold and the listed parts are still those records, before writing the object with
   * the parts' blobs linked (no byte is copied), dropping the upload and its unlisted parts and
   * releasing the replaced object's blobs. A part re-uploaded in between makes it build again.
   *
   * A retried Complete of an upload that was completed into the object now at `key` with the same
   * parts answers with that object (`replayed`), conditions not re-checked, as AWS S3 does.
   * Errors: NoSuchUpload, InvalidPartOrder, InvalidPart, EntityTooSmall, PreconditionFailed,
   * NoSuchKey (If-Match on a missing key), NoSuchBucket, or what `build` throws.
   */
  async completeUpload(
    bucket: string,
    uploadId: string,
    key: string,
    listed: CompletePartRequest[],
    build: (upload: UploadRecord, parts: PartRecord[]) => ObjectMeta,
    cond?: PutConditions,
    minPartSize = MIN_PART_SIZE,
  ): Promise<CompleteResult> {
    if (!isUploadId(uploadId)) throw noSuchUpload(uploadId);
    for (let attempt = 0; ; attempt++) {
      const plan = this.meta.planComplete(bucket, uploadId, key, listed, minPartSize);
      if ('replay' in plan) return { meta: plan.replay, replayed: true };
      const built = build(plan.upload, plan.parts);
      if (built.key !== key || built.parts?.length !== plan.parts.length || built.parts.some((p, i) => p.blobId !== plan.parts[i]!.blobId)) {
        throw new Error('completeUpload: build must keep the key and list the parts\' blobs in order');
      }
      // What a retried Complete recognises: the upload id and the part numbers.
      const meta: ObjectMeta = { ...built, uploadId, parts: built.parts.map((p, i) => ({ ...p, partNumber: plan.parts[i]!.partNumber })) };
      const outcome = await this.meta.commitComplete(bucket, uploadId, listed, { meta, parts: plan.parts }, cond, minPartSize);
      if ('done' in outcome) {
        await this.blobs.unlink(outcome.freed).catch(() => {}); // a leftover is swept at the next open
        return outcome.done;
      }
      if (attempt >= 16) throw new S3Error('InternalError', 'The parts kept changing while the upload was being completed.');
    }
  }

  /** Drops the upload and its parts' blobs. NoSuchUpload. */
  async abortUpload(bucket: string, uploadId: string, key: string): Promise<void> {
    if (!isUploadId(uploadId)) throw noSuchUpload(uploadId);
    const freed = await this.meta.abortUpload(bucket, uploadId, key);
    await this.blobs.unlink(freed).catch(() => {});
  }

  /** One page of an upload's parts. NoSuchUpload. */
  listParts(bucket: string, uploadId: string, key: string, opts: ListPartsOptions): ListPartsResult {
    if (!isUploadId(uploadId)) throw noSuchUpload(uploadId);
    return this.meta.listParts(bucket, uploadId, key, opts);
  }

  /** In-progress uploads of a bucket in S3 order (key, then initiation). */
  listUploads(bucket: string, opts: ListUploadsOptions): ListUploadsResult {
    return this.meta.listUploads(bucket, opts);
  }

  /**
   * Aborts every upload initiated more than multipartMaxAgeSeconds before `now` (what an S3
   * lifecycle AbortIncompleteMultipartUpload rule does). Returns how many were aborted.
   */
  async abortStaleUploads(now: number = Date.now()): Promise<number> {
    const cutoff = now - this.multipartMaxAgeSeconds * 1000;
    let n = 0;
    for (const { bucket, upload } of this.meta.uploadsInitiatedBefore(cutoff)) {
      try {
        const freed = await this.meta.abortUpload(bucket, upload.uploadId);
        await this.blobs.unlink(freed).catch(() => {});
        n++;
      } catch (e) {
        if ((e as S3Error).code !== 'NoSuchUpload') throw e; // completed or aborted meanwhile
      }
    }
    return n;
  }

  // ---- objects ----

  /** Undefined when the key (or bucket) does not exist. */
  headObject(bucket: string, key: string): ObjectMeta | undefined {
    return this.meta.headObject(bucket, key);
  }

  /**
   * Reads the metadata and opens its blob(s). If a racing overwrite or delete unlinked a blob
   * between the two, re-reads the metadata and tries again, so the caller gets the old or the
   * new object, never an error. Undefined when the key does not exist. The caller closes the handles.
   */
  async openObject(bucket: string, key: string): Promise<OpenedObject | undefined> {
    for (let attempt = 0; ; attempt++) {
      const meta = this.meta.headObject(bucket, key);
      if (!meta) return undefined;
      const ids = meta.parts && meta.parts.length > 0 ? meta.parts.map((p) => p.blobId) : [meta.blobId];
      const handles: FileHandle[] = [];
      try {
        for (const id of ids) handles.push(await this.blobs.open(id));
        return { meta, handles, handle: handles[0]! };
      } catch (e) {
        await Promise.all(handles.map((h) => h.close().catch(() => {})));
        if (!isENOENT(e) || attempt >= this.openRetries) throw e;
        this.meta.refreshReads();
      }
    }
  }

  /**
   * Commits `meta` durably, checking `cond` atomically in the same write transaction
   * (PreconditionFailed; NoSuchKey for If-Match on a missing key; NoSuchBucket). Returns the
   * replaced metadata, after unlinking the blobs it alone referenced. On failure the blobs
   * named by `meta` are untouched: the caller still owns them (deleteBlobs).
   */
  async putObject(bucket: string, meta: ObjectMeta, cond?: PutConditions): Promise<ObjectMeta | undefined> {
    checkObjectKey(meta.key);
    for (const id of blobIdsOf(meta)) {
      if (!isBlobId(id)) throw new Error(`putObject: ${JSON.stringify(id)} is not a blob id`);
    }
    const { old, freed } = await this.meta.putObject(bucket, meta, cond);
    await this.blobs.unlink(freed).catch(() => {}); // a leftover is swept at the next open
    return old;
  }

  /**
   * Changes an object's metadata without touching its bytes (tags), atomically against
   * concurrent writes: `fn` runs inside the write transaction on the current metadata and must
   * keep the key, size and blobs. NoSuchBucket, NoSuchKey, or what `fn` throws.
   */
  updateObject(bucket: string, key: string, fn: (meta: ObjectMeta) => ObjectMeta): Promise<ObjectMeta> {
    return this.meta.updateObject(bucket, key, fn);
  }

  /**
   * Removes the metadata (durably), then the blobs it alone referenced; returns the deleted
   * version. Missing key, or with `ifBlobIds` another version: undefined. NoSuchBucket.
   */
  async deleteObject(bucket: string, key: string, ifBlobIds?: string[]): Promise<ObjectMeta | undefined> {
    const { old, freed } = await this.meta.deleteObject(bucket, key, ifBlobIds);
    await this.blobs.unlink(freed).catch(() => {});
    return old;
  }

  /**
   * Lists in UTF-8 byte order. `after` is an exclusive start; contents and common prefixes
   * together are at most maxKeys; nextAfter is the last key or prefix returned when truncated.
   */
  list(bucket: string, opts: ListOptions): ListResult {
    return this.meta.list(bucket, opts);
  }
}
