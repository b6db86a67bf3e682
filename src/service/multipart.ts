// Multipart uploads: what CreateMultipartUpload, UploadPart(Copy), Complete, Abort and the two
// listings mean for the store, independent of HTTP. Part bytes go through ObjectService.writeBody
// (request bodies) and ObjectService.open/readRange (copy sources), the one write path and the
// one read path, so whatever those paths do to bytes (encryption) applies to parts as well.
//
// Checksums (AWS S3 since 2025):
//   - Create names an algorithm and a type, or neither. COMPOSITE is the default type for every
//     algorithm but CRC64NVME; FULL_OBJECT is allowed for the CRC family only; CRC64NVME is
//     FULL_OBJECT only. An upload that names none gets CRC64NVME FULL_OBJECT, as a PUT does.
//   - Every part stores the checksum of the upload's algorithm (and the one the client sent, if
//     another). A COMPOSITE upload requires the client to send it with every part; a
//     FULL_OBJECT or default upload computes it when the client did not.
//   - Complete: COMPOSITE = checksum of the concatenated raw part checksums, then "-N";
//     FULL_OBJECT = the parts' CRCs combined (crc(A‖B) from crc(A), crc(B), |B|), no data read.
//   - ETag: MD5 of the concatenated binary part MD5s, then "-N".
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RequestBody, VerifiedBody } from '../s3/body.js';
import {
  BodyDigester,
  CHECKSUM_SIZES,
  combineCrcBase64,
  computeChecksum,
  decodeBase64Digest,
  type ChecksumAlgorithm,
  type CrcAlgorithm,
} from '../s3/checksums.js';
import { S3Error } from '../s3/errors.js';
import { MIN_PART_SIZE } from '../store/store.js';
import type {
  CompleteResult,
  ListPartsOptions,
  ListPartsResult,
  ListUploadsOptions,
  ListUploadsResult,
  ObjectMeta,
  PartRecord,
  PutConditions,
  UploadRecord,
} from '../store/types.js';
import type { SseChoice } from './crypto.js';
import { plainBody, type ObjectService, type Seal } from './objects.js';

export type ChecksumType = 'COMPOSITE' | 'FULL_OBJECT';

/** S3's limits. */
export const MAX_PART_NUMBER = 10_000;
export const MAX_PART_SIZE = 5 * 1024 ** 3;

const CRC_ALGORITHMS: readonly string[] = ['crc32', 'crc32c', 'crc64nvme'];

/** The algorithm every part and the object carry: the one named at Create, else CRC64NVME. */
export function uploadAlgorithm(u: UploadRecord): ChecksumAlgorithm {
  return (u.checksumAlgorithm ?? 'crc64nvme') as ChecksumAlgorithm;
}

/** The checksum type of the upload: the one Create named or defaulted, FULL_OBJECT when it named no algorithm. */
export function uploadChecksumType(u: UploadRecord): ChecksumType {
  return u.checksumType ?? (u.checksumAlgorithm === undefined || u.checksumAlgorithm === 'crc64nvme' ? 'FULL_OBJECT' : 'COMPOSITE');
}

/**
 * Validates Create's x-amz-checksum-algorithm / x-amz-checksum-type and fills in the default
 * type. InvalidRequest for a type without an algorithm or a combination S3 refuses.
 */
export function resolveChecksumSettings(algorithm: ChecksumAlgorithm | undefined, type: string | undefined): { algorithm?: ChecksumAlgorithm; type?: ChecksumType } {
  if (type !== undefined && type !== 'COMPOSITE' && type !== 'FULL_OBJECT') {
    throw new S3Error('InvalidRequest', 'Value for x-amz-checksum-type header is invalid.');
  }
  if (algorithm === undefined) {
    if (type !== undefined) throw new S3Error('InvalidRequest', 'The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.');
    return {};
  }
  const resolved: ChecksumType = (type as ChecksumType | undefined) ?? (algorithm === 'crc64nvme' ? 'FULL_OBJECT' : 'COMPOSITE');
  if (resolved === 'FULL_OBJECT' && !CRC_ALGORITHMS.includes(algorithm)) {
    throw new S3Error('InvalidRequest', `The FULL_OBJECT checksum type cannot be used with the ${algorithm} checksum algorithm.`);
  }
  if (resolved === 'COMPOSITE' && algorithm === 'crc64nvme') {
    throw new S3Error('InvalidRequest', 'The COMPOSITE checksum type cannot be used with the crc64nvme checksum algorithm.');
  }
  return { algorithm, type: resolved };
}

function mismatch(expected: string | undefined, actual: string | undefined): S3Error {
  return new S3Error('InvalidRequest', `Checksum Type mismatch occurred, expected checksum Type: ${expected ?? 'null'}, actual checksum Type: ${actual ?? 'null'}`);
}

function unquote(etag: string): string {
  const t = etag.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

export interface CompleteInput {
  bucket: string;
  key: string;
  uploadId: string;
  /** As listed in the request, in request order: number, ETag and any per-part checksums (by algorithm). */
  parts: { partNumber: number; etag: string; checksums: Partial<Record<ChecksumAlgorithm, string>> }[];
  /** x-amz-checksum-<algorithm> of Complete: the client's full-object checksum, to verify. */
  objectChecksum?: { algorithm: ChecksumAlgorithm; value: string };
  /** x-amz-checksum-type of Complete: must be the upload's (BadDigest). */
  checksumType?: string;
  /** x-amz-mp-object-size: must be the object's size (InvalidRequest). */
  objectSize?: number;
  cond?: PutConditions;
}

export interface CopySource {
  bucket: string;
  key: string;
  /** Inclusive byte range of the source; the whole object when undefined. */
  range?: { start: number; end: number };
  /** x-amz-copy-source-if-* against the source's metadata (throws PreconditionFailed). */
  check: (m: ObjectMeta) => void;
  /** Turns a range that does not fit the source into the S3 error. */
  rangeError: (size: number) => S3Error;
}

export class MultipartService {
  private static readonly instances = new WeakMap<ObjectService, MultipartService>();

  /** The service for an ObjectService (one per store; handlers reach it from their context). */
  static for(objects: ObjectService): MultipartService {
    let s = MultipartService.instances.get(objects);
    if (!s) {
      s = new MultipartService(objects);
      MultipartService.instances.set(objects, s);
    }
    return s;
  }

  constructor(
    readonly objects: ObjectService,
    /** Every part but the last is at least this large (S3: 5 MiB). */
    readonly minPartSize: number = MIN_PART_SIZE,
  ) {}

  private get store() {
    return this.objects.store;
  }

  /**
   * CreateMultipartUpload. The encryption is decided here, once (the request's SSE, else the
   * bucket default, else the server default), and every part is sealed with it.
   */
  async create(bucket: string, key: string, meta: Partial<ObjectMeta>, checksum: { algorithm?: ChecksumAlgorithm; type?: ChecksumType } = {}, sse?: SseChoice): Promise<UploadRecord> {
    const seal = await this.objects.sealFor(bucket, key, sse);
    return this.store.createUpload(bucket, key, { meta, checksumAlgorithm: checksum.algorithm, checksumType: checksum.type, seal: seal?.opts });
  }

  /** The seal every part of `upload` is written with. */
  private sealOf(bucket: string, upload: UploadRecord): Seal | undefined {
    return upload.seal === undefined ? undefined : { bucket, key: upload.key, opts: upload.seal as Seal['opts'] };
  }

  /** NoSuchBucket, then NoSuchUpload. */
  upload(bucket: string, key: string, uploadId: string): UploadRecord {
    this.objects.requireBucket(bucket);
    return this.store.getUpload(bucket, uploadId, key);
  }

  /**
   * UploadPart: streams `body` through ObjectService.writeBody (which verifies the client's
   * checksum) and records the part. `clientAlgorithm` is the algorithm of the checksum the
   * client sends (header or trailer), if any: a COMPOSITE upload requires its own algorithm
   * there; otherwise the upload's checksum is computed alongside when the client sent none or
   * another one.
   */
  async uploadPart(bucket: string, key: string, uploadId: string, partNumber: number, body: RequestBody, clientAlgorithm: ChecksumAlgorithm | undefined): Promise<{ part: PartRecord; upload: UploadRecord; verified: VerifiedBody }> {
    const upload = this.upload(bucket, key, uploadId);
    const algorithm = uploadAlgorithm(upload);
    if (upload.checksumAlgorithm !== undefined && clientAlgorithm !== undefined && clientAlgorithm !== algorithm) {
      throw mismatch(upload.checksumAlgorithm, clientAlgorithm);
    }
    if (upload.checksumAlgorithm !== undefined && clientAlgorithm === undefined && uploadChecksumType(upload) === 'COMPOSITE') {
      throw mismatch(upload.checksumAlgorithm, undefined);
    }
    // openRequestBody computes the client's algorithm (CRC64NVME when none is sent); add the upload's if it is another.
    let extra: BodyDigester | undefined;
    if ((clientAlgorithm ?? 'crc64nvme') !== algorithm) {
      extra = new BodyDigester({ algorithms: [algorithm], md5: false });
      body.stages.push(extra);
    }
    const { blobId, verified, encryption } = await this.objects.writeBody(body, this.sealOf(bucket, upload));
    const checksums: Record<string, string> = { [verified.algorithm]: verified.checksum };
    if (extra) checksums[algorithm] = extra.digests().checksums[algorithm]!;
    const part: PartRecord = {
      partNumber,
      blobId,
      size: verified.size,
      etag: `"${verified.md5.toString('hex')}"`,
      checksums,
      lastModified: Date.now(),
    };
    if (encryption !== undefined) part.encryption = encryption;
    await this.record(bucket, uploadId, key, part);
    return { part, upload, verified };
  }

  /**
   * UploadPartCopy: the source's bytes [range] (plaintext, through ObjectService.readRange) go
   * through ObjectService.writeBody like a request body, so the part is written exactly as an
   * uploaded one. The source is opened (its blobs held) for the whole copy.
   */
  async uploadPartCopy(bucket: string, key: string, uploadId: string, partNumber: number, src: CopySource): Promise<{ part: PartRecord; upload: UploadRecord }> {
    const upload = this.upload(bucket, key, uploadId);
    const algorithm = uploadAlgorithm(upload);
    const opened = await this.objects.open(src.bucket, src.key);
    let written: Awaited<ReturnType<ObjectService['writeBody']>>;
    try {
      src.check(opened.meta);
      const size = opened.meta.size;
      let start = 0;
      let end = size - 1;
      if (src.range) {
        if (src.range.end >= size || src.range.start > src.range.end) throw src.rangeError(size);
        ({ start, end } = src.range);
      }
      const length = end - start + 1;
      if (length > MAX_PART_SIZE) {
        throw new S3Error('InvalidRequest', `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_PART_SIZE}`);
      }
      const source: Readable = length > 0 ? this.objects.readRange(opened, start, end) : Readable.from([]);
      written = await this.objects.writeBody(plainBody(source, algorithm, length), this.sealOf(bucket, upload));
    } finally {
      await Promise.all(opened.handles.map((h) => h.close().catch(() => {})));
    }
    const { blobId, verified, encryption } = written;
    const part: PartRecord = {
      partNumber,
      blobId,
      size: verified.size,
      etag: `"${verified.md5.toString('hex')}"`,
      checksums: { [algorithm]: verified.checksum },
      lastModified: Date.now(),
    };
    if (encryption !== undefined) part.encryption = encryption;
    await this.record(bucket, uploadId, key, part);
    return { part, upload };
  }

  private async record(bucket: string, uploadId: string, key: string, part: PartRecord): Promise<void> {
    try {
      await this.store.putPart(bucket, uploadId, key, part);
    } catch (e) {
      await this.store.deleteBlobs([part.blobId]).catch(() => {});
      throw e;
    }
  }

  async complete(input: CompleteInput): Promise<CompleteResult> {
    this.objects.requireBucket(input.bucket);
    if (input.parts.length === 0) throw new S3Error('MalformedXML');
    if (input.parts.length > MAX_PART_NUMBER) throw new S3Error('MalformedXML', 'The list of parts exceeds the maximum of 10000 parts.');
    return this.store.completeUpload(
      input.bucket,
      input.uploadId,
      input.key,
      input.parts.map((p) => ({ partNumber: p.partNumber, etag: p.etag })),
      (upload, parts) => this.buildObject(input, upload, parts),
      input.cond,
      this.minPartSize,
    );
  }

  /** The completed object's metadata from the upload and its listed part records (checked by the store). */
  private buildObject(input: CompleteInput, upload: UploadRecord, parts: PartRecord[]): ObjectMeta {
    const algorithm = uploadAlgorithm(upload);
    const type = uploadChecksumType(upload);
    const size = parts.reduce((n, p) => n + p.size, 0);
    if (input.objectSize !== undefined && input.objectSize !== size) {
      throw new S3Error('InvalidRequest', `The provided 'x-amz-mp-object-size' header value ${input.objectSize} does not match what was computed: ${size}`);
    }
    if (input.checksumType !== undefined && input.checksumType !== type) {
      throw new S3Error('BadDigest', `The ${input.checksumType} checksum type you specified did not match the ${type} checksum type of the upload.`);
    }
    parts.forEach((part, i) => {
      const listed = input.parts[i]!;
      for (const [a, v] of Object.entries(listed.checksums)) {
        const stored = part.checksums[a];
        if (stored !== undefined && stored !== v) {
          throw new S3Error('InvalidPart', "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", {
            UploadId: input.uploadId,
            PartNumber: String(part.partNumber),
            ETag: listed.etag,
          });
        }
      }
      if (type === 'COMPOSITE' && upload.checksumAlgorithm !== undefined && listed.checksums[algorithm] === undefined) {
        throw new S3Error('InvalidRequest', `The upload was created using a ${algorithm} checksum. The complete request must include the checksum for each part. It was missing for part ${part.partNumber} in the request.`);
      }
      if (part.checksums[algorithm] === undefined) {
        throw new S3Error('InvalidPart', `Part ${part.partNumber} has no ${algorithm} checksum.`, { UploadId: input.uploadId, PartNumber: String(part.partNumber) });
      }
    });
    const checksum = type === 'COMPOSITE' ? compositeChecksum(algorithm, parts) : fullObjectChecksum(algorithm as CrcAlgorithm, parts);
    if (input.objectChecksum) {
      const sent = input.objectChecksum;
      if (sent.algorithm !== algorithm) throw mismatch(algorithm, sent.algorithm);
      // A composite value may be sent with or without its "-N" suffix (S3 accepts both).
      const matches = sent.value === checksum || (type === 'COMPOSITE' && sent.value === checksum.replace(/-\d+$/, ''));
      if (!matches) {
        throw new S3Error('BadDigest', `The ${algorithm.toUpperCase()} you specified did not match the calculated checksum.`);
      }
    }
    const md5s = createHash('md5');
    for (const p of parts) md5s.update(Buffer.from(unquote(p.etag), 'hex'));
    return {
      userMeta: {},
      ...upload.meta,
      key: input.key,
      size,
      etag: `"${md5s.digest('hex')}-${parts.length}"`,
      lastModified: Date.now(),
      blobId: parts[0]!.blobId,
      parts: parts.map((p) => {
        const op: NonNullable<ObjectMeta['parts']>[number] = { blobId: p.blobId, size: p.size, etag: p.etag, checksums: p.checksums, partNumber: p.partNumber };
        if (p.encryption !== undefined) op.encryption = p.encryption;
        return op;
      }),
      checksums: { [algorithm]: checksum },
      checksumType: type,
      uploadId: input.uploadId,
    };
  }

  async abort(bucket: string, key: string, uploadId: string): Promise<void> {
    this.objects.requireBucket(bucket);
    await this.store.abortUpload(bucket, uploadId, key);
  }

  listParts(bucket: string, key: string, uploadId: string, opts: ListPartsOptions): ListPartsResult {
    this.objects.requireBucket(bucket);
    return this.store.listParts(bucket, uploadId, key, opts);
  }

  listUploads(bucket: string, opts: ListUploadsOptions): ListUploadsResult {
    this.objects.requireBucket(bucket);
    return this.store.listUploads(bucket, opts);
  }
}

/** COMPOSITE: the algorithm over the concatenated raw part digests, then "-<number of parts>". */
export function compositeChecksum(algorithm: ChecksumAlgorithm, parts: { checksums?: Record<string, string> }[]): string {
  const raw = parts.map((p) => {
    const b = decodeBase64Digest(p.checksums?.[algorithm] ?? '', CHECKSUM_SIZES[algorithm]);
    if (!b) throw new Error(`part without a valid ${algorithm} checksum`);
    return b;
  });
  return `${computeChecksum(algorithm, Buffer.concat(raw))}-${parts.length}`;
}

/** FULL_OBJECT: the CRC of the concatenated parts, combined from the parts' CRCs and sizes. */
export function fullObjectChecksum(algorithm: CrcAlgorithm, parts: { size: number; checksums?: Record<string, string> }[]): string {
  let acc: string | undefined;
  for (const p of parts) {
    const v = p.checksums?.[algorithm];
    if (v === undefined) throw new Error(`part without a ${algorithm} checksum`);
    acc = acc === undefined ? v : combineCrcBase64(algorithm, acc, v, p.size);
  }
  return acc!;
}

/** A copy source as a RequestBody: MD5 (the part's ETag) and the upload's checksum, computed in passing. */

/**
 * The periodic sweep that aborts uploads older than the store's multipartMaxAgeSeconds (the
 * lifecycle rule AbortIncompleteMultipartUpload, always on): once at start, then every quarter
 * of the age (at least every second, at most every hour). stop() waits for a running sweep.
 */
export function startStaleUploadSweep(store: { abortStaleUploads(now?: number): Promise<number>; multipartMaxAgeSeconds: number }, log: (line: string) => void): { stop(): Promise<void> } {
  const every = Math.min(3600_000, Math.max(1000, (store.multipartMaxAgeSeconds * 1000) / 4));
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const run = () => {
    running = running.then(async () => {
      if (stopped) return;
      try {
        const n = await store.abortStaleUploads(Date.now());
        if (n > 0) log(`multipart: aborted ${n} upload(s) older than ${store.multipartMaxAgeSeconds}s`);
      } catch (e) {
        log(`multipart: stale upload sweep failed: ${(e as Error).stack ?? e}`);
      }
    });
  };
  run();
  const timer = setInterval(run, every);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
