// The object service: what an S3 operation means for the store, independent of HTTP.
// Handlers call it. It owns the two byte paths, so that encryption and multipart plug in at
// one place each: writeBody (request body → verified, durable blob) and readRange (stored
// blobs → the plaintext bytes of a range).
import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import { IntegrityError } from '../../kms/errors.js';
import { ciphertextSize, type SegmentOpener } from '../../kms/format.js';
import { pipeline } from 'node:stream/promises';
import type { SealOptions } from '../../kms/keys.js';
import type { VerifiedBody } from '../s3/body.js';
import { BodyDigester, type ChecksumAlgorithm } from '../s3/checksums.js';
import { S3Error } from '../s3/errors.js';
import type { Store } from '../store/store.js';
import type { BlobWriter, ObjectMeta, OpenedObject } from '../store/types.js';
import { isStoredEncryption, type ObjectCrypto, type SseChoice, type StoredEncryption } from './crypto.js';

/** A body to store: a source, the stages it flows through, and what it verified to once read. */
export interface BodySource {
  source: Readable;
  stages: Transform[];
  verify(): VerifiedBody;
}

/** Where a write's object key is bound, and how it is sealed. */
export interface Seal {
  bucket: string;
  key: string;
  opts: SealOptions;
}

/** An opened object, with the bucket its keys are bound to. */
export type OpenObject = OpenedObject & { bucket: string };

/**
 * A body the server itself produces (a copy source, an object being encrypted in place):
 * digested like a request body so the stored ETag and checksum describe exactly these bytes.
 */
export function plainBody(source: Readable, algorithm: ChecksumAlgorithm, expectedLength?: number): BodySource {
  const digester = new BodyDigester({ algorithms: [algorithm], md5: true });
  return {
    source,
    stages: [digester],
    verify() {
      if (expectedLength !== undefined && digester.bytes !== expectedLength) {
        throw new Error(`the source gave ${digester.bytes} bytes, ${expectedLength} were expected`);
      }
      const d = digester.digests();
      return { size: digester.bytes, md5: d.md5!, algorithm, checksum: d.checksums[algorithm]!, clientChecksum: false };
    },
  };
}

export interface PutInput {
  bucket: string;
  key: string;
  body: BodySource;
  /** The encryption the request asked for (x-amz-server-side-encryption*). */
  sse?: SseChoice;
  /** Everything of the metadata that the request sets (content headers, user metadata, tags...). */
  meta: Partial<ObjectMeta>;
  cond?: { ifNoneMatch?: boolean; ifMatch?: string };
}

export interface WrittenBody {
  /** Committed (durable) blob, owned by the caller until metadata references it. */
  blobId: string;
  verified: VerifiedBody;
  /** Set when the blob holds ciphertext. */
  encryption?: StoredEncryption;
}

/** Size of the slices a blob is read in: large enough for throughput, small enough to stay flat. */
const READ_CHUNK = 256 * 1024;

/**
 * Slabs for reading ciphertext: the decryptor is done with a slice before the next read, so
 * one slab serves a whole object, and finished reads hand theirs to the next (this machine
 * allocates fresh memory slowly). Bounded: past 16 idle slabs, released ones are dropped.
 */
const idleSlabs: Buffer[] = [];
const MAX_IDLE_SLABS = 16;
function takeSlab(): Buffer {
  return idleSlabs.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK);
}
function returnSlab(b: Buffer): void {
  if (idleSlabs.length < MAX_IDLE_SLABS) idleSlabs.push(b);
}

export class ObjectService {
  constructor(readonly store: Store, readonly crypto: ObjectCrypto) {}

  /** The seal of a write to `bucket/key`: the request's SSE, the bucket default, or the server default. */
  async sealFor(bucket: string, key: string, requested?: SseChoice): Promise<Seal | undefined> {
    const info = this.store.getBucket(bucket);
    if (!info) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
    const opts = await this.crypto.choose(info, requested);
    return opts ? { bucket, key, opts } : undefined;
  }

  requireBucket(bucket: string): void {
    if (!this.store.getBucket(bucket)) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
  }

  /**
   * Streams a body into a new blob (through the encryption stream when sealed: the digests
   * describe the plaintext, the blob holds only ciphertext), verifies signatures and
   * checksums, and makes the blob durable. Nothing references the blob yet: on a later
   * failure the caller discards it. The key is sealed before the body is read, so a KMS
   * outage answers 503 without consuming an upload.
   */
  async writeBody(body: BodySource, seal?: Seal): Promise<WrittenBody> {
    const blob: BlobWriter = this.store.createBlob();
    try {
      let stages = body.stages;
      let encryption: StoredEncryption | undefined;
      if (seal) {
        const { stored, stream } = await this.crypto.encryptStream(seal.bucket, seal.key, blob.id, seal.opts);
        encryption = stored;
        stages = [...stages, stream];
      }
      await pipeline([body.source, ...stages, blob.stream] as [NodeJS.ReadableStream, ...Transform[], NodeJS.WritableStream]);
      const verified = body.verify();
      await blob.commit();
      return { blobId: blob.id, verified, encryption };
    } catch (e) {
      await blob.abort().catch(() => {});
      throw e;
    }
  }

  /** Commits metadata that references caller-owned blobs; on failure the blobs are discarded. */
  async commit(bucket: string, meta: ObjectMeta, cond?: PutInput['cond'], owned: string[] = [meta.blobId]): Promise<ObjectMeta> {
    try {
      await this.store.putObject(bucket, meta, cond);
      return meta;
    } catch (e) {
      await this.store.deleteBlobs(owned).catch(() => {});
      throw e;
    }
  }

  async putObject(input: PutInput): Promise<{ meta: ObjectMeta; verified: VerifiedBody }> {
    const seal = await this.sealFor(input.bucket, input.key, input.sse);
    const { blobId, verified, encryption } = await this.writeBody(input.body, seal);
    const meta: ObjectMeta = {
      userMeta: {},
      ...input.meta,
      key: input.key,
      size: verified.size,
      etag: `"${verified.md5.toString('hex')}"`,
      lastModified: Date.now(),
      blobId,
      checksums: { [verified.algorithm]: verified.checksum },
      checksumType: 'FULL_OBJECT',
      encryption,
    };
    return { meta: await this.commit(input.bucket, meta, input.cond), verified };
  }

  head(bucket: string, key: string): ObjectMeta {
    this.requireBucket(bucket);
    const meta = this.store.headObject(bucket, key);
    if (!meta) throw new S3Error('NoSuchKey', undefined, { Key: key });
    return meta;
  }

  /** Opens the object's blobs so that a racing overwrite cannot pull them away mid-read. */
  async open(bucket: string, key: string): Promise<OpenObject> {
    this.requireBucket(bucket);
    const opened = await this.store.openObject(bucket, key);
    if (!opened) throw new S3Error('NoSuchKey', undefined, { Key: key });
    return { ...opened, bucket };
  }

  /**
   * The plaintext bytes [start, end] (inclusive) of an opened object, streamed part by part;
   * encrypted parts are decrypted segment by segment, reading only the segments the range
   * needs. The handles stay open: the caller closes them when the stream is done.
   */
  readRange(opened: OpenObject, start: number, end: number): Readable {
    const meta = opened.meta;
    const pieces: Piece[] = meta.parts && meta.parts.length > 0
      ? meta.parts.map((p, i) => ({ size: p.size, handle: opened.handles[i]!, encryption: p.encryption }))
      : [{ size: meta.size, handle: opened.handle, encryption: meta.encryption }];
    const crypto = this.crypto;
    async function* decrypted(handle: FileHandle, bucket: string, key: string, enc: StoredEncryption, size: number, s: number, e: number): AsyncGenerator<Buffer> {
      const plain: Buffer[] = [];
      const { read: r, opener } = await crypto.segmentOpener(bucket, key, enc, size, s, e, (pt) => plain.push(pt));
      try {
        yield* decryptBlobRange(handle, r.cipherStart, r.cipherEnd, opener, plain);
      } finally {
        opener.dispose();
      }
    }
    async function* read(): AsyncGenerator<Buffer> {
      let base = 0;
      for (const piece of pieces) {
        const pieceEnd = base + piece.size - 1;
        if (pieceEnd >= start && base <= end) {
          const s = Math.max(start, base) - base;
          const e = Math.min(end, pieceEnd) - base;
          // A blob longer or shorter than its metadata says was extended or truncated: refuse
          // before reading it (a range that skips the damage would otherwise succeed).
          const stored = (await piece.handle.stat()).size;
          const expected = isStoredEncryption(piece.encryption) ? ciphertextSize(piece.size, piece.encryption.envelope.segmentSize) : piece.size;
          if (stored !== expected) throw new IntegrityError(stored > expected ? 'extended' : 'truncated', `blob of ${opened.bucket}/${meta.key} is ${stored} bytes, its metadata says ${expected}`);
          if (isStoredEncryption(piece.encryption)) {
            yield* decrypted(piece.handle, opened.bucket, meta.key, piece.encryption, piece.size, s, e);
          } else {
            yield* readBlob(piece.handle, s, e);
          }
        }
        base += piece.size;
        if (base > end) break;
      }
    }
    return Readable.from(read(), { objectMode: false, highWaterMark: READ_CHUNK });
  }

  async delete(bucket: string, key: string): Promise<void> {
    this.requireBucket(bucket);
    await this.store.deleteObject(bucket, key);
  }

  /**
   * CopyObject. Blobs are immutable once written, so a copy links the source blobs under new
   * ids (a durable copy with no I/O) and, for encrypted sources, re-wraps each object key for
   * the destination: the data is never re-encrypted. Only a plaintext source that must be
   * stored encrypted is streamed through the write path. A racing overwrite of the source
   * may unlink a blob between the read and the link: then the source is read again.
   */
  async copy(src: { bucket: string; key: string }, dst: { bucket: string; key: string; meta: Partial<ObjectMeta>; sse?: SseChoice }, check: (m: ObjectMeta) => void, cond?: PutInput['cond']): Promise<ObjectMeta> {
    this.requireBucket(dst.bucket);
    const seal = await this.sealFor(dst.bucket, dst.key, dst.sse);
    for (let attempt = 0; ; attempt++) {
      const srcMeta = this.head(src.bucket, src.key);
      check(srcMeta);
      const plaintextSource = !isStoredEncryption(srcMeta.encryption) && !(srcMeta.parts ?? []).some((p) => isStoredEncryption(p.encryption));
      if (seal && plaintextSource) return this.copyThroughWritePath(src, dst, seal, cond);
      const linked: string[] = [];
      try {
        const link = async (blobId: string, enc: unknown): Promise<{ blobId: string; encryption?: StoredEncryption }> => {
          const id = await this.store.linkBlob(blobId);
          linked.push(id);
          if (!isStoredEncryption(enc)) return { blobId: id };
          return { blobId: id, encryption: await this.crypto.rewrap(enc, src, { bucket: dst.bucket, key: dst.key, binding: id }, dst.sse ? seal?.opts : undefined) };
        };
        const whole = await link(srcMeta.blobId, srcMeta.encryption);
        const parts = [];
        for (const p of srcMeta.parts ?? []) {
          const l = await link(p.blobId, p.encryption);
          parts.push({ ...p, blobId: l.blobId, encryption: l.encryption });
        }
        const meta: ObjectMeta = { ...srcMeta, ...dst.meta, key: dst.key, lastModified: Date.now(), blobId: whole.blobId, encryption: whole.encryption, parts: parts.length ? parts : undefined };
        return await this.commit(dst.bucket, meta, cond, linked);
      } catch (e) {
        await this.store.deleteBlobs(linked).catch(() => {});
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 8) throw e;
      }
    }
  }

  /** Reads the source's plaintext and writes it as a new, sealed object (same checksum algorithm). */
  private async copyThroughWritePath(src: { bucket: string; key: string }, dst: { bucket: string; key: string; meta: Partial<ObjectMeta> }, seal: Seal, cond?: PutInput['cond']): Promise<ObjectMeta> {
    const opened = await this.open(src.bucket, src.key);
    try {
      const m = opened.meta;
      const algorithm = (Object.keys(m.checksums ?? {}).find((a) => a !== 'md5') ?? 'crc64nvme') as ChecksumAlgorithm;
      const source = m.size > 0 ? this.readRange(opened, 0, m.size - 1) : Readable.from([]);
      const { blobId, verified, encryption } = await this.writeBody(plainBody(source, algorithm), seal);
      const meta: ObjectMeta = {
        ...m,
        ...dst.meta,
        key: dst.key,
        lastModified: Date.now(),
        blobId,
        parts: undefined,
        size: verified.size,
        etag: m.parts?.length ? `"${verified.md5.toString('hex')}"` : m.etag,
        checksums: m.parts?.length ? { [algorithm]: verified.checksum } : m.checksums,
        checksumType: m.parts?.length ? 'FULL_OBJECT' : m.checksumType,
        encryption,
      };
      return await this.commit(dst.bucket, meta, cond);
    } finally {
      await Promise.all(opened.handles.map((h) => h.close().catch(() => {})));
    }
  }

  newRequestId(): string {
    return randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
  }
}

interface Piece {
  size: number;
  handle: FileHandle;
  encryption?: unknown;
}

/**
 * Ciphertext bytes [from, to] of a blob read through one pooled slab and fed to `opener`, whose
 * emit pushes onto `released`; yields that plaintext (fresh buffers the socket may keep). The
 * opener is done with a slice before the next read, so the slab is never handed out.
 */
export async function* decryptBlobRange(handle: FileHandle, from: number, to: number, opener: SegmentOpener, released: Buffer[]): AsyncGenerator<Buffer> {
  const slab = takeSlab();
  try {
    for (let pos = from; pos <= to; ) {
      const n = Math.min(slab.length, to - pos + 1);
      const { bytesRead } = await handle.read(slab, 0, n, pos);
      if (bytesRead === 0) throw new IntegrityError('truncated', `blob ends at ${pos}, before byte ${to} its metadata promises`);
      pos += bytesRead;
      opener.feed(slab.subarray(0, bytesRead));
      for (const pt of released.splice(0)) yield pt;
    }
    opener.finish();
    for (const pt of released.splice(0)) yield pt;
  } finally {
    returnSlab(slab);
  }
}

/** Reads bytes [start, end] (inclusive) of one blob in slices. */
async function* readBlob(handle: FileHandle, start: number, end: number): AsyncGenerator<Buffer> {
  let pos = start;
  while (pos <= end) {
    const n = Math.min(READ_CHUNK, end - pos + 1);
    // A fresh buffer per slice: it is handed to the socket, which may hold it after we yield.
    const buf = Buffer.allocUnsafe(n);
    const { bytesRead } = await handle.read(buf, 0, n, pos);
    if (bytesRead === 0) throw new IntegrityError('truncated', `blob ends at ${pos}, before byte ${end} its metadata promises`);
    pos += bytesRead;
    yield bytesRead === n ? buf : buf.subarray(0, bytesRead);
  }
}
