// The metadata index: one LMDB environment (lmdb-js) in <data>/meta with four databases:
//
//   objects   `<bucket>\0<key>` (raw bytes, memcmp = S3 order) → object metadata (msgpack, without `key`)
//   buckets   bucket name → BucketInfo
//   usage     bucket name → { objects, bytes }
//   blobrefs  blob id → number of committed metadata records that reference it
//
// Durability: lmdb-js resolves the promise of an asynchronous write (put/remove/transaction)
// only after mdb_txn_commit has returned, and with the default `overlappingSync` (on for
// non-Windows) that commit includes the data fdatasync and the meta page write through the
// O_DSYNC descriptor (dependencies/lmdb/libraries/liblmdb/mdb.c, mdb_txn_commit; src/writer.cpp
// sets TXN_COMMITTED after it returns). We never set noSync/noMetaSync. See the store README
// comment in store.ts for the evidence.
import { open, type Database, type RootDatabase } from 'lmdb';
import { S3Error, type S3ErrorCode } from '../s3/errors.js';
import { bucketBase, immediateSuccessor, objectKey, prefixEnd } from './keys.js';
import type { BucketInfo, BucketUsage, ListOptions, ListResult, ObjectMeta, PutConditions } from './types.js';

/** What is stored per object: the metadata without the key (the index key holds it). */
export type StoredMeta = Omit<ObjectMeta, 'key'>;

/** Every blob id an object's metadata references (deduplicated). */
export function blobIdsOf(meta: Pick<ObjectMeta, 'blobId' | 'parts'>): string[] {
  const ids = new Set<string>();
  if (meta.blobId) ids.add(meta.blobId);
  for (const p of meta.parts ?? []) if (p.blobId) ids.add(p.blobId);
  return [...ids];
}

function toStored(meta: ObjectMeta): StoredMeta {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(meta)) if (k !== 'key' && v !== undefined) out[k] = v;
  return out as unknown as StoredMeta;
}

function fromStored(key: string, v: StoredMeta): ObjectMeta {
  const m = v as ObjectMeta;
  m.key = key;
  return m;
}

function asBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

function unquote(etag: string): string {
  let t = etag.trim();
  if (t.startsWith('W/')) t = t.slice(2);
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1);
  return t;
}

/** If-Match semantics: `*` matches any existing object; otherwise any listed ETag (quotes optional). */
export function etagMatches(ifMatch: string, etag: string): boolean {
  const want = unquote(etag);
  return ifMatch.split(',').some((c) => {
    const t = c.trim();
    return t === '*' || unquote(t) === want;
  });
}

type TxnOutcome<T> = { ok: T } | { err: S3ErrorCode; fields?: Record<string, string> };

function unwrap<T>(r: TxnOutcome<T>): T {
  if ('err' in r) throw new S3Error(r.err, undefined, r.fields);
  return r.ok;
}

export interface PutResult {
  old: ObjectMeta | undefined;
  /** Blob ids no committed metadata references any more: unlink them. */
  freed: string[];
}

export class Metadata {
  private constructor(
    readonly env: RootDatabase,
    readonly objects: Database<StoredMeta, Buffer>,
    readonly buckets: Database<BucketInfo, string>,
    readonly usage: Database<BucketUsage, string>,
    readonly refs: Database<number, string>,
  ) {}

  static open(dir: string): Metadata {
    const env = open({
      path: dir,
      maxDbs: 8,
      // lmdb-js passes this to mdb_env_open as the mode of data.mdb/lock.mdb.
      permissionsMode: 0o600,
      // Explicitly the durable defaults: fsync on commit (overlapping with the next txn).
      noSync: false,
      noMetaSync: false,
    } as Parameters<typeof open>[0]);
    const objects = env.openDB<StoredMeta, Buffer>({ name: 'objects', keyEncoding: 'binary' });
    const buckets = env.openDB<BucketInfo, string>({ name: 'buckets' });
    const usage = env.openDB<BucketUsage, string>({ name: 'usage' });
    const refs = env.openDB<number, string>({ name: 'blobrefs' });
    return new Metadata(env, objects, buckets, usage, refs);
  }

  async close(): Promise<void> {
    await this.env.close();
  }

  // ---- buckets ----

  getBucket(name: string): BucketInfo | undefined {
    return this.buckets.get(name);
  }

  listBuckets(): BucketInfo[] {
    const out: BucketInfo[] = [];
    for (const { value } of this.buckets.getRange({})) out.push(value);
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  }

  async createBucket(name: string, region: string, now: number): Promise<void> {
    unwrap(
      await this.env.transaction((): TxnOutcome<void> => {
        if (this.buckets.get(name) !== undefined) return { err: 'BucketAlreadyOwnedByYou', fields: { BucketName: name } };
        this.buckets.put(name, { name, created: now, region });
        this.usage.put(name, { objects: 0, bytes: 0 });
        return { ok: undefined };
      }),
    );
  }

  async deleteBucket(name: string): Promise<void> {
    const base = bucketBase(name);
    const end = prefixEnd(base)!;
    unwrap(
      await this.env.transaction((): TxnOutcome<void> => {
        if (this.buckets.get(name) === undefined) return { err: 'NoSuchBucket', fields: { BucketName: name } };
        for (const _ of this.objects.getKeys({ start: base, end, limit: 1 })) {
          return { err: 'BucketNotEmpty', fields: { BucketName: name } };
        }
        this.buckets.remove(name);
        this.usage.remove(name);
        return { ok: undefined };
      }),
    );
  }

  async setBucketConfig(name: string, key: string, value: unknown): Promise<void> {
    unwrap(
      await this.env.transaction((): TxnOutcome<void> => {
        const b = this.buckets.get(name);
        if (b === undefined) return { err: 'NoSuchBucket', fields: { BucketName: name } };
        const config = { ...(b.config ?? {}) };
        if (value === undefined) delete config[key];
        else config[key] = value;
        const next: BucketInfo = { name: b.name, created: b.created, region: b.region };
        if (Object.keys(config).length > 0) next.config = config;
        this.buckets.put(name, next);
        return { ok: undefined };
      }),
    );
  }

  bucketUsage(name: string): BucketUsage | undefined {
    return this.usage.get(name);
  }

  isEmpty(bucket: string): boolean {
    const base = bucketBase(bucket);
    for (const _ of this.objects.getKeys({ start: base, end: prefixEnd(base)!, limit: 1 })) return false;
    return true;
  }

  // ---- objects ----

  headObject(bucket: string, key: string): ObjectMeta | undefined {
    const v = this.objects.get(objectKey(bucket, key));
    return v === undefined ? undefined : fromStored(key, v);
  }

  /** Checks the conditions and writes the metadata in one write transaction; resolves when durable. */
  async putObject(bucket: string, meta: ObjectMeta, cond: PutConditions | undefined): Promise<PutResult> {
    const k = objectKey(bucket, meta.key);
    const stored = toStored(meta);
    const newIds = blobIdsOf(meta);
    return unwrap(
      await this.env.transaction((): TxnOutcome<PutResult> => {
        const usage = this.usage.get(bucket);
        if (this.buckets.get(bucket) === undefined || usage === undefined) return { err: 'NoSuchBucket', fields: { BucketName: bucket } };
        const prev = this.objects.get(k);
        if (cond?.ifNoneMatch && prev !== undefined) return { err: 'PreconditionFailed', fields: { Condition: 'If-None-Match' } };
        if (cond?.ifMatch !== undefined) {
          if (prev === undefined) return { err: 'NoSuchKey', fields: { Key: meta.key } };
          if (!etagMatches(cond.ifMatch, prev.etag)) return { err: 'PreconditionFailed', fields: { Condition: 'If-Match' } };
        }
        this.objects.put(k, stored);
        // References first, then releases: an id in both keeps its count.
        for (const id of newIds) this.refs.put(id, (this.refs.get(id) ?? 0) + 1);
        const old = prev === undefined ? undefined : fromStored(meta.key, prev);
        const freed = old ? this.release(blobIdsOf(old)) : [];
        this.usage.put(bucket, {
          objects: usage.objects + (old ? 0 : 1),
          bytes: usage.bytes + meta.size - (old?.size ?? 0),
        });
        return { ok: { old, freed } };
      }),
    );
  }

  /** Removes the metadata in one write transaction; resolves when durable. Missing key: no-op. */
  async deleteObject(bucket: string, key: string): Promise<PutResult> {
    const k = objectKey(bucket, key);
    return unwrap(
      await this.env.transaction((): TxnOutcome<PutResult> => {
        const usage = this.usage.get(bucket);
        if (this.buckets.get(bucket) === undefined || usage === undefined) return { err: 'NoSuchBucket', fields: { BucketName: bucket } };
        const prev = this.objects.get(k);
        if (prev === undefined) return { ok: { old: undefined, freed: [] } };
        const old = fromStored(key, prev);
        this.objects.remove(k);
        const freed = this.release(blobIdsOf(old));
        this.usage.put(bucket, { objects: Math.max(0, usage.objects - 1), bytes: Math.max(0, usage.bytes - old.size) });
        return { ok: { old, freed } };
      }),
    );
  }

  /** Inside a write transaction: drops one reference per id; returns the ids left unreferenced. */
  private release(ids: string[]): string[] {
    const freed: string[] = [];
    for (const id of ids) {
      const n = this.refs.get(id) ?? 0;
      if (n <= 1) {
        this.refs.remove(id);
        freed.push(id);
      } else this.refs.put(id, n - 1);
    }
    return freed;
  }

  isBlobReferenced(id: string): boolean {
    return this.refs.get(id) !== undefined;
  }

  /** Resets the shared read snapshot, so the next read sees the latest committed state. */
  refreshReads(): void {
    this.env.resetReadTxn();
  }

  /**
   * S3 listing over one read snapshot (all range reads of one synchronous call share the
   * current read transaction). A rolled-up common prefix is skipped by seeking to the first
   * key after every key that starts with it, so its members are never iterated.
   */
  list(bucket: string, opts: ListOptions): ListResult {
    const maxKeys = Math.max(0, Math.floor(opts.maxKeys));
    const result: ListResult = { contents: [], commonPrefixes: [], isTruncated: false };
    if (maxKeys === 0) return result; // AWS: no keys, IsTruncated false

    const base = bucketBase(bucket);
    const prefix = Buffer.from(opts.prefix ?? '', 'utf8');
    const delim = opts.delimiter ? Buffer.from(opts.delimiter, 'utf8') : undefined;
    const after = opts.after !== undefined && opts.after !== '' ? Buffer.from(opts.after, 'utf8') : undefined;
    const lo = Buffer.concat([base, prefix]);
    const hi = prefixEnd(lo)!; // base ends in 0x00, so there is always an end
    let start: Buffer = lo;
    if (after) {
      const a = immediateSuccessor(Buffer.concat([base, after]));
      if (Buffer.compare(a, start) > 0) start = a;
    }
    const baseLen = base.length;
    let n = 0;
    let last: string | undefined;

    scan: for (;;) {
      if (Buffer.compare(start, hi) >= 0) break;
      let reseek: Buffer | undefined;
      // At most the results still wanted plus one, to know whether the listing is truncated.
      for (const entry of this.objects.getRange({ start, end: hi, limit: maxKeys - n + 1 })) {
        const key = asBuffer(entry.key);
        const name = key.subarray(baseLen);
        if (delim) {
          const i = name.indexOf(delim, prefix.length);
          if (i >= 0) {
            const cp = name.subarray(0, i + delim.length);
            reseek = prefixEnd(key.subarray(0, baseLen + i + delim.length)) ?? hi;
            // A common prefix at or before `after` was returned on an earlier page.
            if (after && Buffer.compare(cp, after) <= 0) break;
            if (n === maxKeys) {
              result.isTruncated = true;
              break scan;
            }
            last = cp.toString('utf8');
            result.commonPrefixes.push(last);
            n++;
            break;
          }
        }
        if (n === maxKeys) {
          result.isTruncated = true;
          break scan;
        }
        last = name.toString('utf8');
        result.contents.push(fromStored(last, entry.value));
        n++;
      }
      if (!reseek) break; // the range is exhausted
      start = reseek;
    }
    if (result.isTruncated) result.nextAfter = last;
    return result;
  }
}
