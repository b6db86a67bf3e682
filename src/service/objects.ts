// The object service: what an S3 operation means for the store, independent of HTTP.
// Handlers call it; it owns the write path (body → blob → durable → metadata commit) so
// that encryption can be slotted between the digester and the blob in one place.
import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Transform } from 'node:stream';
import type { RequestBody, VerifiedBody } from '../s3/body.js';
import { S3Error } from '../s3/errors.js';
import type { Store } from '../store/store.js';
import type { ObjectMeta } from '../store/types.js';

export interface PutInput {
  bucket: string;
  key: string;
  body: RequestBody;
  /** Everything of the metadata that the request sets (content headers, user metadata, tags...). */
  meta: Partial<ObjectMeta>;
  cond?: { ifNoneMatch?: boolean; ifMatch?: string };
}

export class ObjectService {
  constructor(readonly store: Store) {}

  requireBucket(bucket: string): void {
    if (!this.store.getBucket(bucket)) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucket });
  }

  /** Streams the body to a new blob, verifies it, makes it durable, then commits metadata. */
  async putObject(input: PutInput): Promise<{ meta: ObjectMeta; verified: VerifiedBody }> {
    this.requireBucket(input.bucket);
    const blob = this.store.createBlob();
    let verified: VerifiedBody;
    try {
      await pipeline([input.body.source, ...input.body.stages, blob.stream] as [NodeJS.ReadableStream, ...Transform[], NodeJS.WritableStream]);
      verified = input.body.verify();
      await blob.commit();
    } catch (e) {
      await blob.abort().catch(() => {});
      throw e;
    }
    const meta: ObjectMeta = {
      userMeta: {},
      ...input.meta,
      key: input.key,
      size: verified.size,
      etag: `"${verified.md5.toString('hex')}"`,
      lastModified: Date.now(),
      blobId: blob.id,
      checksums: { [verified.algorithm]: verified.checksum },
      checksumType: 'FULL_OBJECT',
    };
    try {
      await this.store.putObject(input.bucket, meta, input.cond);
    } catch (e) {
      await this.store.deleteBlobs([blob.id]).catch(() => {});
      throw e;
    }
    return { meta, verified };
  }

  head(bucket: string, key: string): ObjectMeta {
    this.requireBucket(bucket);
    const meta = this.store.headObject(bucket, key);
    if (!meta) throw new S3Error('NoSuchKey', undefined, { Key: key });
    return meta;
  }

  /** Opens the object's blob so that a racing overwrite cannot pull it away mid-read. */
  async open(bucket: string, key: string): Promise<{ meta: ObjectMeta; handle: FileHandle }> {
    this.requireBucket(bucket);
    const opened = await this.store.openObject(bucket, key);
    if (!opened) throw new S3Error('NoSuchKey', undefined, { Key: key });
    return opened;
  }

  async delete(bucket: string, key: string): Promise<void> {
    this.requireBucket(bucket);
    await this.store.deleteObject(bucket, key);
  }

  /**
   * Copies by linking the source blob under a new id: the bytes are immutable once written,
   * so a hard link is a durable copy that costs no I/O.
   */
  async copy(src: { bucket: string; key: string; meta: ObjectMeta }, dst: { bucket: string; key: string; meta: Partial<ObjectMeta> }, cond?: PutInput['cond']): Promise<ObjectMeta> {
    this.requireBucket(dst.bucket);
    const blobId = await this.store.linkBlob(src.meta.blobId);
    const meta: ObjectMeta = {
      ...src.meta,
      ...dst.meta,
      key: dst.key,
      lastModified: Date.now(),
      blobId,
    };
    try {
      await this.store.putObject(dst.bucket, meta, cond);
    } catch (e) {
      await this.store.deleteBlobs([blobId]).catch(() => {});
      throw e;
    }
    return meta;
  }

  newRequestId(): string {
    return randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
  }
}
