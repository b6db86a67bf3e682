// The key hierarchy: KMS key → bucket key (a KMS data key, reused for a bounded age and number
// of objects, as AWS S3 Bucket Keys) → object key (fresh per object or part, wrapped by the
// bucket key). The KMS sees one GenerateDataKey per bucket key and one Decrypt per cache miss.
import { randomFillSync, randomUUID } from 'node:crypto';
import { KeyCache, type KeyCacheOptions } from './cache.js';
import { IntegrityError, KmsError, KmsKeyDisabledError, KmsKeyInvalidStateError, KmsUnavailableError } from './errors.js';
import { createEncryptStream, DEFAULT_SEGMENT_SIZE, type EncryptStream, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, SegmentOpener, segmentRange, type SegmentRange } from './format.js';
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
  /**
   * Further KMS providers, used only to unwrap what they wrapped (bucket keys whose record names
   * them, object keys of envelopes whose key id is theirs): the other side of a migration
   * between KMSs. New bucket keys always come from `provider`.
   */
  readers?: KmsProvider[];
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

/** Where `kms rewrap` moves a bucket key: another provider, another key, or (neither) the newest version of its own key. */
export interface RewrapTarget {
  /** Destination provider; default the record's own. */
  provider?: 'local' | 'aws';
  /** Destination key; default the record's own key (same provider) or the destination provider's default key. */
  keyId?: string;
}

export interface RewrapResult {
  /** rewrapped: the new wrapping is committed; missing: no such record; changed: it kept changing under us. */
  status: 'rewrapped' | 'missing' | 'changed';
  before?: BucketKeyRecord;
  after?: BucketKeyRecord;
}

/** The fields of a record that say how its key is wrapped (what `kms rewrap` replaces). */
export type Wrapping = Pick<BucketKeyRecord, 'provider' | 'kmsKeyId' | 'keyVersion' | 'wrapped'>;

function withWrapping(rec: BucketKeyRecord, w: Wrapping): BucketKeyRecord {
  const next: BucketKeyRecord = { ...rec, provider: w.provider, kmsKeyId: w.kmsKeyId, wrapped: w.wrapped };
  if (w.keyVersion) next.keyVersion = w.keyVersion;
  else delete next.keyVersion;
  return next;
}

/** The provider an envelope's own KMS key id belongs to (object keys wrapped by the KMS directly). */
export function providerOfKeyId(keyId: string): 'local' | 'aws' {
  // AWS answers GenerateDataKey with the key's full ARN, which is what envelopes keep.
  return keyId.startsWith('arn:') ? 'aws' : 'local';
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
  /** Instrumented providers by name: the primary and the readers. */
  private readonly providers = new Map<string, KmsProvider>();
  /** The same, as given (operator commands need the concrete classes: rotate, createKey...). */
  private readonly rawProviders = new Map<string, KmsProvider>();

  private constructor(o: EncryptionOptions) {
    this.provider = instrument(o.provider);
    this.providers.set(o.provider.name, this.provider);
    this.rawProviders.set(o.provider.name, o.provider);
    for (const r of o.readers ?? []) if (r.name !== o.provider.name) this.addProvider(r);
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

  // ---- providers -----------------------------------------------------------------------

  /** Opens another provider for unwrapping (and as a `kms rewrap` destination); replaces a reader of the same name. */
  addProvider(p: KmsProvider): void {
    if (p.name === this.provider.name) throw new Error(`the ${p.name} KMS provider is this server's own; it cannot be added as a reader`);
    this.providers.set(p.name, instrument(p));
    this.rawProviders.set(p.name, p);
  }

  /** Closes a reader (its keyring was retired); the primary cannot be removed. */
  removeProvider(name: string): void {
    if (name === this.provider.name) throw new Error(`the ${name} KMS provider is this server's own`);
    this.providers.delete(name);
    this.rawProviders.delete(name);
  }

  /** The instrumented provider by name (the primary or a reader). */
  providerFor(name: string): KmsProvider | undefined {
    return this.providers.get(name);
  }

  /** The provider object as opened (LocalKmsProvider, AwsKmsProvider), for operator commands. */
  rawProvider(name: string): KmsProvider | undefined {
    return this.rawProviders.get(name);
  }

  providerNames(): string[] {
    return [...this.providers.keys()];
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
      const p = this.providers.get(providerOfKeyId(envelope.kmsKeyId)) ?? this.provider;
      const { plaintext } = await this.kms(envelope.kmsKeyId, () => p.decrypt(Buffer.from(envelope.wrappedKey, 'base64'), ctx, envelope.kmsKeyId), p.name);
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
   * GET: opens the object key and gives the blob range [cipherStart, cipherEnd] to read and an
   * opener that, fed those bytes, hands plaintext bytes [range.start, range.end] to `emit`.
   */
  async objectSegmentOpener(
    bucket: string,
    key: string,
    uploadId: string,
    envelope: ObjectEnvelope,
    plainSize: number,
    range: { start: number; end: number },
    emit: (plaintext: Buffer) => void,
  ): Promise<{ read: SegmentRange; opener: SegmentOpener }> {
    const objectKey = await this.openObject(bucket, key, uploadId, envelope);
    try {
      const read = segmentRange(range.start, range.end, plainSize, envelope.segmentSize);
      return { read, opener: new SegmentOpener(objectKey, { segmentSize: envelope.segmentSize, ...read }, emit) };
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
    const r = await this.rewrapRecord(id, destinationKeyId === undefined ? {} : { keyId: destinationKeyId });
    if (r.status === 'missing') throw new IntegrityError('envelope', `bucket key ${id} is not in the store`);
    if (r.status !== 'rewrapped') throw new Error(`bucket key ${id} kept changing while it was being re-wrapped`);
    return r.after!;
  }

  /**
   * Re-wraps one bucket-key record (metadata only; the bucket key itself, and so every object
   * key it wraps, stays the same). Same provider: one ReEncrypt, so the plaintext never leaves
   * the KMS (AWS) or the keyring (local). Another provider: Decrypt at the source and Encrypt at
   * the destination, the plaintext zeroed at once. The new wrapping replaces the old in one
   * compare-and-swap on the stored wrapping: until it commits, the old one is what is stored,
   * and a record changed meanwhile is read again and redone. Idempotent: running it twice
   * wraps twice, both valid.
   */
  async rewrapRecord(id: string, target: RewrapTarget = {}): Promise<RewrapResult> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const rec = this.records.get(id);
      if (!rec) return { status: 'missing' };
      const destName = target.provider ?? rec.provider;
      const dest = this.providers.get(destName);
      if (!dest) throw new KmsUnavailableError(destName, target.keyId, `no ${destName} KMS provider is open in this server`);
      const destKey = target.keyId ?? (destName === rec.provider ? rec.kmsKeyId : dest.defaultKeyId());
      const blob = Buffer.from(rec.wrapped, 'base64');
      let r: { ciphertext: Buffer; keyId: string; keyVersion?: string };
      if (destName === rec.provider) {
        if (!dest.reEncrypt) throw new Error(`the ${destName} KMS provider cannot re-encrypt`);
        r = await this.kms(destKey, () => dest.reEncrypt!(blob, rec.encryptionContext, destKey, rec.kmsKeyId), destName);
      } else {
        const src = this.providers.get(rec.provider);
        if (!src) throw new KmsUnavailableError(rec.provider, rec.kmsKeyId, `bucket key ${rec.id} is wrapped by the ${rec.provider} KMS, which is not open in this server`);
        if (!dest.encrypt) throw new Error(`the ${destName} KMS provider cannot wrap a key it did not generate`);
        const { plaintext } = await this.kms(rec.kmsKeyId, () => src.decrypt(blob, rec.encryptionContext, rec.kmsKeyId), src.name);
        try {
          if (plaintext.length !== 32) throw new IntegrityError('envelope', `bucket key ${rec.id} has ${plaintext.length} bytes`);
          r = await this.kms(destKey, () => dest.encrypt!(plaintext, rec.encryptionContext, destKey), destName);
        } finally {
          plaintext.fill(0);
        }
      }
      const wrapping: Wrapping = { provider: destName as Wrapping['provider'], kmsKeyId: r.keyId, wrapped: r.ciphertext.toString('base64') };
      if (r.keyVersion) wrapping.keyVersion = r.keyVersion;
      const swapped = await this.swapWrapping(rec, wrapping);
      if (swapped.applied) {
        // A later checkpoint of a current bucket key must not write the old wrapping back.
        for (const c of this.current.values()) if (c.rec.id === id) c.rec = withWrapping(c.rec, wrapping);
        return { status: 'rewrapped', before: rec, after: swapped.record };
      }
      if (!swapped.record) return { status: 'missing', before: rec };
    }
    return { status: 'changed' };
  }

  /** Compare-and-swap of a record's wrapping: applied only if the stored wrapping is still `expected`'s. */
  private async swapWrapping(expected: BucketKeyRecord, w: Wrapping): Promise<{ record: BucketKeyRecord | undefined; applied: boolean }> {
    const same = (cur: BucketKeyRecord) => cur.wrapped === expected.wrapped && cur.provider === expected.provider;
    if (this.records.update) return this.records.update(expected.id, (cur) => (same(cur) ? withWrapping(cur, w) : undefined));
    const cur = this.records.get(expected.id);
    if (!cur || !same(cur)) return { record: cur, applied: false };
    const next = withWrapping(cur, w);
    await this.records.put(next);
    return { record: next, applied: true };
  }

  /** Read-modify-write of a record's own fields (count, age), never touching its wrapping. */
  private async patchRecord(rec: BucketKeyRecord, f: (cur: BucketKeyRecord) => BucketKeyRecord): Promise<BucketKeyRecord> {
    if (this.records.update) {
      const { record } = await this.records.update(rec.id, f);
      return record ?? rec;
    }
    const next = f(this.records.get(rec.id) ?? rec);
    await this.records.put(next);
    return next;
  }

  /** Stops using the current bucket keys (of one bucket, or all): the next write gets a new one. */
  async retireBucketKeys(bucket?: string): Promise<number> {
    const now = this.now();
    let n = 0;
    for (const [mk, c] of this.current) if (bucket === undefined || c.rec.bucket === bucket) this.current.delete(mk);
    for (const r of [...this.records.list(bucket)]) {
      if (r.created + r.maxAgeMs > now) {
        await this.patchRecord(r, (cur) => ({ ...cur, maxAgeMs: Math.min(cur.maxAgeMs, Math.max(0, now - cur.created)) }));
        n++;
      }
    }
    return n;
  }

  /**
   * Provider health as the data path sees it: GenerateDataKey and Decrypt with the default key,
   * the same credentials and a bucket-key encryption context (so key policies conditioned on
   * `aws:s3:arn` are exercised too). The key is zeroed at once; nothing is stored.
   */
  async canary(bucket: string): Promise<{ ok: boolean; provider: string; keyId: string; latencyMs: number; error?: string; code?: string }> {
    const keyId = this.provider.defaultKeyId();
    const ctx = bucketKeyContext(bucket);
    const t0 = performance.now();
    try {
      const dk = await this.kms(keyId, () => this.provider.generateDataKey(keyId, ctx));
      try {
        const back = await this.kms(keyId, () => this.provider.decrypt(dk.ciphertext, ctx, dk.keyId));
        const same = back.plaintext.equals(dk.plaintext);
        back.plaintext.fill(0);
        if (!same) throw new IntegrityError('kms-ciphertext', 'the KMS decrypted the canary data key to different bytes');
      } finally {
        dk.plaintext.fill(0);
      }
      return { ok: true, provider: this.provider.name, keyId, latencyMs: performance.now() - t0 };
    } catch (e) {
      const err = e as Error & { s3Code?: string };
      return { ok: false, provider: this.provider.name, keyId, latencyMs: performance.now() - t0, error: err.message, code: err.s3Code ?? err.name };
    }
  }

  /** Unwraps one stored bucket key through its own provider, bypassing the cache, and zeroes it: a reader's health check. */
  async probeRecord(id: string): Promise<{ ok: boolean; error?: string }> {
    const rec = this.records.get(id);
    if (!rec) return { ok: false, error: `bucket key ${id} is not in the store` };
    try {
      (await this.unwrapBucketKey(rec)).fill(0);
      return { ok: true };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
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
      // Not while a generation is in flight: its record may already be readable in the store
      // before it is cached, and restoring it here would cost a needless KMS Decrypt.
      if (!cur && !this.generating.has(mk)) {
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
    const uses = cur.uses;
    try {
      // Only the count changes: a re-wrap committed meanwhile (kms rewrap) must not be undone
      // by writing back the wrapping this process read when it took the key into use.
      const stored = await this.patchRecord(cur.rec, (r) => ({ ...r, objects: Math.max(r.objects ?? 0, uses) }));
      cur.rec = stored;
    } catch (e) {
      this.log(`kms: could not record the object count of bucket key ${cur.rec.id}: ${(e as Error).message}`);
    } finally {
      cur.checkpointing = false;
    }
  }

  private async unwrapBucketKey(rec: BucketKeyRecord): Promise<Buffer> {
    const p = this.providers.get(rec.provider);
    if (!p) {
      throw new KmsUnavailableError(rec.provider, rec.kmsKeyId, `bucket key ${rec.id} is wrapped by the ${rec.provider} KMS but this server uses ${this.provider.name} and has no ${rec.provider} reader`);
    }
    const { plaintext } = await this.kms(rec.kmsKeyId, () => p.decrypt(Buffer.from(rec.wrapped, 'base64'), rec.encryptionContext, rec.kmsKeyId), p.name);
    if (plaintext.length !== 32) {
      plaintext.fill(0);
      throw new IntegrityError('envelope', `bucket key ${rec.id} has ${plaintext.length} bytes`);
    }
    return plaintext;
  }

  /** One log line when a KMS key becomes unreachable, one when it is back; never per request. */
  private async kms<T>(keyId: string, f: () => Promise<T>, providerName: string = this.provider.name): Promise<T> {
    const id = `${providerName}\0${keyId}`;
    try {
      const r = await f();
      if (this.down.delete(id)) this.log(`kms available again: provider=${providerName} key=${keyId}`);
      return r;
    } catch (e) {
      if (e instanceof KmsUnavailableError && !this.down.has(id)) {
        this.down.add(id);
        this.log(`kms unavailable: provider=${providerName} key=${keyId} error=${JSON.stringify(e.detail)}; writes needing a new bucket key fail with 503, cached keys keep serving`);
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

  async update(id: string, f: (current: BucketKeyRecord) => BucketKeyRecord | undefined): Promise<{ record: BucketKeyRecord | undefined; applied: boolean }> {
    const cur = this.map.get(id);
    if (!cur) return { record: undefined, applied: false };
    const next = f(structuredClone(cur));
    if (!next) return { record: structuredClone(cur), applied: false };
    this.puts++;
    this.map.set(id, structuredClone(next));
    return { record: structuredClone(next), applied: true };
  }
}
