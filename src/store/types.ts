// Shapes of the embedded store: what an object and a bucket are, independent of HTTP.
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

export interface ObjectPart {
  blobId: string;
  size: number;
  etag: string;
  checksums?: Record<string, string>;
}

export interface ObjectMeta {
  key: string;
  size: number;
  /** Quoted, e.g. '"abc..."'. */
  etag: string;
  /** ms since epoch */
  lastModified: number;
  /** The blob holding the bytes. When `parts` is non-empty the bytes are the parts' blobs in order. */
  blobId: string;
  parts?: ObjectPart[];
  contentType?: string;
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
  websiteRedirect?: string;
  /** x-amz-meta-* (lower-case names, without the prefix). */
  userMeta: Record<string, string>;
  /** e.g. { crc64nvme: 'base64', md5: ... } */
  checksums: Record<string, string>;
  checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
  storageClass?: string;
  tags?: Record<string, string>;
  /** Encryption envelope, owned by kms/; stored opaquely (msgpack: plain data, Buffers allowed). */
  encryption?: unknown;
}

export interface BucketInfo {
  name: string;
  created: number;
  region: string;
  /** Subresource configurations (lifecycle, cors, encryption, ...), by name. */
  config?: Record<string, unknown>;
}

export interface BucketUsage {
  objects: number;
  bytes: number;
}

export interface PutConditions {
  /** `If-None-Match: *`: the key must not exist, else PreconditionFailed. */
  ifNoneMatch?: boolean;
  /** `If-Match`: the current ETag must match (quoted or not, `*`, or a comma list); missing key is NoSuchKey. */
  ifMatch?: string;
}

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  /** Exclusive start: marker, start-after, or a continuation token's decoded value. */
  after?: string;
  maxKeys: number;
}

export interface ListResult {
  contents: ObjectMeta[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned, when truncated. */
  nextAfter?: string;
}

/** A blob file being written. Nothing references it until a putObject names its id. */
export interface BlobWriter {
  readonly id: string;
  /** A file write stream: write to it (respecting backpressure), or pipe into it. */
  readonly stream: Writable;
  /** Bytes written to the file so far. */
  readonly bytesWritten: number;
  /** Ends the stream if needed, fsyncs the file, renames it into place and fsyncs the directory. */
  commit(): Promise<void>;
  /** Discards the blob (before or after commit, as long as no metadata references it). */
  abort(): Promise<void>;
}

export interface OpenedObject {
  meta: ObjectMeta;
  /** One open handle per blob, in byte order (one for a simple object, one per part otherwise). */
  handles: FileHandle[];
  /** handles[0]; for single-blob objects. Use `handles` when meta.parts is non-empty. */
  handle: FileHandle;
}

export interface StoreOptions {
  /**
   * Remove leftovers of interrupted writes at open (temp files, blob files no committed
   * metadata references). Default true. Run it in exactly one process per data directory,
   * before any other process writes (it would delete their in-flight blobs).
   */
  cleanup?: boolean;
  /** How often openObject re-reads metadata when a racing overwrite unlinked the blob. Default 8. */
  openRetries?: number;
}
