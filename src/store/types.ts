// Shapes of the embedded store: what an object and a bucket are, independent of HTTP.
import type { FileHandle } from 'node:fs/promises';
import type { Writable } from 'node:stream';

export interface ObjectPart {
  blobId: string;
  size: number;
  etag: string;
  checksums?: Record<string, string>;
  /** The part number it had in its multipart upload (parts may skip numbers). */
  partNumber?: number;
  /** Encryption of this part's blob (each part has its own object key); owned by kms/. */
  encryption?: unknown;
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
  /** The multipart upload this object was completed from (a retried Complete answers with it). */
  uploadId?: string;
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
  /**
   * Internal (kms encrypt-existing): the current object must reference exactly these blob ids
   * (blobIdsOf order), i.e. be the very version that was read, not just one with the same ETag;
   * missing key is NoSuchKey, another version PreconditionFailed.
   */
  ifBlobIds?: string[];
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
  /** Multipart uploads initiated longer ago than this are aborted by abortStaleUploads(). Default 7 days. */
  multipartMaxAgeSeconds?: number;
}

// ---- multipart uploads ----

/** An in-progress multipart upload, as CreateMultipartUpload left it. */
export interface UploadRecord {
  key: string;
  uploadId: string;
  /** ms since epoch */
  initiated: number;
  /** What the completed object gets: content headers, user metadata, storage class, tags. */
  meta: Partial<ObjectMeta>;
  /** The checksum algorithm named at Create ('crc32', 'sha256', ...); undefined: none named. */
  checksumAlgorithm?: string;
  checksumType?: 'FULL_OBJECT' | 'COMPOSITE';
  /** How every part is sealed, decided once at Create (request SSE, bucket default, server default); owned by the object service. */
  seal?: unknown;
}

/** One uploaded part. Its blob is referenced (blobrefs) while the record exists. */
export interface PartRecord {
  partNumber: number;
  blobId: string;
  size: number;
  /** Quoted MD5 hex, e.g. '"abc..."'. */
  etag: string;
  /** Flexible checksums of the part's bytes, base64 by algorithm. */
  checksums: Record<string, string>;
  /** ms since epoch */
  lastModified: number;
  /** Encryption of the part's blob (its own object key), as ObjectService.writeBody returned it. */
  encryption?: unknown;
}

export interface ListUploadsOptions {
  prefix?: string;
  delimiter?: string;
  keyMarker?: string;
  /** Only with keyMarker: uploads of that key after this id are listed. */
  uploadIdMarker?: string;
  maxUploads: number;
}

export interface ListUploadsResult {
  uploads: UploadRecord[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** When truncated: where the next page starts (the last upload or common prefix returned). */
  nextKeyMarker?: string;
  nextUploadIdMarker?: string;
}

export interface ListPartsOptions {
  /** Exclusive: parts after this number. */
  partNumberMarker?: number;
  maxParts: number;
}

export interface ListPartsResult {
  upload: UploadRecord;
  parts: PartRecord[];
  isTruncated: boolean;
  nextPartNumberMarker?: number;
}

/** A part named in CompleteMultipartUpload. */
export interface CompletePartRequest {
  partNumber: number;
  /** As the client sent it (quotes optional). */
  etag: string;
}

export interface CompleteResult {
  meta: ObjectMeta;
  /** True when the upload had already been completed into this object (a retried Complete). */
  replayed: boolean;
}
