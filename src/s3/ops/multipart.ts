// Multipart upload operations: CreateMultipartUpload, UploadPart, UploadPartCopy,
// CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads. Request parsing
// and response shapes (AWS S3 API reference) here; what they mean lives in service/multipart.ts.
import type { IncomingHttpHeaders } from 'node:http';
import {
  MAX_PART_NUMBER,
  MAX_PART_SIZE,
  MultipartService,
  resolveChecksumSettings,
  uploadAlgorithm,
  uploadChecksumType,
} from '../../service/multipart.js';
import type { ObjectMeta, PartRecord, UploadRecord } from '../../store/types.js';
import { openRequestBody, readSmallBody } from '../body.js';
import {
  CHECKSUM_ALGORITHMS,
  CHECKSUM_SIZES,
  checksumHeader,
  decodeBase64Digest,
  parseChecksumAlgorithm,
  parseChecksumHeaders,
  type ChecksumAlgorithm,
} from '../checksums.js';
import { sendEmpty, sendXml, type Headers, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { isStoredEncryption } from '../../service/crypto.js';
import { envelopeOf, metaFromRequest } from '../object-headers.js';
import { parseSseRequest, sseHeaders } from '../sse.js';
import { expirationHeaders, lifecycleAbortDateFor } from '../lifecycle.js';
import { parseTaggingHeader } from '../tagging.js';
import { checkRequestAcl } from './acl.js';
import { checkCopySourceConditions, writeConditions } from '../preconditions.js';
import { isoDate, parseXml } from '../xml.js';
import { OWNER } from './bucket.js';
import { parseCopySource } from './copy.js';
import { urlEncodeKey } from './list.js';

/** Largest CompleteMultipartUpload document accepted: 10,000 parts with checksums fit in well under this. */
const MAX_COMPLETE_XML = 4 * 1024 * 1024;
const MAX_LISTING = 1000;

function target(ctx: S3Context): { bucket: string; key: string } {
  return ctx.target as { bucket: string; key: string };
}

function service(ctx: S3Context): MultipartService {
  return MultipartService.for(ctx.objects);
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function uploadIdParam(ctx: S3Context): string {
  const id = ctx.target.query.get('uploadId');
  if (id === null || id === '') throw new S3Error('InvalidArgument', 'This operation requires an uploadId.', { ArgumentName: 'uploadId', ArgumentValue: id ?? '' });
  return id;
}

/** partNumber: an integer 1..10000, else InvalidArgument (as S3 words it). */
export function parsePartNumber(value: string | null): number {
  if (value === null || !/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > MAX_PART_NUMBER) {
    throw new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', { ArgumentName: 'partNumber', ArgumentValue: value ?? '' });
  }
  return Number(value);
}

/** A non-negative integer query parameter, capped at 1000 (max-parts, max-uploads). */
function maxParam(ctx: S3Context, name: string): number {
  const v = ctx.target.query.get(name);
  if (v === null) return MAX_LISTING;
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new S3Error('InvalidArgument', `Provided ${name} not an integer or within integer range`, { ArgumentName: name, ArgumentValue: v });
  }
  return Math.min(MAX_LISTING, Number(v));
}

function algorithmName(a: string): string {
  return a.toUpperCase();
}

/** `Checksum<ALGO>` XML elements for the checksums of `algorithms` present in `checksums`. */
function checksumElements(checksums: Record<string, string> | undefined, algorithms: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of algorithms) {
    const v = checksums?.[a];
    if (v !== undefined) out[`Checksum${algorithmName(a)}`] = v;
  }
  return out;
}

// ---- CreateMultipartUpload ----

export async function createMultipartUpload(ctx: S3Context): Promise<void> {
  const { bucket, key } = target(ctx);
  const h = ctx.req.headers;
  const meta: Partial<ObjectMeta> = metaFromRequest(h);
  checkRequestAcl(h);
  const tags = parseTaggingHeader(h);
  if (tags) meta.tags = tags;
  const algName = header(h, 'x-amz-checksum-algorithm');
  let algorithm: ChecksumAlgorithm | undefined;
  if (algName !== undefined) {
    algorithm = parseChecksumAlgorithm(algName);
    if (!algorithm) {
      throw new S3Error('InvalidRequest', `Checksum algorithm provided is unsupported. Please try again with any of the valid types: [${CHECKSUM_ALGORITHMS.map(algorithmName).join(', ')}]`);
    }
  }
  const typeName = header(h, 'x-amz-checksum-type');
  const settings = resolveChecksumSettings(algorithm, typeName?.trim().toUpperCase());
  const upload = await service(ctx).create(bucket, key, meta, settings, parseSseRequest(h));
  const seal = upload.seal as { sse?: string; kmsKeyId?: string; bucketKeyEnabled?: boolean } | undefined;
  const abort = lifecycleAbortDateFor(ctx.objects.store.getBucket(bucket)?.config, key, upload.initiated);
  sendXml(ctx, 200, 'InitiateMultipartUploadResult', { Bucket: bucket, Key: key, UploadId: upload.uploadId }, {
    'x-amz-abort-date': abort ? new Date(abort.date).toUTCString() : undefined,
    'x-amz-abort-rule-id': abort?.ruleId,
    'x-amz-checksum-algorithm': settings.algorithm ? algorithmName(settings.algorithm) : undefined,
    'x-amz-checksum-type': settings.type,
    'x-amz-server-side-encryption': seal?.sse,
    'x-amz-server-side-encryption-aws-kms-key-id': seal?.sse === 'aws:kms' ? seal.kmsKeyId : undefined,
  });
}

// ---- UploadPart ----

/** The part's checksum headers (the upload's algorithm; with no algorithm named, every one kept) and its encryption. */
function partHeaders(upload: UploadRecord, part: PartRecord): Headers {
  const out: Headers = sseHeaders(isStoredEncryption(part.encryption) ? part.encryption.envelope : undefined);
  for (const [a, v] of Object.entries(part.checksums)) {
    if (a === uploadAlgorithm(upload) || upload.checksumAlgorithm === undefined) out[checksumHeader(a as ChecksumAlgorithm)] = v;
  }
  return out;
}

export async function uploadPart(ctx: S3Context): Promise<void> {
  const { bucket, key } = target(ctx);
  const partNumber = parsePartNumber(ctx.target.query.get('partNumber'));
  const uploadId = uploadIdParam(ctx);
  const mp = service(ctx);
  mp.upload(bucket, key, uploadId); // NoSuchBucket / NoSuchUpload before any byte is read
  const body = openRequestBody(ctx, { maxSize: Math.min(ctx.config.maxObjectSize, MAX_PART_SIZE) });
  // openRequestBody validated these; here only which algorithm the client sends, if any.
  const trailers = (header(ctx.req.headers, 'x-amz-trailer') ?? '').split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
  const clientAlgorithm = parseChecksumHeaders(ctx.req.headers, trailers).algorithm;
  const { part, upload } = await mp.uploadPart(bucket, key, uploadId, partNumber, body, clientAlgorithm);
  sendEmpty(ctx, 200, { etag: part.etag, ...partHeaders(upload, part) });
}

// ---- UploadPartCopy ----

const COPY_RANGE_RE = /^bytes=(\d+)-(\d+)$/;

export function parseCopySourceRange(value: string | undefined): { start: number; end: number } | undefined {
  if (value === undefined) return undefined;
  const m = COPY_RANGE_RE.exec(value.trim());
  const bad = () => new S3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy', {
    ArgumentName: 'x-amz-copy-source-range',
    ArgumentValue: value,
  });
  if (!m) throw bad();
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end) throw bad();
  return { start, end };
}

export async function uploadPartCopy(ctx: S3Context): Promise<void> {
  const { bucket, key } = target(ctx);
  const partNumber = parsePartNumber(ctx.target.query.get('partNumber'));
  const uploadId = uploadIdParam(ctx);
  const src = parseCopySource(String(ctx.req.headers['x-amz-copy-source']));
  const rangeHeader = header(ctx.req.headers, 'x-amz-copy-source-range');
  const range = parseCopySourceRange(rangeHeader);
  const { part, upload } = await service(ctx).uploadPartCopy(bucket, key, uploadId, partNumber, {
    ...src,
    range,
    check: (m) => checkCopySourceConditions(ctx.req.headers, m),
    rangeError: (size) => new S3Error('InvalidArgument', `Range specified is not valid for source object of size: ${size}`, {
      ArgumentName: 'x-amz-copy-source-range',
      ArgumentValue: rangeHeader ?? '',
    }),
  });
  sendXml(ctx, 200, 'CopyPartResult', {
    ETag: part.etag,
    LastModified: isoDate(part.lastModified),
    ...checksumElements(part.checksums, [uploadAlgorithm(upload)]),
  }, sseHeaders(isStoredEncryption(part.encryption) ? part.encryption.envelope : undefined));
}

// ---- CompleteMultipartUpload ----

const NOT_VALUE_HEADERS = new Set(['x-amz-checksum-algorithm', 'x-amz-checksum-type', 'x-amz-checksum-mode']);

/**
 * Complete's x-amz-checksum-<algorithm> names the whole object's checksum (a COMPOSITE one may
 * end in "-N"), not the XML body's. Returns it and removes it (and x-amz-sdk-checksum-algorithm)
 * from the request, so that reading the body does not verify the document against it.
 */
function takeObjectChecksum(h: IncomingHttpHeaders): { algorithm: ChecksumAlgorithm; value: string } | undefined {
  let found: { algorithm: ChecksumAlgorithm; value: string } | undefined;
  for (const name of Object.keys(h)) {
    if (!name.startsWith('x-amz-checksum-') || NOT_VALUE_HEADERS.has(name)) continue;
    const a = parseChecksumAlgorithm(name.slice('x-amz-checksum-'.length));
    if (!a) throw new S3Error('InvalidRequest', 'The algorithm type you specified in x-amz-checksum- header is invalid.');
    if (found) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    const value = String(header(h, name)).trim();
    const base = value.replace(/-\d+$/, '');
    if (!decodeBase64Digest(base, CHECKSUM_SIZES[a])) throw new S3Error('InvalidRequest', `Value for ${checksumHeader(a)} header is invalid.`);
    found = { algorithm: a, value };
    delete h[name];
  }
  delete h['x-amz-sdk-checksum-algorithm'];
  return found;
}

interface ListedPart {
  partNumber: number;
  etag: string;
  checksums: Partial<Record<ChecksumAlgorithm, string>>;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  return undefined;
}

export function parseCompleteXml(data: Buffer): ListedPart[] {
  const doc = parseXml(data).CompleteMultipartUpload;
  if (doc === undefined || doc === null || typeof doc === 'string' && doc.trim() !== '') throw new S3Error('MalformedXML');
  const parts: unknown[] = typeof doc === 'object' ? (doc.Part ?? []) : [];
  return parts.map((raw) => {
    if (typeof raw !== 'object' || raw === null) throw new S3Error('MalformedXML');
    const p = raw as Record<string, unknown>;
    const pn = text(p.PartNumber)?.trim();
    const etag = text(p.ETag)?.trim();
    if (pn === undefined || !/^\d{1,9}$/.test(pn) || etag === undefined) throw new S3Error('MalformedXML');
    const checksums: Partial<Record<ChecksumAlgorithm, string>> = {};
    for (const a of CHECKSUM_ALGORITHMS) {
      const v = text(p[`Checksum${algorithmName(a)}`])?.trim();
      if (v !== undefined) checksums[a] = v;
    }
    return { partNumber: Number(pn), etag, checksums };
  });
}

function objectLocation(ctx: S3Context, bucket: string, key: string): string {
  const host = header(ctx.req.headers, 'host') ?? 'localhost';
  const proto = (header(ctx.req.headers, 'x-forwarded-proto') ?? 'http').split(',')[0]!.trim();
  const path = key.split('/').map(encodeURIComponent).join('/');
  const virtual = host.toLowerCase().startsWith(`${bucket.toLowerCase()}.`);
  return virtual ? `${proto}://${host}/${path}` : `${proto}://${host}/${encodeURIComponent(bucket)}/${path}`;
}

export async function completeMultipartUpload(ctx: S3Context): Promise<void> {
  const { bucket, key } = target(ctx);
  const uploadId = uploadIdParam(ctx);
  const h = ctx.req.headers;
  const cond = writeConditions(h);
  const sizeHeader = header(h, 'x-amz-mp-object-size');
  if (sizeHeader !== undefined && !/^\d+$/.test(sizeHeader.trim())) {
    throw new S3Error('InvalidArgument', 'The x-amz-mp-object-size header must be a non-negative integer.', { ArgumentName: 'x-amz-mp-object-size', ArgumentValue: sizeHeader });
  }
  const checksumType = header(h, 'x-amz-checksum-type')?.trim().toUpperCase();
  const objectChecksum = takeObjectChecksum(h);
  const { data } = await readSmallBody(ctx, MAX_COMPLETE_XML);
  const parts = parseCompleteXml(data);
  const { meta } = await service(ctx).complete({
    bucket,
    key,
    uploadId,
    parts,
    objectChecksum,
    checksumType,
    objectSize: sizeHeader !== undefined ? Number(sizeHeader.trim()) : undefined,
    cond,
  });
  sendXml(ctx, 200, 'CompleteMultipartUploadResult', {
    Location: objectLocation(ctx, bucket, key),
    Bucket: bucket,
    Key: key,
    ETag: meta.etag,
    ...checksumElements(meta.checksums, Object.keys(meta.checksums ?? {}).filter((a) => a !== 'md5')),
    ChecksumType: Object.keys(meta.checksums ?? {}).some((a) => a !== 'md5') ? (meta.checksumType ?? 'FULL_OBJECT') : undefined,
  }, { ...sseHeaders(envelopeOf(meta)), ...expirationHeaders(ctx.objects.store.getBucket(bucket)?.config, meta) });
}

// ---- AbortMultipartUpload ----

export async function abortMultipartUpload(ctx: S3Context): Promise<void> {
  const { bucket, key } = target(ctx);
  await service(ctx).abort(bucket, key, uploadIdParam(ctx));
  sendEmpty(ctx, 204);
}

// ---- ListParts ----

export async function listParts(ctx: S3Context): Promise<void> {
  const { bucket, key } = target(ctx);
  const uploadId = uploadIdParam(ctx);
  const maxParts = maxParam(ctx, 'max-parts');
  const markerParam = ctx.target.query.get('part-number-marker');
  let marker = 0;
  if (markerParam !== null && markerParam !== '') {
    if (!/^\d+$/.test(markerParam) || !Number.isSafeInteger(Number(markerParam))) {
      throw new S3Error('InvalidArgument', 'Provided part-number-marker not an integer or within integer range', { ArgumentName: 'part-number-marker', ArgumentValue: markerParam });
    }
    marker = Number(markerParam);
  }
  const r = service(ctx).listParts(bucket, key, uploadId, { partNumberMarker: marker, maxParts });
  const algorithm = uploadAlgorithm(r.upload);
  sendXml(ctx, 200, 'ListPartsResult', {
    Bucket: bucket,
    Key: key,
    UploadId: uploadId,
    PartNumberMarker: marker,
    NextPartNumberMarker: r.nextPartNumberMarker ?? 0,
    MaxParts: maxParts,
    IsTruncated: r.isTruncated,
    Part: r.parts.map((p) => ({
      PartNumber: p.partNumber,
      LastModified: isoDate(p.lastModified),
      ETag: p.etag,
      Size: p.size,
      ...checksumElements(p.checksums, [algorithm]),
    })),
    Initiator: OWNER,
    Owner: OWNER,
    StorageClass: r.upload.meta.storageClass ?? 'STANDARD',
    ChecksumAlgorithm: algorithmName(algorithm),
    ChecksumType: uploadChecksumType(r.upload),
  });
}

// ---- ListMultipartUploads ----

export async function listMultipartUploads(ctx: S3Context): Promise<void> {
  const bucket = ctx.target.bucket!;
  const q = ctx.target.query;
  const encodingType = q.get('encoding-type') ?? undefined;
  if (encodingType !== undefined && encodingType !== 'url') {
    throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: encodingType });
  }
  const encode = encodingType === 'url' ? urlEncodeKey : (s: string) => s;
  const maxUploads = maxParam(ctx, 'max-uploads');
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') || undefined;
  const keyMarker = q.get('key-marker') ?? '';
  // upload-id-marker counts only together with key-marker.
  const uploadIdMarker = keyMarker !== '' ? (q.get('upload-id-marker') ?? '') : '';
  const r = service(ctx).listUploads(bucket, {
    prefix,
    delimiter,
    keyMarker: keyMarker || undefined,
    uploadIdMarker: uploadIdMarker || undefined,
    maxUploads,
  });
  const last = r.uploads[r.uploads.length - 1];
  const nextKey = r.isTruncated ? r.nextKeyMarker : last?.key;
  const nextId = r.isTruncated ? r.nextUploadIdMarker : last?.uploadId;
  sendXml(ctx, 200, 'ListMultipartUploadsResult', {
    Bucket: bucket,
    KeyMarker: encode(keyMarker),
    UploadIdMarker: uploadIdMarker,
    NextKeyMarker: nextKey !== undefined ? encode(nextKey) : '',
    NextUploadIdMarker: nextId ?? '',
    Delimiter: delimiter !== undefined ? encode(delimiter) : undefined,
    Prefix: encode(prefix),
    MaxUploads: maxUploads,
    EncodingType: encodingType,
    IsTruncated: r.isTruncated,
    Upload: r.uploads.map((u) => ({
      Key: encode(u.key),
      UploadId: u.uploadId,
      Initiator: OWNER,
      Owner: OWNER,
      StorageClass: u.meta.storageClass ?? 'STANDARD',
      Initiated: isoDate(u.initiated),
      ChecksumAlgorithm: u.checksumAlgorithm !== undefined ? algorithmName(u.checksumAlgorithm) : undefined,
      ChecksumType: u.checksumAlgorithm !== undefined ? uploadChecksumType(u) : undefined,
    })),
    CommonPrefixes: r.commonPrefixes.map((cp) => ({ Prefix: encode(cp) })),
  });
}
