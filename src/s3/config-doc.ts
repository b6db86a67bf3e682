// Reading the XML documents of the configuration operations (tagging, lifecycle, CORS) strictly,
// as S3 validates them against its schema: a duplicated singleton, an unknown element or text
// where children belong is MalformedXML. parseXml (xml.ts) gives `''` for an empty element,
// an array for a repeated one, and keeps layout whitespace as '#text'.
import { parseChecksumHeaders, trailerNames } from './checksums.js';
import { readSmallBody } from './body.js';
import type { S3Context } from './context.js';
import { S3Error } from './errors.js';
import { parseXml } from './xml.js';

export type XmlNode = Record<string, unknown>;

export function malformed(): S3Error {
  return new S3Error('MalformedXML');
}

/**
 * S3 requires an integrity check on configuration PUTs (botocore marks PutBucketCors,
 * PutBucketLifecycleConfiguration, PutObjectTagging and PutBucketTagging
 * `requestChecksumRequired`): Content-MD5 or a flexible checksum, which readSmallBody verifies.
 */
export function requireIntegrityHeader(ctx: S3Context): void {
  const expected = parseChecksumHeaders(ctx.req.headers, trailerNames(ctx.req.headers));
  if (expected.algorithm === undefined && expected.md5 === undefined) {
    throw new S3Error('InvalidRequest', 'Missing required header for this request: Content-MD5');
  }
}

/** Reads and parses a configuration document; returns the root element's content. */
export async function readConfigDocument(ctx: S3Context, root: string | string[], limit = 64 * 1024): Promise<XmlNode> {
  requireIntegrityHeader(ctx);
  const { data } = await readSmallBody(ctx, limit);
  return documentRoot(parseXml(data), root);
}

/** The content of the document's root element, which must be one of `roots`. */
export function documentRoot(doc: Record<string, unknown>, roots: string | string[]): XmlNode {
  const names = Array.isArray(roots) ? roots : [roots];
  const keys = Object.keys(doc).filter((k) => k !== '?xml' && !(k === '#text' && isBlank(doc[k])));
  if (keys.length !== 1 || !names.includes(keys[0]!)) throw malformed();
  return element(doc[keys[0]!]);
}

function isBlank(v: unknown): boolean {
  return typeof v === 'string' && v.trim() === '';
}

/** An element that holds children (an empty one is `{}`); layout whitespace is dropped. */
export function element(v: unknown): XmlNode {
  if (typeof v === 'string') {
    if (v.trim() !== '') throw malformed();
    return {};
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed();
  const o = v as XmlNode;
  if ('#text' in o) {
    if (!isBlank(o['#text'])) throw malformed();
    const { '#text': _, ...rest } = o;
    return rest;
  }
  return o;
}

/** Refuses children other than `allowed`. */
export function onlyChildren(node: XmlNode, allowed: readonly string[]): void {
  for (const k of Object.keys(node)) if (!allowed.includes(k)) throw malformed();
}

/** A child that may appear at most once: undefined when absent. */
export function single(node: XmlNode, name: string): unknown {
  const v = node[name];
  if (Array.isArray(v)) {
    if (v.length === 1) return v[0];
    throw malformed();
  }
  return v;
}

/** A repeated child, as a list (parseXml makes some names arrays always, others only when repeated). */
export function many(node: XmlNode, name: string): unknown[] {
  const v = node[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/** The text of a leaf child (undefined when absent); an element with children is MalformedXML. */
export function text(node: XmlNode, name: string): string | undefined {
  const v = single(node, name);
  if (v === undefined) return undefined;
  return leafText(v);
}

export function leafText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) return '';
  throw malformed();
}

/** An xs:int / xs:long child: digits with an optional sign, surrounding whitespace allowed. */
export function integer(node: XmlNode, name: string): number | undefined {
  const t = text(node, name);
  if (t === undefined) return undefined;
  const s = t.trim();
  if (!/^[+-]?\d{1,16}$/.test(s)) throw malformed();
  return Number(s);
}

/** An xs:boolean child. */
export function boolean(node: XmlNode, name: string): boolean | undefined {
  const t = text(node, name);
  if (t === undefined) return undefined;
  const s = t.trim();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw malformed();
}
