// `kms encrypt-existing`: objects written while encryption was off are rewritten encrypted,
// online. Each object's plaintext streams from its blob(s) through the one write path
// (ObjectService.writeBody, sealed as a write to that bucket would be) into new blobs; the new
// metadata keeps the ETag, checksums, content headers, user metadata, tags and last-modified
// time, and is committed with a condition on the blob ids that were read: a concurrent PUT,
// copy or delete of the same key wins (our new blobs are dropped; nothing is lost), and a
// reader holding the old blob open finishes reading it.
import { Readable } from 'node:stream';
import { isStoredEncryption, type StoredEncryption } from '../service/crypto.js';
import { plainBody, type ObjectService, type OpenObject, type Seal } from '../service/objects.js';
import { CHECKSUM_ALGORITHMS, type ChecksumAlgorithm } from '../s3/checksums.js';
import { S3Error } from '../s3/errors.js';
import { blobIdsOf } from '../store/metadata.js';
import type { Store } from '../store/store.js';
import type { ObjectMeta, ObjectPart } from '../store/types.js';
import type { SealOptions } from '../../kms/keys.js';
import { JobError, type ItemOutcome, type JobImpl, type JobItem, type RunContext } from './jobs.js';

export interface EncryptParams {
  bucket?: string;
  /** KMS key for the objects (default: the bucket's default encryption, else the server's default key). */
  keyId?: string;
  dryRun?: boolean;
  maxRate?: number;
}

interface Item extends JobItem {
  bucket: string;
  key: string;
  meta: ObjectMeta;
}

export function checkEncryptParams(p: Record<string, unknown>): EncryptParams {
  const out: EncryptParams = {};
  if (p.bucket !== undefined) out.bucket = String(p.bucket);
  if (p.keyId !== undefined) out.keyId = String(p.keyId);
  if (p.dryRun) out.dryRun = true;
  if (p.maxRate !== undefined) {
    const r = Number(p.maxRate);
    if (!(r > 0)) throw new JobError(`--max-rate must be a positive number, not ${JSON.stringify(p.maxRate)}`);
    out.maxRate = r;
  }
  return out;
}

/** True when any byte of the object is stored in plaintext. */
export function hasPlaintext(m: ObjectMeta): boolean {
  if (m.parts && m.parts.length > 0) return m.parts.some((p) => !isStoredEncryption(p.encryption));
  return !isStoredEncryption(m.encryption);
}

/** Cursor of an object: bucket and key, unambiguous and ordered as the scan goes (bucket names hold no NUL). */
function cursorOf(bucket: string, key: string): string {
  return `${bucket}\u0000${key}`;
}

function parseCursor(c: string | undefined): { bucket: string; key: string } | undefined {
  if (c === undefined) return undefined;
  const i = c.indexOf('\u0000');
  return i < 0 ? undefined : { bucket: c.slice(0, i), key: c.slice(i + 1) };
}

function algorithmOf(checksums: Record<string, string> | undefined): ChecksumAlgorithm {
  for (const a of Object.keys(checksums ?? {})) if ((CHECKSUM_ALGORITHMS as readonly string[]).includes(a) && !String(checksums![a]).includes('-')) return a as ChecksumAlgorithm;
  return 'crc64nvme';
}

function unquote(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

export class EncryptExistingJob implements JobImpl<Item> {
  readonly concurrency = 4;
  private readonly p: EncryptParams;
  private readonly seals = new Map<string, Promise<SealOptions>>();

  constructor(
    params: Record<string, unknown>,
    private readonly deps: { store: Store; objects: ObjectService },
  ) {
    this.p = checkEncryptParams(params);
  }

  async prepare(): Promise<void> {
    const { store, objects } = this.deps;
    if (!objects.crypto.encryption) throw new JobError('no KMS is configured on this server (kmsProvider aws needs kmsKeyId)', 409);
    if (this.p.bucket !== undefined && !store.getBucket(this.p.bucket)) throw new JobError(`no bucket ${this.p.bucket}`, 404);
    if (this.p.keyId !== undefined) await objects.crypto.encryption.describeKey(this.p.keyId);
  }

  private buckets(): string[] {
    const names = this.deps.store.listBuckets().map((b) => b.name);
    return this.p.bucket === undefined ? names : names.filter((n) => n === this.p.bucket);
  }

  total(): number {
    return this.buckets().reduce((n, b) => n + this.deps.store.objectCount(b), 0);
  }

  async *items(after: string | undefined, signal: AbortSignal): AsyncIterable<Item> {
    const from = parseCursor(after);
    for (const bucket of this.buckets()) {
      if (from && Buffer.compare(Buffer.from(bucket), Buffer.from(from.bucket)) < 0) continue;
      let next: string | undefined = from && from.bucket === bucket ? from.key : undefined;
      for (;;) {
        if (signal.aborted) return;
        let page;
        try {
          page = this.deps.store.list(bucket, { after: next, maxKeys: 500 });
        } catch (e) {
          if ((e as S3Error).code === 'NoSuchBucket') break;
          throw e;
        }
        for (const meta of page.contents) yield { bucket, key: meta.key, meta, cursor: cursorOf(bucket, meta.key), label: `${bucket}/${meta.key}` };
        if (!page.isTruncated || page.contents.length === 0) break;
        next = page.contents[page.contents.length - 1]!.key;
      }
    }
  }

  /** The seal a write to this bucket gets (its default encryption, else the server's), or the key the operator named. */
  private sealOptions(bucket: string): Promise<SealOptions> {
    let s = this.seals.get(bucket);
    if (!s) {
      const crypto = this.deps.objects.crypto;
      const info = this.deps.store.getBucket(bucket);
      if (!info) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
      s = crypto.choose(info, this.p.keyId !== undefined ? { sse: 'aws:kms', kmsKeyId: this.p.keyId } : undefined).then((o) => o ?? { sse: 'aws:kms' });
      s.catch(() => this.seals.delete(bucket));
      this.seals.set(bucket, s);
    }
    return s;
  }

  async process(item: Item, ctx: RunContext): Promise<ItemOutcome> {
    if (!hasPlaintext(item.meta)) return 'skipped';
    if (this.p.dryRun) {
      ctx.addBytes(item.meta.size);
      return 'changed';
    }
    await ctx.pace();
    return this.encryptOne(item.bucket, item.key, ctx);
  }

  private async encryptOne(bucket: string, key: string, ctx: RunContext): Promise<ItemOutcome> {
    const { store, objects } = this.deps;
    let opened: OpenObject;
    try {
      opened = await objects.open(bucket, key);
    } catch (e) {
      const code = (e as S3Error).code;
      if (code === 'NoSuchKey' || code === 'NoSuchBucket') return 'raced'; // deleted since the scan
      throw e;
    }
    const written: string[] = [];
    try {
      const m = opened.meta;
      if (!hasPlaintext(m)) return 'raced'; // overwritten (encrypted) since the scan
      const seal: Seal = { bucket, key, opts: await this.sealOptions(bucket) };
      let next: ObjectMeta;
      if (m.parts && m.parts.length > 0) {
        const parts: ObjectPart[] = [];
        let off = 0;
        for (const p of m.parts) {
          if (isStoredEncryption(p.encryption)) {
            parts.push(p);
          } else {
            const w = await this.writePiece(opened, off, p.size, p.etag, p.checksums, seal, `part ${p.partNumber ?? parts.length + 1}: `, ctx.signal);
            written.push(w.blobId);
            parts.push({ ...p, blobId: w.blobId, encryption: w.encryption });
          }
          off += p.size;
        }
        next = { ...m, blobId: parts[0]!.blobId, parts };
      } else {
        const w = await this.writePiece(opened, 0, m.size, m.etag, m.checksums, seal, '', ctx.signal);
        written.push(w.blobId);
        next = { ...m, blobId: w.blobId, encryption: w.encryption };
      }
      // ETag, checksums, content headers, user metadata, tags and lastModified come from `m`.
      await store.putObject(bucket, next, { ifBlobIds: blobIdsOf(m) });
      written.length = 0; // referenced now
      ctx.addBytes(m.size);
      return 'changed';
    } catch (e) {
      const code = (e as S3Error).code;
      if (code === 'PreconditionFailed' || code === 'NoSuchKey' || code === 'NoSuchBucket') return 'raced'; // a concurrent write won
      throw e;
    } finally {
      if (written.length) await store.deleteBlobs(written).catch(() => {});
      await Promise.all(opened.handles.map((h) => h.close().catch(() => {})));
    }
  }

  /**
   * One blob's plaintext (bytes [off, off+size) of the object) through the sealed write path;
   * the digests of what was read must be the stored ETag (an MD5) and checksum, so a blob that
   * no longer holds what its metadata promises is never blessed with a new encryption.
   */
  private async writePiece(
    opened: OpenObject,
    off: number,
    size: number,
    etag: string,
    checksums: Record<string, string> | undefined,
    seal: Seal,
    /** '' for a whole object, `part N: ` for a part: prefixes messages (the job names the object). */
    what: string,
    signal: AbortSignal,
  ): Promise<{ blobId: string; encryption: StoredEncryption }> {
    const { objects, store } = this.deps;
    const algorithm = algorithmOf(checksums);
    const source = size > 0 ? objects.readRange(opened, off, off + size - 1) : Readable.from([]);
    // A stop (Ctrl-C, server shutdown) abandons a large object in flight: its new blob is
    // discarded, the object stays as it was, and the next run does it again.
    const onAbort = () => source.destroy(Object.assign(new Error(`${what}stopped`), { name: 'AbortError' }));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    let w;
    try {
      w = await objects.writeBody(plainBody(source, algorithm), seal);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    try {
      if (w.verified.size !== size) throw new Error(`${what}read ${w.verified.size} bytes, its metadata says ${size}; left as it is`);
      const md5 = unquote(etag);
      if (/^[0-9a-f]{32}$/.test(md5) && w.verified.md5.toString('hex') !== md5) throw new Error(`${what}its bytes do not match its ETag; left as it is`);
      const stored = checksums?.[algorithm];
      if (stored !== undefined && !stored.includes('-') && stored !== w.verified.checksum) throw new Error(`${what}its bytes do not match its ${algorithm} checksum; left as it is`);
      if (!w.encryption) throw new Error(`${what}the write path did not encrypt`);
      return { blobId: w.blobId, encryption: w.encryption };
    } catch (e) {
      await store.deleteBlobs([w.blobId]).catch(() => {});
      throw e;
    }
  }
}
