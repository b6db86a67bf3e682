// The headers that describe a stored object, shared by GET, HEAD and the write responses.
import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectMeta } from '../store/types.js';
import { checksumHeader, type ChecksumAlgorithm } from './checksums.js';
import type { Headers } from './context.js';
import { S3Error } from './errors.js';
import type { ObjectEnvelope } from '../../kms/types.js';
import { isStoredEncryption } from '../service/crypto.js';
import { sseHeaders } from './sse.js';

const CONTENT_HEADERS = [
  ['content-type', 'contentType'],
  ['content-encoding', 'contentEncoding'],
  ['content-disposition', 'contentDisposition'],
  ['content-language', 'contentLanguage'],
  ['cache-control', 'cacheControl'],
  ['expires', 'expires'],
  ['x-amz-website-redirect-location', 'websiteRedirect'],
] as const;

const MAX_USER_META_BYTES = 2048;

function one(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** Content headers, user metadata and storage class that a PUT/COPY(REPLACE) request sets. */
export function metaFromRequest(h: IncomingHttpHeaders): Partial<ObjectMeta> {
  const meta: Partial<ObjectMeta> = { userMeta: {} };
  for (const [name, field] of CONTENT_HEADERS) {
    const v = one(h, name);
    if (v !== undefined) meta[field] = v;
  }
  let metaBytes = 0;
  for (const [name, value] of Object.entries(h)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const v = Array.isArray(value) ? value.join(',') : value;
    const k = name.slice('x-amz-meta-'.length);
    metaBytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    meta.userMeta![k] = v;
  }
  if (metaBytes > MAX_USER_META_BYTES) throw new S3Error('MetadataTooLarge', undefined, { Size: String(metaBytes), MaxSizeAllowed: String(MAX_USER_META_BYTES) });
  const sc = one(h, 'x-amz-storage-class');
  if (sc !== undefined) {
    if (sc !== 'STANDARD') throw new S3Error('InvalidStorageClass', undefined, { StorageClassRequested: sc });
    meta.storageClass = sc;
  }
  return meta;
}

/** The envelope that describes an object's encryption (a multipart object's parts share their settings). */
export function envelopeOf(meta: ObjectMeta): ObjectEnvelope | undefined {
  const e = meta.parts?.length ? meta.parts[0]!.encryption : meta.encryption;
  return isStoredEncryption(e) ? e.envelope : undefined;
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

export function checksumHeaders(meta: ObjectMeta): Headers {
  const out: Headers = {};
  for (const [algo, value] of Object.entries(meta.checksums ?? {})) {
    if (algo === 'md5') continue;
    out[checksumHeader(algo as ChecksumAlgorithm)] = value;
  }
  if (Object.keys(out).length) out['x-amz-checksum-type'] = meta.checksumType ?? 'FULL_OBJECT';
  return out;
}

export function objectHeaders(meta: ObjectMeta, withChecksums: boolean): Headers {
  const out: Headers = {
    'last-modified': httpDate(meta.lastModified),
    etag: meta.etag,
    'accept-ranges': 'bytes',
    'content-type': meta.contentType ?? 'binary/octet-stream',
  };
  for (const [name, field] of CONTENT_HEADERS) {
    if (name !== 'content-type' && meta[field] !== undefined) out[name] = meta[field] as string;
  }
  for (const [k, v] of Object.entries(meta.userMeta ?? {})) out[`x-amz-meta-${k}`] = v;
  if (meta.storageClass && meta.storageClass !== 'STANDARD') out['x-amz-storage-class'] = meta.storageClass;
  if (meta.parts && meta.parts.length > 0) out['x-amz-mp-parts-count'] = meta.parts.length;
  if (meta.tags && Object.keys(meta.tags).length > 0) out['x-amz-tagging-count'] = Object.keys(meta.tags).length;
  if (withChecksums) Object.assign(out, checksumHeaders(meta));
  Object.assign(out, sseHeaders(envelopeOf(meta)));
  return out;
}
