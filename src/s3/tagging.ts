// Object and bucket tags: the x-amz-tagging header (PutObject, CopyObject with
// x-amz-tagging-directive, CreateMultipartUpload), the <Tagging> document (Put*Tagging, the
// POST Object `tagging` field) and S3's limits, with the errors S3 answers:
//   - more than 10 tags on an object: BadRequest 400 "Object tags cannot be greater than 10"
//     (what S3 answers on the wire for the header and for PutObjectTagging; the error table's
//     InvalidTag is what it answers for the other faults below);
//   - an empty key, a key over 128 UTF-16 code units or with a character outside letters,
//     digits, white space and `_ . : / = + - @`: InvalidTag "The TagKey you have provided is invalid";
//   - a value over 256 code units or with such a character: InvalidTag "The TagValue you have provided is invalid";
//   - a key starting `aws:`: InvalidTag "Your TagKey cannot be prefixed with aws:";
//   - the same key twice in a document: InvalidTag "Cannot provide multiple Tags with the same key";
//   - a header that is not URL query parameters without duplicates (a pair with two `=`, bad
//     percent-encoding, a repeated key): InvalidArgument "The header 'x-amz-tagging' shall be
//     encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates."
// Sources: AWS user guide "Categorizing your storage using tags" (object-tagging.html: 10 tags,
// 128/256 Unicode characters counted in UTF-16), "Tagging best practices" (allowed characters),
// API_PutObject / API_CopyObject (x-amz-tagging, x-amz-tagging-directive COPY|REPLACE, default COPY),
// API_GetObject (x-amz-tagging-count); observed answers recorded in aws-cli#2841 and
// terraform-provider-aws#19895/#41747.
import type { IncomingHttpHeaders } from 'node:http';
import { element, malformed, many, onlyChildren, single, text, type XmlNode } from './config-doc.js';
import { S3Error } from './errors.js';

export type TagSet = Record<string, string>;

export const MAX_OBJECT_TAGS = 10;
export const MAX_BUCKET_TAGS = 50;
const MAX_KEY_LENGTH = 128;
const MAX_VALUE_LENGTH = 256;
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

const HEADER_MESSAGE = "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.";

function badHeader(): S3Error {
  return new S3Error('InvalidArgument', HEADER_MESSAGE, { ArgumentName: 'x-amz-tagging' });
}

/** Checks one tag against S3's limits (InvalidTag). */
export function checkTag(key: string, value: string): void {
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || !TAG_CHARS.test(key)) {
    throw new S3Error('InvalidTag', 'The TagKey you have provided is invalid');
  }
  if (key.startsWith('aws:')) throw new S3Error('InvalidTag', 'Your TagKey cannot be prefixed with aws:');
  if (value.length > MAX_VALUE_LENGTH || !TAG_CHARS.test(value)) {
    throw new S3Error('InvalidTag', 'The TagValue you have provided is invalid');
  }
}

function checkCount(n: number, max: number): void {
  if (n <= max) return;
  if (max === MAX_OBJECT_TAGS) throw new S3Error('BadRequest', 'Object tags cannot be greater than 10');
  throw new S3Error('BadRequest', `Bucket tag count cannot be greater than ${max}`);
}

function decodeComponent(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    throw badHeader();
  }
}

/** `k1=v1&k2=v2` (form-encoded: `+` is a space; a key without `=` has the empty value) → tags. */
export function parseTaggingQuery(value: string): TagSet {
  const tags: TagSet = {};
  let n = 0;
  for (const piece of value.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    if (eq !== -1 && piece.indexOf('=', eq + 1) !== -1) throw badHeader();
    const key = decodeComponent(eq === -1 ? piece : piece.slice(0, eq));
    const val = eq === -1 ? '' : decodeComponent(piece.slice(eq + 1));
    if (Object.prototype.hasOwnProperty.call(tags, key)) throw badHeader();
    tags[key] = val;
    n++;
  }
  checkCount(n, MAX_OBJECT_TAGS);
  for (const [k, v] of Object.entries(tags)) checkTag(k, v);
  return tags;
}

/**
 * The tags an `x-amz-tagging` header sets, validated; undefined when the request has none.
 * CreateMultipartUpload stores them with the upload's metadata (`meta.tags`), so the completed
 * object carries them.
 */
export function parseTaggingHeader(headers: IncomingHttpHeaders): TagSet | undefined {
  const raw = headers['x-amz-tagging'];
  if (raw === undefined) return undefined;
  return parseTaggingQuery(Array.isArray(raw) ? raw.join('&') : raw);
}

/** x-amz-tagging-directive of CopyObject: COPY (the default) keeps the source's tags. */
export function taggingDirective(headers: IncomingHttpHeaders): 'COPY' | 'REPLACE' {
  const raw = headers['x-amz-tagging-directive'];
  if (raw === undefined) return 'COPY';
  const v = String(raw);
  if (v === 'COPY' || v === 'REPLACE') return v;
  throw new S3Error('InvalidArgument', 'Unknown tagging directive.', { ArgumentName: 'x-amz-tagging-directive', ArgumentValue: v });
}

/** The <Tagging> document's content (root already stripped) → tags, validated against `max`. */
export function tagsFromDocument(root: XmlNode, max: number): TagSet {
  onlyChildren(root, ['TagSet']);
  const setNode = single(root, 'TagSet');
  if (setNode === undefined) throw malformed();
  const tagSet = element(setNode);
  onlyChildren(tagSet, ['Tag']);
  const list = many(tagSet, 'Tag').map((t) => {
    const tag = element(t);
    onlyChildren(tag, ['Key', 'Value']);
    const key = text(tag, 'Key');
    const value = text(tag, 'Value');
    if (key === undefined || value === undefined) throw malformed();
    return { key, value };
  });
  checkCount(list.length, max);
  const tags: TagSet = {};
  for (const { key, value } of list) {
    if (Object.prototype.hasOwnProperty.call(tags, key)) throw new S3Error('InvalidTag', 'Cannot provide multiple Tags with the same key');
    checkTag(key, value);
    tags[key] = value;
  }
  return tags;
}

/** The <Tagging> body of GetObjectTagging / GetBucketTagging, keys in order. */
export function taggingBody(tags: TagSet | undefined): Record<string, unknown> {
  const keys = Object.keys(tags ?? {}).sort();
  return { TagSet: { Tag: keys.map((k) => ({ Key: k, Value: tags![k] })) } };
}

export function tagCount(tags: TagSet | undefined): number {
  return tags ? Object.keys(tags).length : 0;
}
