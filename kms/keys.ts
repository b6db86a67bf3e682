// The key hierarchy: KMS key → bucket key (a KMS data key, reused for a bounded age and number
// of objects, as AWS S3 Bucket Keys) → object key (fresh per object or part, wrapped by the
// bucket key). The KMS sees one GenerateDataKey per bucket key and one Decrypt per cache miss.
import { randomFillSync, randomUUID } from 'node:crypto';
import type { Transform } from 'node:stream';
import { KeyCache, type KeyCacheOptions } from './cache.js';
import { IntegrityError, KmsError, KmsKeyDisabledError, KmsKeyInvalidStateError, KmsUnavailableError } from './errors.js';
import { createDecryptStream, createEncryptStream, DEFAULT_SEGMENT_SIZE, type EncryptStream, fullRange, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, segmentRange, type SegmentRange } from './format.js';
import { instrument } from './providers/instrument.js';
import type { BucketKeyRecord, BucketKeyRecords, EncryptionContext, KeyDescription, KmsProvider, ObjectEnvelope, ObjectLocation } from './types.js';
import { unwrapObjectKey, wrapObjectKey } from './wrap.js';

export const DEFAULT_BUCKET_KEY_MAX_AGE_MS = 24 * 3600_000;
export const DEFAULT_BUCKET_KEY_MAX_OBJECTS = 100_000;

/** What AWS S3 Bucket Keys use as encryption context. */
export function bucketKeyContext(bucket: string): EncryptionContext {
  return { 'aws:s3:arn': `arn:aws:s3:::${bucket}` };
}

/** What AWS S3 uses for an object's own data key (SSE-KMS without a bucket key). */
export function objectContext(bucket: string, key: string): EncryptionContext {
  return { 'aws:s3:arn': `arn:aws:s3:::${bucket}/${key}` };
}

export interface SealOptions {
  sse: 'aws:kms' | 'AES256';
  /** Key id, ARN or alias the request named; default the provider's default key. */
  kmsKeyId?: string;
  /** false: one KMS data key per object (AWS without Bucket Keys). Default true. */
  bucketKeyEnabled?: boolean;
  /** x-amz-server-side-encryption-context; only used when bucketKeyEnabled is false. */
  context?: EncryptionContext;
}

export interface EncryptionOptions {
  provider: KmsProvider;
  records: BucketKeyRecords;
  cache?: KeyCacheOptions;
  bucketKeyMaxAgeMs?: number;
  bucketKeyMaxObjects?: number;
  segmentSize?: number;
  /** Persist a bucket key's object count every this many objects. Default 1000. */
  checkpointEvery?: number;
  /** How long a failed GenerateDataKey/DescribeKey is answered from memory. Default 5 s. */
  negativeTtlMs?: number;
  log?: (line: string) => void;
  now?: () => number;
}

interface Current {
  rec: BucketKeyRecord;
  uses: number;
  checkpointing: boolean;
}

function defaultLog(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

const STATE_TEXT: Record<string, string> = { PendingDeletion: 'pending deletion', PendingImport: 'pending import', PendingReplicaDeletion: 'pending replica deletion', Unavailable: 'unavailable', Creating: 'being created', Updating: 'being updated' };

export class Encryption {
  readonly provider: KmsProvider;
  readonly records: BucketKeyRecords;
  readonly cache: KeyCache;
  readonly segmentSize: number;
  private readonly maxAgeMs: number;
  private readonly maxObjects: number;
  private readonly checkpointEvery: number;
  private readonly negativeTtlMs: number;
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly current = new Map<string, Current>();
  private readonly generating = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, { error: unknown; until: number }>();
  private readonly described = new Map<string, { value: KeyDescription | undefined; error?: unknown; until: number }>();
  private readonly down = new Set<string>();

  private constructor(o: EncryptionOptions) {
    this.provider = instrument(o.provider);
    this.records = o.records;
    this.now = o.now ?? Date.now;
    this.cache = new KeyCache({ now: this.now, negativeTtlMs: o.negativeTtlMs, ...o.cache });
    this.segmentSize = o.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.maxAgeMs = o.bucketKeyMaxAgeMs ?? DEFAULT_BUCKET_KEY_MAX_AGE_MS;
    this.maxObjects = o.bucketKeyMaxObjects ?? DEFAULT_BUCKET_KEY_MAX_OBJECTS;
    this.checkpointEvery = Math.max(1, o.checkpointEvery ?? 1000);
    this.negativeTtlMs = o.negativeTtlMs ?? 5000;
    this.log = o.log ?? defaultLog;
  }

  static create(opts: EncryptionOptions): Encryption {
    return new Encryption(opts);
  }

  // ---- objects -------------------------------------------------------------------------

  /** A fresh object key and its envelope. The caller zeroes objectKey when done with it. */
  async sealObject(bucket: string, key: string, uploadId: string, opts: SealOptions): Promise<{ envelope: ObjectEnvelope; objectKey: Buffer }> {
    const keyId = opts.kmsKeyId ?? this.provider.defaultKeyId();
    if (opts.bucketKeyEnabled === false) {
      const context = { ...opts.context, ...objectContext(bucket, key) };
      const dk = await this.kms(keyId, () => this.provider.generateDataKey(keyId, context));
      const envelope: ObjectEnvelope = { v: 1, alg: 'AES256GCM-SEG', segmentSize: this.segmentSize, bucketKeyId: '', wrappedKey: dk.ciphertext.toString('base64'), nonce: '', kmsKeyId: dk.keyId, context, sse: opts.sse, bucketKeyEnabled: false };
      return { envelope, objectKey: dk.plaintext };
    }
    const objectKey = randomFillSync(Buffer.alloc(32));
    try {
      return { envelope: await this.wrapUnder({ bucket, key, uploadId }, objectKey, keyId, opts.sse), objectKey };
    } catch (e) {
      objectKey.fill(0);
      throw e;
    }
  }

  /** The object key of a stored object; fails with IntegrityError if the envelope is not this object's. */
  async openObject(bucket: string, key: string, uploadId: string, envelope: ObjectEnvelope): Promise<Buffer> {
    checkEnvelope(envelope);
    const loc = { bucket, key, uploadId };
    if (!envelope.bucketKeyEnabled) {
      const ctx = envelope.context ?? objectContext(bucket, key);
      if (ctx['aws:s3:arn'] !== objectContext(bucket, key)['aws:s3:arn']) throw new IntegrityError('envelope', `envelope of ${bucket}/${key} names another object`);
      const { plaintext } = await this.kms(envelope.kmsKeyId, () => this.provider.decrypt(Buffer.from(envelope.wrappedKey, 'base64'), ctx, envelope.kmsKeyId));
      return plaintext;
    }
    const rec = this.records.get(envelope.bucketKeyId);
    if (!rec) throw new IntegrityError('envelope', `bucket key ${envelope.bucketKeyId} of ${bucket}/${key} is not in the store`);
    if (rec.bucket !== bucket) throw new IntegrityError('envelope', `bucket key ${rec.id} belongs to bucket ${rec.bucket}, not ${bucket}`);
    return this.cache.use(rec.id, () => this.unwrapBucketKey(rec), (bk) => unwrapObjectKey(bk, envelope.wrappedKey, envelope.nonce, loc));
  }

  /**
   * CopyObject: the same object key (the data is not re-encrypted) wrapped for the destination,
   * under the destination bucket's current bucket key. `to` may change sse / kmsKeyId; copies
   * are always bucket-key wrapped (wrapping an existing key per object would need KMS Encrypt).
   */
  async rewrapObject(envelope: ObjectEnvelope, from: ObjectLocation, to: ObjectLocation & { sse?: SealOptions['sse']; kmsKeyId?: string }): Promise<ObjectEnvelope> {
    const objectKey = await this.openObject(from.bucket, from.key, from.uploadId, envelope);
    try {
      const keyId = to.kmsKeyId ?? (to.sse === undefined ? envelope.kmsKeyId : this.provider.defaultKeyId());
      const env = await this.wrapUnder(to, objectKey, keyId, to.sse ?? envelope.sse);
      return { ...env, segmentSize: envelope.segmentSize };
    } finally {
      objectKey.fill(0);
    }
  }

  /** PUT: the envelope to store and the Transform the body goes through (the key stays inside). */
  async encryptObjectStream(bucket: string, key: string, uploadId: string, opts: SealOptions): Promise<{ envelope: ObjectEnvelope; stream: EncryptStream }> {
    const { envelope, objectKey } = await this.sealObject(bucket, key, uploadId, opts);
    try {
      return { envelope, stream: createEncryptStream(objectKey, { segmentSize: envelope.segmentSize }) };
    } finally {
      objectKey.fill(0);
    }
  }

  /**
   * GET: the ciphertext bytes to read (`read.cipherStart`..`read.cipherEnd`, inclusive) and the
   * Transform that turns them into plaintext bytes [range.start, range.end] (default: all).
   */
  async decryptObjectStream(
    bucket: string,
    key: string,
    uploadId: string,
    envelope: ObjectEnvelope,
    plainSize: number,
    range?: { start: number; end: number },
  ): Promise<{ read: SegmentRange; stream: Transform }> {
    const objectKey = await this.openObject(bucket, key, uploadId, envelope);
    try {
      const S = envelope.segmentSize;
      const read = range ? segmentRange(range.start, range.end, plainSize, S) : fullRange(plainSize, S);
      return { read, stream: createDecryptStream(objectKey, { segmentSize: S, ...read }) };
    } finally {
      objectKey.fill(0);
    }
  }

  // ---- keys ----------------------------------------------------------------------------

  /** Validates a key id a client named; unusable keys throw the error S3 answers with. */
  async describeKey(kmsKeyId: string): Promise<KeyDescription> {
    const hit = this.described.get(kmsKeyId);
    let d: KeyDescription;
    if (hit && hit.until > this.now()) {
      if (hit.error) throw hit.error;
      d = hit.value!;
    } else {
      try {
        d = await this.kms(kmsKeyId, () => this.provider.describeKey(kmsKeyId));
        bound(this.described, this.now());
        this.described.set(kmsKeyId, { value: d, until: this.now() + 60_000 });
      } catch (e) {
        bound(this.described, this.now());
        this.described.set(kmsKeyId, { value: undefined, error: e, until: this.now() + this.negativeTtlMs });
        throw e;
      }
    }
    if (d.state === 'Disabled') throw new KmsKeyDisabledError(d.keyId);
    if (d.state !== 'Enabled') throw new KmsKeyInvalidStateError(d.keyId, STATE_TEXT[d.state] ?? d.state);
    return d;
  }

  /** `kms rewrap`: the bucket key re-wrapped under the KMS key's newest version (or another key); metadata only. */
  async rewrapBucketKey(id: string, destinationKeyId?: string): Promise<BucketKeyRecord> {
    const rec = this.records.get(id);
    if (!rec) throw new IntegrityError('envelope', `bucket key ${id} is not in the store`);
    if (!this.provider.reEncrypt) throw new Error(`the ${this.provider.name} KMS provider cannot re-encrypt`);
    const dest = destinationKeyId ?? rec.kmsKeyId;
    const r = await this.kms(dest, () => this.provider.reEncrypt!(Buffer.from(rec.wrapped, 'base64'), rec.encryptionContext, dest, rec.kmsKeyId));
    const next: BucketKeyRecord = { ...rec, kmsKeyId: r.keyId, wrapped: r.ciphertext.toString('base64') };
    if (r.keyVersion) next.keyVersion = r.keyVersion;
    else delete next.keyVersion;
    await this.records.put(next);
    for (const c of this.current.values()) if (c.rec.id === id) c.rec = { ...next, objects: c.rec.objects };
    return next;
  }

  /** Stops using the current bucket keys (of one bucket, or all): the next write gets a new one. */
  async retireBucketKeys(bucket?: string): Promise<number> {
    const now = this.now();
    let n = 0;
    for (const [mk, c] of this.current) if (bucket === undefined || c.rec.bucket === bucket) this.current.delete(mk);
    for (const r of [...this.records.list(bucket)]) {
      if (r.created + r.maxAgeMs > now) {
        await this.records.put({ ...r, maxAgeMs: Math.max(0, now - r.created) });
        n++;
      }
    }
    return n;
  }

  close(): void {
    this.cache.close();
  }

  // ---- internals -----------------------------------------------------------------------

  private async wrapUnder(loc: ObjectLocation, objectKey: Buffer, keyId: string, sse: SealOptions['sse']): Promise<ObjectEnvelope> {
    const cur = await this.claimBucketKey(loc.bucket, keyId);
    const rec = cur.rec;
    const w = await this.cache.use(rec.id, () => this.unwrapBucketKey(rec), (bk) => wrapObjectKey(bk, objectKey, loc));
    return { v: 1, alg: 'AES256GCM-SEG', segmentSize: this.segmentSize, bucketKeyId: rec.id, wrappedKey: w.wrappedKey, nonce: w.nonce, kmsKeyId: rec.kmsKeyId, sse, bucketKeyEnabled: true };
  }

  private usable(c: Current): boolean {
    return this.now() < c.rec.created + c.rec.maxAgeMs && c.uses < c.rec.maxObjects;
  }

  /** The current bucket key for (bucket, KMS key), with one use counted; single-flight generation. */
  private async claimBucketKey(bucket: string, keyId: string): Promise<Current> {
    const mk = `${bucket}\0${keyId}`;
    for (;;) {
      let cur = this.current.get(mk);
      if (!cur) {
        cur = this.restore(bucket, keyId);
        if (cur) this.current.set(mk, cur);
      }
      // Check and count in one synchronous step, so concurrent writers never overshoot maxObjects.
      if (cur && this.usable(cur)) {
        cur.uses++;
        if (cur.uses % this.checkpointEvery === 0) await this.checkpoint(cur);
        return cur;
      }
      const failed = this.failures.get(mk);
      if (failed && failed.until > this.now()) throw failed.error;
      let p = this.generating.get(mk);
      if (!p) {
        p = this.generate(mk, bucket, keyId).finally(() => this.generating.delete(mk));
        this.generating.set(mk, p);
      }
      await p;
    }
  }

  /** After a restart: the newest stored bucket key still usable; its count is assumed one checkpoint ahead. */
  private restore(bucket: string, keyId: string): Current | undefined {
    let best: Current | undefined;
    for (const r of this.records.list(bucket)) {
      if (r.bucket !== bucket || r.provider !== this.provider.name) continue;
      if (!(r.kmsKeyId === keyId || r.kmsKeyId.endsWith(`:key/${keyId}`))) continue;
      const c: Current = { rec: r, uses: (r.objects ?? 0) + this.checkpointEvery, checkpointing: false };
      if (this.usable(c) && (!best || r.created > best.rec.created)) best = c;
    }
    return best;
  }

  private async generate(mk: string, bucket: string, keyId: string): Promise<void> {
    const context = bucketKeyContext(bucket);
    let dk;
    try {
      dk = await this.kms(keyId, () => this.provider.generateDataKey(keyId, context));
    } catch (e) {
      if (e instanceof KmsError || e instanceof IntegrityError) {
        bound(this.failures, this.now());
        this.failures.set(mk, { error: e, until: this.now() + this.negativeTtlMs });
      }
      throw e;
    }
    const rec: BucketKeyRecord = {
      id: randomUUID(),
      bucket,
      provider: this.provider.name,
      kmsKeyId: dk.keyId,
      wrapped: dk.ciphertext.toString('base64'),
      encryptionContext: context,
      created: this.now(),
      maxAgeMs: this.maxAgeMs,
      maxObjects: this.maxObjects,
      objects: 0,
    };
    if (dk.keyVersion) rec.keyVersion = dk.keyVersion;
    // Durable before any object can name it.
    try {
      await this.records.put(rec);
    } catch (e) {
      dk.plaintext.fill(0);
      throw e;
    }
    this.cache.set(rec.id, dk.plaintext);
    this.failures.delete(mk);
    this.current.set(mk, { rec, uses: 0, checkpointing: false });
  }

  private async checkpoint(cur: Current): Promise<void> {
    if (cur.checkpointing) return;
    cur.checkpointing = true;
    const rec = { ...cur.rec, objects: cur.uses };
    try {
      await this.records.put(rec);
      cur.rec = rec;
    } catch (e) {
      this.log(`kms: could not record the object count of bucket key ${rec.id}: ${(e as Error).message}`);
    } finally {
      cur.checkpointing = false;
    }
  }

  private async unwrapBucketKey(rec: BucketKeyRecord): Promise<Buffer> {
    if (rec.provider !== this.provider.name) {
      throw new KmsUnavailableError(rec.provider, rec.kmsKeyId, `bucket key ${rec.id} is wrapped by the ${rec.provider} KMS but this server uses ${this.provider.name}`);
    }
    const { plaintext } = await this.kms(rec.kmsKeyId, () => this.provider.decrypt(Buffer.from(rec.wrapped, 'base64'), rec.encryptionContext, rec.kmsKeyId));
    if (plaintext.length !== 32) {
      plaintext.fill(0);
      throw new IntegrityError('envelope', `bucket key ${rec.id} has ${plaintext.length} bytes`);
    }
    return plaintext;
  }

  /** One log line when a KMS key becomes unreachable, one when it is back; never per request. */
  private async kms<T>(keyId: string, f: () => Promise<T>): Promise<T> {
    const id = `${this.provider.name}\0${keyId}`;
    try {
      const r = await f();
      if (this.down.delete(id)) this.log(`kms available again: provider=${this.provider.name} key=${keyId}`);
      return r;
    } catch (e) {
      if (e instanceof KmsUnavailableError && !this.down.has(id)) {
        this.down.add(id);
        this.log(`kms unavailable: provider=${this.provider.name} key=${keyId} error=${JSON.stringify(e.detail)}; writes needing a new bucket key fail with 503, cached keys keep serving`);
      }
      throw e;
    }
  }
}

/** Maps keyed by client-chosen key ids must not grow without bound: drop expired, then all. */
function bound<V extends { until: number }>(m: Map<string, V>, now: number, max = 10_000): void {
  if (m.size < max) return;
  for (const [k, v] of m) if (v.until <= now) m.delete(k);
  if (m.size >= max) m.clear();
}

function checkEnvelope(e: ObjectEnvelope): void {
  if (
    !e ||
    e.v !== 1 ||
    e.alg !== 'AES256GCM-SEG' ||
    !Number.isInteger(e.segmentSize) ||
    e.segmentSize < MIN_SEGMENT_SIZE ||
    e.segmentSize > MAX_SEGMENT_SIZE ||
    typeof e.wrappedKey !== 'string' ||
    typeof e.kmsKeyId !== 'string'
  ) {
    throw new IntegrityError('envelope', 'unsupported or malformed encryption envelope');
  }
}

/** In-memory BucketKeyRecords for tests and tools; stores copies, as a real store would. */
export class MemoryBucketKeyRecords implements BucketKeyRecords {
  readonly map = new Map<string, BucketKeyRecord>();
  puts = 0;

  get(id: string): BucketKeyRecord | undefined {
    const r = this.map.get(id);
    return r && structuredClone(r);
  }

  async put(rec: BucketKeyRecord): Promise<void> {
    this.puts++;
    this.map.set(rec.id, structuredClone(rec));
  }

  *list(bucket?: string): Iterable<BucketKeyRecord> {
    for (const r of this.map.values()) if (bucket === undefined || r.bucket === bucket) yield structuredClone(r);
  }
}
