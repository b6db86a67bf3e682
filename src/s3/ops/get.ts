// GetObject and HeadObject: preconditions, ranges, response overrides, checksum mode.
import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectMeta } from '../../store/types.js';
import { sendHead, sendStream, type Headers, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { httpDate, objectHeaders } from '../object-headers.js';
import { checkReadConditions } from '../preconditions.js';

export interface ByteRange { start: number; end: number } // inclusive

/**
 * `bytes=a-b`, `bytes=a-`, `bytes=-n`. A header that is not a single byte range is ignored
 * (HTTP says so, and S3 does it); a range that cannot be satisfied is InvalidRange.
 */
export function parseRange(value: string | undefined, size: number): ByteRange | undefined {
  if (value === undefined) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const invalid = () => new S3Error('InvalidRange', undefined, { RangeRequested: value, ActualObjectSize: String(size) }, { 'content-range': `bytes */${size}` });
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) throw invalid();
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (m[2] !== '' && Number(m[2]) < start) return undefined;
  if (start >= size) throw invalid();
  return { start, end };
}

const OVERRIDES = [
  ['response-content-type', 'content-type'],
  ['response-content-language', 'content-language'],
  ['response-expires', 'expires'],
  ['response-cache-control', 'cache-control'],
  ['response-content-disposition', 'content-disposition'],
  ['response-content-encoding', 'content-encoding'],
] as const;

function responseHeaders(ctx: S3Context, meta: ObjectMeta, full: boolean): Headers {
  const h = objectHeaders(meta, full && ctx.req.headers['x-amz-checksum-mode'] === 'ENABLED');
  for (const [param, header] of OVERRIDES) {
    const v = ctx.target.query.get(param);
    if (v !== null) h[header] = v;
  }
  return h;
}

function notModifiedHeaders(meta: ObjectMeta): Record<string, string> {
  return { etag: meta.etag, 'last-modified': httpDate(meta.lastModified) };
}

function conditions(h: IncomingHttpHeaders, meta: ObjectMeta): void {
  checkReadConditions(h, meta, notModifiedHeaders(meta));
}

export async function headObject(ctx: S3Context): Promise<void> {
  const { bucket, key } = ctx.target as { bucket: string; key: string };
  const meta = ctx.objects.head(bucket, key);
  conditions(ctx.req.headers, meta);
  const range = parseRange(ctx.req.headers.range, meta.size);
  const headers = responseHeaders(ctx, meta, range === undefined);
  if (range) {
    headers['content-range'] = `bytes ${range.start}-${range.end}/${meta.size}`;
    headers['content-length'] = range.end - range.start + 1;
    sendHead(ctx, 206, headers);
  } else {
    headers['content-length'] = meta.size;
    sendHead(ctx, 200, headers);
  }
}

export async function getObject(ctx: S3Context): Promise<void> {
  const { bucket, key } = ctx.target as { bucket: string; key: string };
  const opened = await ctx.objects.open(bucket, key);
  const { meta } = opened;
  try {
    conditions(ctx.req.headers, meta);
    const range = parseRange(ctx.req.headers.range, meta.size);
    const headers = responseHeaders(ctx, meta, range === undefined);
    const start = range?.start ?? 0;
    const end = range?.end ?? meta.size - 1;
    headers['content-length'] = meta.size === 0 ? 0 : end - start + 1;
    if (range) headers['content-range'] = `bytes ${start}-${end}/${meta.size}`;
    if (meta.size === 0) {
      sendHead(ctx, 200, headers);
      return;
    }
    await sendStream(ctx, range ? 206 : 200, headers, ctx.objects.readRange(opened, start, end));
  } finally {
    await Promise.all(opened.handles.map((h) => h.close().catch(() => {})));
  }
}

