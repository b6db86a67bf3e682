// Conditional requests (RFC 7232 precedence, as S3 applies it): If-Match before
// If-Unmodified-Since, If-None-Match before If-Modified-Since.
import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectMeta } from '../store/types.js';
import { S3Error } from './errors.js';

function one(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function stripQuotes(e: string): string {
  const t = e.trim().replace(/^W\//, '');
  return t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1) : t;
}

export function etagMatches(list: string, etag: string): boolean {
  const want = stripQuotes(etag);
  return list.split(',').some((e) => e.trim() === '*' || stripQuotes(e) === want);
}

function parseDate(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** HTTP dates have one-second resolution, so compare at that resolution. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}

export function checkReadConditions(h: IncomingHttpHeaders, meta: ObjectMeta, notModifiedHeaders: Record<string, string>): void {
  const ifMatch = one(h, 'if-match');
  const ifNoneMatch = one(h, 'if-none-match');
  const ifUnmodified = parseDate(one(h, 'if-unmodified-since'));
  const ifModified = parseDate(one(h, 'if-modified-since'));
  const mtime = seconds(meta.lastModified);
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, meta.etag)) throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Match' });
  } else if (ifUnmodified !== undefined && mtime > seconds(ifUnmodified)) {
    throw new S3Error('PreconditionFailed', undefined, { Condition: 'If-Unmodified-Since' });
  }
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, meta.etag)) throw new S3Error('NotModified', undefined, {}, notModifiedHeaders);
  } else if (ifModified !== undefined && mtime <= seconds(ifModified)) {
    throw new S3Error('NotModified', undefined, {}, notModifiedHeaders);
  }
}

/** x-amz-copy-source-if-*: every failed condition is a 412. */
export function checkCopySourceConditions(h: IncomingHttpHeaders, meta: ObjectMeta): void {
  const ifMatch = one(h, 'x-amz-copy-source-if-match');
  const ifNoneMatch = one(h, 'x-amz-copy-source-if-none-match');
  const ifUnmodified = parseDate(one(h, 'x-amz-copy-source-if-unmodified-since'));
  const ifModified = parseDate(one(h, 'x-amz-copy-source-if-modified-since'));
  const mtime = seconds(meta.lastModified);
  const fail = (c: string) => new S3Error('PreconditionFailed', undefined, { Condition: c });
  if (ifMatch !== undefined) {
    if (!etagMatches(ifMatch, meta.etag)) throw fail('x-amz-copy-source-If-Match');
  } else if (ifUnmodified !== undefined && mtime > seconds(ifUnmodified)) {
    throw fail('x-amz-copy-source-If-Unmodified-Since');
  }
  if (ifNoneMatch !== undefined) {
    if (etagMatches(ifNoneMatch, meta.etag)) throw fail('x-amz-copy-source-If-None-Match');
  } else if (ifModified !== undefined && mtime <= seconds(ifModified)) {
    throw fail('x-amz-copy-source-If-Modified-Since');
  }
}

/** If-None-Match: * / If-Match on writes; anything else in If-None-Match is not supported by S3. */
export function writeConditions(h: IncomingHttpHeaders): { ifNoneMatch?: boolean; ifMatch?: string } | undefined {
  const inm = one(h, 'if-none-match');
  const im = one(h, 'if-match');
  if (inm === undefined && im === undefined) return undefined;
  if (inm !== undefined && inm.trim() !== '*') throw new S3Error('NotImplemented', 'A header you provided implies functionality that is not implemented', { Header: 'If-None-Match' });
  return { ifNoneMatch: inm !== undefined ? true : undefined, ifMatch: im };
}
