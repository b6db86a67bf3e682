// GetObject and HeadObject: preconditions, ranges, response overrides, checksum mode.
import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectMeta } from '../../store/types.js';
import { sendHead, sendStream, type Headers, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { expirationHeaders } from '../lifecycle.js';
import { httpDate, objectHeaders } from '../object-headers.js';
import { checkReadConditions } from '../preconditions.js';
import { parsePartNumber } from './multipart.js';

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
  Object.assign(h, expirationHeaders(ctx.objects.store.getBucket(ctx.target.bucket!)?.config, meta));
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

/** The bytes a GET/HEAD answers with: the whole object, a Range, or one part (?partNumber=N). */
interface Selection {
  start: number;
  /** Inclusive; start - 1 when empty. */
  end: number;
  /** 206 with Content-Range. */
  partial: boolean;
}

/**
 * ?partNumber=N reads part N of a multipart object as a ranged GET would (206, Content-Range,
 * x-amz-mp-parts-count); on an object uploaded in one piece only part 1 exists, the whole object.
 * A part number beyond the object's parts is InvalidPartNumber (416); with a Range header too,
 * InvalidRequest.
 */
function select(ctx: S3Context, meta: ObjectMeta): Selection {
  const partParam = ctx.target.query.get('partNumber');
  if (partParam !== null) {
    const n = parsePartNumber(partParam);
    if (ctx.req.headers.range !== undefined) throw new S3Error('InvalidRequest', 'Cannot specify both Range header and partNumber query parameter');
    const parts = meta.parts ?? [];
    const count = parts.length > 0 ? parts.length : 1;
    if (n > count) {
      throw new S3Error('InvalidPartNumber', undefined, { PartNumberRequested: String(n), ActualPartCount: String(count) });
    }
    if (parts.length === 0) return { start: 0, end: meta.size - 1, partial: false };
    let offset = 0;
    for (let i = 0; i < n - 1; i++) offset += parts[i]!.size;
    return { start: offset, end: offset + parts[n - 1]!.size - 1, partial: true };
  }
  const range = parseRange(ctx.req.headers.range, meta.size);
  return range ? { start: range.start, end: range.end, partial: true } : { start: 0, end: meta.size - 1, partial: false };
}

function selectionHeaders(ctx: S3Context, meta: ObjectMeta, sel: Selection): Headers {
  const headers = responseHeaders(ctx, meta, !sel.partial);
  // AWS: x-amz-mp-parts-count "is only returned if you specify partNumber in your request".
  if (ctx.target.query.get('partNumber') === null) delete headers['x-amz-mp-parts-count'];
  const length = Math.max(0, sel.end - sel.start + 1);
  headers['content-length'] = length;
  if (sel.partial && length > 0) headers['content-range'] = `bytes ${sel.start}-${sel.end}/${meta.size}`;
  return headers;
}

export async function headObject(ctx: S3Context): Promise<void> {
  const { bucket, key } = ctx.target as { bucket: string; key: string };
  const meta = ctx.objects.head(bucket, key);
  conditions(ctx.req.headers, meta);
  const sel = select(ctx, meta);
  sendHead(ctx, sel.partial ? 206 : 200, selectionHeaders(ctx, meta, sel));
}

export async function getObject(ctx: S3Context): Promise<void> {
  const { bucket, key } = ctx.target as { bucket: string; key: string };
  const opened = await ctx.objects.open(bucket, key);
  const { meta } = opened;
  try {
    conditions(ctx.req.headers, meta);
    const sel = select(ctx, meta);
    const headers = selectionHeaders(ctx, meta, sel);
    if (sel.end < sel.start) {
      sendHead(ctx, sel.partial ? 206 : 200, headers);
      return;
    }
    await sendStream(ctx, sel.partial ? 206 : 200, headers, ctx.objects.readRange(opened, sel.start, sel.end));
  } finally {
    await Promise.all(opened.handles.map((h) => h.close().catch(() => {})));
  }
}
