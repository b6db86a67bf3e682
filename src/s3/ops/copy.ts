// CopyObject: COPY keeps the source's metadata, REPLACE takes the request's.
import { sendXml, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { envelopeOf, metaFromRequest } from '../object-headers.js';
import { parseSseRequest, sseHeaders } from '../sse.js';
import { checkCopySourceConditions, writeConditions } from '../preconditions.js';
import { expirationHeaders } from '../lifecycle.js';
import { isoDate } from '../xml.js';
import { parseTaggingHeader, tagCount, taggingDirective } from '../tagging.js';
import type { ObjectMeta } from '../../store/types.js';

export function parseCopySource(value: string): { bucket: string; key: string } {
  let v = value;
  const q = v.indexOf('?');
  if (q !== -1) {
    const params = new URLSearchParams(v.slice(q + 1));
    const version = params.get('versionId');
    if (version !== null && version !== 'null') throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId' });
    v = v.slice(0, q);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(v);
  } catch {
    throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source' });
  }
  if (decoded.startsWith('/')) decoded = decoded.slice(1);
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new S3Error('InvalidArgument', 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', { ArgumentName: 'x-amz-copy-source' });
  }
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

export async function copyObject(ctx: S3Context): Promise<void> {
  const { bucket, key } = ctx.target as { bucket: string; key: string };
  const src = parseCopySource(String(ctx.req.headers['x-amz-copy-source']));
  const directive = String(ctx.req.headers['x-amz-metadata-directive'] ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw new S3Error('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive', ArgumentValue: directive });
  }
  const requested = metaFromRequest(ctx.req.headers);
  if (src.bucket === bucket && src.key === key && directive === 'COPY' && requested.storageClass === undefined && ctx.req.headers['x-amz-server-side-encryption'] === undefined) {
    throw new S3Error('InvalidRequest', "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.");
  }
  const dstMeta: Partial<ObjectMeta> = directive === 'REPLACE'
    ? { contentType: undefined, contentEncoding: undefined, contentDisposition: undefined, contentLanguage: undefined, cacheControl: undefined, expires: undefined, websiteRedirect: undefined, ...requested }
    : requested.storageClass ? { storageClass: requested.storageClass } : {};
  // x-amz-tagging-directive: COPY (default) keeps the source's tags, REPLACE takes x-amz-tagging (or none).
  if (taggingDirective(ctx.req.headers) === 'REPLACE') {
    const tags = parseTaggingHeader(ctx.req.headers);
    dstMeta.tags = tagCount(tags) > 0 ? tags : undefined;
  }
  const sse = parseSseRequest(ctx.req.headers);
  const stored = await ctx.objects.copy(src, { bucket, key, meta: dstMeta, sse }, (m) => checkCopySourceConditions(ctx.req.headers, m), writeConditions(ctx.req.headers));
  const checksums: Record<string, string> = {};
  for (const [a, v] of Object.entries(stored.checksums ?? {})) if (a !== 'md5') checksums[`Checksum${a.toUpperCase()}`] = v;
  sendXml(ctx, 200, 'CopyObjectResult', { LastModified: isoDate(stored.lastModified), ETag: stored.etag, ...checksums }, { ...sseHeaders(envelopeOf(stored)), ...expirationHeaders(ctx.objects.store.getBucket(bucket)?.config, stored) });
}
