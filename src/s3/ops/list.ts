// ListObjectsV2 and ListObjects (V1): one store listing, two answer shapes.
import { sendXml, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { isoDate } from '../xml.js';
import { OWNER } from './bucket.js';
import type { ObjectMeta } from '../../store/types.js';

/** S3's encoding-type=url: what clients decode with unquote_plus / URLDecoder. */
export function urlEncodeKey(s: string): string {
  return encodeURIComponent(s).replace(/%2F/g, '/').replace(/%20/g, '+').replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

interface ListParams {
  prefix: string;
  delimiter?: string;
  maxKeys: number;
  encode: (s: string) => string;
  encodingType?: string;
}

function commonParams(ctx: S3Context): ListParams {
  const q = ctx.target.query;
  const encodingType = q.get('encoding-type') ?? undefined;
  if (encodingType !== undefined && encodingType !== 'url') {
    throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: encodingType });
  }
  const mk = q.get('max-keys');
  let maxKeys = 1000;
  if (mk !== null) {
    if (!/^\d+$/.test(mk)) throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', { ArgumentName: 'max-keys', ArgumentValue: mk });
    maxKeys = Math.min(1000, Number(mk));
  }
  const delimiter = q.get('delimiter') || undefined;
  return { prefix: q.get('prefix') ?? '', delimiter, maxKeys, encodingType, encode: encodingType === 'url' ? urlEncodeKey : (s) => s };
}

function contents(items: ObjectMeta[], p: ListParams, owner: boolean) {
  return items.map((m) => {
    const algos = Object.keys(m.checksums ?? {}).filter((a) => a !== 'md5');
    return {
      Key: p.encode(m.key),
      LastModified: isoDate(m.lastModified),
      ETag: m.etag,
      ChecksumAlgorithm: algos.length ? algos.map((a) => a.toUpperCase()) : undefined,
      ChecksumType: algos.length ? (m.checksumType ?? 'FULL_OBJECT') : undefined,
      Size: m.size,
      Owner: owner ? OWNER : undefined,
      StorageClass: m.storageClass ?? 'STANDARD',
    };
  });
}

function encodeToken(key: string): string {
  return Buffer.from(key, 'utf8').toString('base64url');
}

function decodeToken(token: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token' });
  return Buffer.from(token, 'base64url').toString('utf8');
}

export async function listObjectsV2(ctx: S3Context): Promise<void> {
  const bucket = ctx.target.bucket!;
  ctx.objects.requireBucket(bucket);
  const q = ctx.target.query;
  const p = commonParams(ctx);
  const token = q.get('continuation-token') ?? undefined;
  const startAfter = q.get('start-after') ?? undefined;
  const after = token !== undefined ? decodeToken(token) : startAfter;
  const r = ctx.objects.store.list(bucket, { prefix: p.prefix, delimiter: p.delimiter, after, maxKeys: p.maxKeys });
  sendXml(ctx, 200, 'ListBucketResult', {
    Name: bucket,
    Prefix: p.encode(p.prefix),
    Delimiter: p.delimiter !== undefined ? p.encode(p.delimiter) : undefined,
    MaxKeys: p.maxKeys,
    EncodingType: p.encodingType,
    KeyCount: r.contents.length + r.commonPrefixes.length,
    IsTruncated: r.isTruncated,
    ContinuationToken: token,
    NextContinuationToken: r.isTruncated && r.nextAfter !== undefined ? encodeToken(r.nextAfter) : undefined,
    StartAfter: startAfter !== undefined ? p.encode(startAfter) : undefined,
    Contents: contents(r.contents, p, q.get('fetch-owner') === 'true'),
    CommonPrefixes: r.commonPrefixes.map((cp) => ({ Prefix: p.encode(cp) })),
  });
}

export async function listObjectsV1(ctx: S3Context): Promise<void> {
  const bucket = ctx.target.bucket!;
  ctx.objects.requireBucket(bucket);
  const p = commonParams(ctx);
  const marker = ctx.target.query.get('marker') ?? '';
  const r = ctx.objects.store.list(bucket, { prefix: p.prefix, delimiter: p.delimiter, after: marker || undefined, maxKeys: p.maxKeys });
  sendXml(ctx, 200, 'ListBucketResult', {
    Name: bucket,
    Prefix: p.encode(p.prefix),
    Marker: p.encode(marker),
    // S3 sends NextMarker only with a delimiter; without one the client uses the last key.
    NextMarker: r.isTruncated && p.delimiter !== undefined && r.nextAfter !== undefined ? p.encode(r.nextAfter) : undefined,
    MaxKeys: p.maxKeys,
    Delimiter: p.delimiter !== undefined ? p.encode(p.delimiter) : undefined,
    EncodingType: p.encodingType,
    IsTruncated: r.isTruncated,
    Contents: contents(r.contents, p, true),
    CommonPrefixes: r.commonPrefixes.map((cp) => ({ Prefix: p.encode(cp) })),
  });
}
