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
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BlobFiles, DIR_MODE, isBlobId } from './blobs.js';
import { checkBucketName, checkObjectKey } from './keys.js';
import { Metadata, blobIdsOf } from './metadata.js';
function isENOENT(e) {
    return e?.code === 'ENOENT';
}
export class Store {
    dataDir;
    blobs;
    meta;
    openRetries;
    /** What the cleanup at open removed (zeros when cleanup was off). */
    lastCleanup = { tmpRemoved: 0, blobsRemoved: 0 };
    constructor(dataDir, blobs, meta, openRetries) {
        this.dataDir = dataDir;
        this.blobs = blobs;
        this.meta = meta;
        this.openRetries = openRetries;
    }
    /**
     * Creates the directories (0700) and opens the index. Unless `cleanup: false`, removes
     * leftovers of interrupted writes: everything in tmp/, and blob files that no committed
     * metadata references (one index lookup per blob file).
     */
    static async open(dataDir, opts = {}) {
        await mkdir(dataDir, { recursive: true, mode: DIR_MODE });
        const blobs = new BlobFiles(dataDir);
        await blobs.init();
        const metaDir = join(dataDir, 'meta');
        await mkdir(metaDir, { recursive: true, mode: DIR_MODE });
        const meta = Metadata.open(metaDir);
        const store = new Store(dataDir, blobs, meta, opts.openRetries ?? 8);
        if (opts.cleanup !== false) {
            try {
                store.lastCleanup = {
                    tmpRemoved: await blobs.clearTmp(),
                    blobsRemoved: await blobs.sweep((id) => meta.isBlobReferenced(id)),
                };
            }
            catch (e) {
                await meta.close().catch(() => { });
                throw e;
            }
        }
        return store;
    }
    async close() {
        await this.meta.close();
    }
    // ---- buckets ----
    async createBucket(name, region) {
        checkBucketName(name);
        await this.meta.createBucket(name, region, Date.now());
    }
    getBucket(name) {
        return this.meta.getBucket(name);
    }
    /** Sorted by name. */
    listBuckets() {
        return this.meta.listBuckets();
    }
    /** NoSuchBucket, BucketNotEmpty. */
    async deleteBucket(name) {
        await this.meta.deleteBucket(name);
    }
    /** Sets (or with `undefined` removes) one subresource configuration. NoSuchBucket. */
    async setBucketConfig(name, key, value) {
        await this.meta.setBucketConfig(name, key, value);
    }
    /** Object count and logical bytes of a bucket, maintained in the same transactions as the objects. */
    bucketUsage(name) {
        return this.meta.bucketUsage(name);
    }
    objectCount(bucket) {
        return this.meta.bucketUsage(bucket)?.objects ?? 0;
    }
    isEmpty(bucket) {
        return this.meta.isEmpty(bucket);
    }
    // ---- blobs ----
    /** A new blob file; it is durable after commit() and owned by the caller until a putObject references it. */
    createBlob() {
        return this.blobs.create((id) => this.deleteBlobs([id]));
    }
    /** Opens a durable blob. Throws an error with code 'ENOENT' if it does not exist. */
    openBlob(id) {
        return this.blobs.open(id);
    }
    /**
     * A durable copy of a blob under a new id (a hard link: no bytes copied). Owned by the
     * caller until a putObject references it. Throws code 'ENOENT' if the source is gone
     * (e.g. a racing overwrite of the source object): re-read the source and retry.
     */
    linkBlob(id) {
        return this.blobs.link(id);
    }
    /** Deletes caller-owned blobs (e.g. after a failed putObject). Ids that committed metadata references are left alone. */
    async deleteBlobs(ids) {
        const unreferenced = [...ids].filter((id) => isBlobId(id) && !this.meta.isBlobReferenced(id));
        await this.blobs.unlink(unreferenced);
    }
    // ---- objects ----
    /** Undefined when the key (or bucket) does not exist. */
    headObject(bucket, key) {
        return this.meta.headObject(bucket, key);
    }
    /**
     * Reads the metadata and opens its blob(s). If a racing overwrite or delete unlinked a blob
     * between the two, re-reads the metadata and tries again, so the caller gets the old or the
     * new object, never an error. Undefined when the key does not exist. The caller closes the handles.
     */
    async openObject(bucket, key) {
        for (let attempt = 0;; attempt++) {
            const meta = this.meta.headObject(bucket, key);
            if (!meta)
                return undefined;
            const ids = meta.parts && meta.parts.length > 0 ? meta.parts.map((p) => p.blobId) : [meta.blobId];
            const handles = [];
            try {
                for (const id of ids)
                    handles.push(await this.blobs.open(id));
                return { meta, handles, handle: handles[0] };
            }
            catch (e) {
                await Promise.all(handles.map((h) => h.close().catch(() => { })));
                if (!isENOENT(e) || attempt >= this.openRetries)
                    throw e;
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
    async putObject(bucket, meta, cond) {
        checkObjectKey(meta.key);
        for (const id of blobIdsOf(meta)) {
            if (!isBlobId(id))
                throw new Error(`putObject: ${JSON.stringify(id)} is not a blob id`);
        }
        const { old, freed } = await this.meta.putObject(bucket, meta, cond);
        await this.blobs.unlink(freed).catch(() => { }); // a leftover is swept at the next open
        return old;
    }
    /** Removes the metadata (durably), then the blobs it alone referenced. Missing key: undefined. NoSuchBucket. */
    async deleteObject(bucket, key) {
        const { old, freed } = await this.meta.deleteObject(bucket, key);
        await this.blobs.unlink(freed).catch(() => { });
        return old;
    }
    /**
     * Lists in UTF-8 byte order. `after` is an exclusive start; contents and common prefixes
     * together are at most maxKeys; nextAfter is the last key or prefix returned when truncated.
     */
    list(bucket, opts) {
        return this.meta.list(bucket, opts);
    }
}
