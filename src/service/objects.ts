// The object service: what an S3 operation means for the store, independent of HTTP.
// Handlers call it. It owns the two byte paths, so that encryption and multipart plug in at
// one place each: writeBody (request body → verified, durable blob) and readRange (stored
// blobs → the plaintext bytes of a range).
import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RequestBody, VerifiedBody } from '../s3/body.js';
import { S3Error } from '../s3/errors.js';
import type { Store } from '../store/store.js';
import type { BlobWriter, ObjectMeta, OpenedObject } from '../store/types.js';

export interface PutInput {
  bucket: string;
  key: string;
  body: RequestBody;
  /** Everything of the metadata that the request sets (content headers, user metadata, tags...). */
  meta: Partial<ObjectMeta>;
  cond?: { ifNoneMatch?: boolean; ifMatch?: string };
}

export interface WrittenBody {
  /** Committed (durable) blob, owned by the caller until metadata references it. */
  blobId: string;
  verified: VerifiedBody;
}

/** Size of the slices a blob is read in: large enough for throughput, small enough to stay flat. */
const READ_CHUNK = 256 * 1024;

export class ObjectService {
  constructor(readonly store: Store) {}

  requireBucket(bucket: string): void {
    if (!this.store.getBucket(bucket)) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
  }

  /**
   * Streams a request body into a new blob, verifies signatures and checksums, and makes the
   * blob durable. Nothing references the blob yet: on a later failure the caller discards it.
   */
  async writeBody(body: RequestBody): Promise<WrittenBody> {
    const blob: BlobWriter = this.store.createBlob();
    try {
      await pipeline([body.source, ...body.stages, blob.stream] as [NodeJS.ReadableStream, ...Transform[], NodeJS.WritableStream]);
      const verified = body.verify();
      await blob.commit();
      return { blobId: blob.id, verified };
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
    this.requireBucket(input.bucket);
    const { blobId, verified } = await this.writeBody(input.body);
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
  async open(bucket: string, key: string): Promise<OpenedObject> {
    this.requireBucket(bucket);
    const opened = await this.store.openObject(bucket, key);
    if (!opened) throw new S3Error('NoSuchKey', undefined, { Key: key });
    return opened;
  }

  /**
   * The plaintext bytes [start, end] (inclusive) of an opened object, streamed part by part.
   * The handles stay open: the caller closes them when the stream is done.
   */
  readRange(opened: OpenedObject, start: number, end: number): Readable {
    const parts = opened.meta.parts && opened.meta.parts.length > 0
      ? opened.meta.parts.map((p, i) => ({ size: p.size, handle: opened.handles[i]! }))
      : [{ size: opened.meta.size, handle: opened.handle }];
    return Readable.from(readParts(parts, start, end), { objectMode: false, highWaterMark: READ_CHUNK });
  }

  async delete(bucket: string, key: string): Promise<void> {
    this.requireBucket(bucket);
    await this.store.deleteObject(bucket, key);
  }

  /**
   * Copies by linking the source blobs under new ids: blobs are immutable once written, so a
   * hard link is a durable copy that costs no I/O. A racing overwrite of the source may unlink
   * a blob between the read and the link: then the source is re-read.
   */
  async copy(src: { bucket: string; key: string }, dst: { bucket: string; key: string; meta: Partial<ObjectMeta> }, check: (m: ObjectMeta) => void, cond?: PutInput['cond']): Promise<ObjectMeta> {
    this.requireBucket(dst.bucket);
    for (let attempt = 0; ; attempt++) {
      const srcMeta = this.head(src.bucket, src.key);
      check(srcMeta);
      const linked: string[] = [];
      try {
        const blobId = await this.store.linkBlob(srcMeta.blobId);
        linked.push(blobId);
        const parts = [];
        for (const p of srcMeta.parts ?? []) {
          const id = await this.store.linkBlob(p.blobId);
          linked.push(id);
          parts.push({ ...p, blobId: id });
        }
        const meta: ObjectMeta = { ...srcMeta, ...dst.meta, key: dst.key, lastModified: Date.now(), blobId, parts: parts.length ? parts : undefined };
        return await this.commit(dst.bucket, meta, cond, linked);
      } catch (e) {
        await this.store.deleteBlobs(linked).catch(() => {});
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 8) throw e;
      }
    }
  }

  newRequestId(): string {
    return randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
  }
}

/** Reads [start, end] across consecutive blobs with one reusable buffer per slice size. */
async function* readParts(parts: { size: number; handle: FileHandle }[], start: number, end: number): AsyncGenerator<Buffer> {
  let base = 0;
  for (const part of parts) {
    const partEnd = base + part.size - 1;
    if (partEnd >= start && base <= end) {
      let pos = Math.max(start, base) - base;
      const stop = Math.min(end, partEnd) - base;
      while (pos <= stop) {
        const n = Math.min(READ_CHUNK, stop - pos + 1);
        // A fresh buffer per slice: it is handed to the socket, which may hold it after we yield.
        const buf = Buffer.allocUnsafe(n);
        const { bytesRead } = await part.handle.read(buf, 0, n, pos);
        if (bytesRead === 0) throw new Error(`blob shorter than its metadata says (${part.size} bytes)`);
        pos += bytesRead;
        yield bytesRead === n ? buf : buf.subarray(0, bytesRead);
      }
    }
    base += part.size;
    if (base > end) break;
  }
}
