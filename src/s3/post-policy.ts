// The POST policy of a browser upload (POST Object): its document, its conditions and which
// form fields they must cover. Pure: the handler (ops/post-object.ts) checks the signature over
// the policy text first, then calls these.
//
// Sources: developer guide sigv4-HTTPPOSTConstructPolicy ("POST Policy": expiration, conditions,
// eq / starts-with / content-length-range, the Content-Type list rule, the fields every
// condition may name) and sigv4-HTTPPOSTForms (every field but x-amz-signature, file, policy and
// x-ignore-* must be covered; `${filename}`); S3's answers as recorded by LocalStack's
// AWS-validated presigned-POST tests and in public issue trackers:
//   - a policy that does not decode or parse: InvalidPolicyDocument 400 "Invalid Policy: ...";
//   - expired: AccessDenied 403 "Invalid according to Policy: Policy expired.";
//   - a condition that fails (also on an absent field): AccessDenied 403 "Invalid according to
//     Policy: Policy Condition failed: [\"eq\", \"$key\", \"x\"]";
//   - a field no condition covers: AccessDenied 403 "Invalid according to Policy: Extra input fields: <name>".
// Field and condition names are case-insensitive; values are compared case-sensitively.
import { S3Error } from './errors.js';

export interface FieldCondition {
  op: 'eq' | 'starts-with';
  /** Lower-case field name without the `$`; undefined when the policy wrote no `$` (never matches). */
  field: string | undefined;
  value: string;
  display: string;
}

export interface RangeCondition {
  op: 'content-length-range';
  /** Undefined bounds: operands that are not integers (the condition then fails). */
  min: number | undefined;
  max: number | undefined;
  display: string;
}

export type PolicyCondition = FieldCondition | RangeCondition;

export interface PostPolicy {
  expiration: number;
  conditions: PolicyCondition[];
}

function invalidPolicy(detail: string): S3Error {
  return new S3Error('InvalidPolicyDocument', `Invalid Policy: ${detail}`);
}

function denied(detail: string): S3Error {
  return new S3Error('AccessDenied', `Invalid according to Policy: ${detail}`);
}

/** A condition as S3 prints it in an error: `["eq", "$key", "value"]`. */
function display(items: unknown[]): string {
  return `[${items.map((i) => JSON.stringify(i)).join(', ')}]`;
}

const EXPIRATION = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/;

function fieldOf(spec: string): string | undefined {
  return spec.startsWith('$') ? spec.slice(1).toLowerCase() : undefined;
}

function bound(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'string' && /^\s*\d{1,15}\s*$/.test(v)) return Number(v);
  return undefined;
}

function parseCondition(c: unknown): PolicyCondition {
  if (Array.isArray(c)) {
    if (c.length === 0) throw invalidPolicy('Invalid Condition: missing operation identifier.');
    if (typeof c[0] !== 'string') throw invalidPolicy('Invalid JSON.');
    const op = c[0].toLowerCase();
    if (op !== 'eq' && op !== 'starts-with' && op !== 'content-length-range') throw invalidPolicy(`Invalid Condition: unknown operation '${c[0]}'.`);
    if (c.length !== 3) throw invalidPolicy(`Invalid ${c[0]}: wrong number of arguments.`);
    if (op === 'content-length-range') {
      const min = bound(c[1]);
      const max = bound(c[2]);
      if ((typeof c[1] === 'number' && (c[1] < 0 || !Number.isInteger(c[1]))) || (typeof c[2] === 'number' && (c[2] < 0 || !Number.isInteger(c[2])))) {
        throw invalidPolicy('Invalid content-length-range: the bounds must be non-negative integers.');
      }
      return { op, min, max, display: display(c) };
    }
    if (typeof c[1] !== 'string' || typeof c[2] !== 'string') throw invalidPolicy('Invalid JSON.');
    return { op, field: fieldOf(c[1]), value: c[2], display: display(c) };
  }
  if (c !== null && typeof c === 'object') {
    const entries = Object.entries(c);
    if (entries.length !== 1) throw invalidPolicy('Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.');
    const [name, value] = entries[0]!;
    if (value === null) throw invalidPolicy('Invalid JSON.');
    if (typeof value !== 'string') throw invalidPolicy('Invalid Simple-Condition: value must be a string.');
    return { op: 'eq', field: name.toLowerCase(), value, display: display(['eq', `$${name}`, value]) };
  }
  throw invalidPolicy('Invalid condition test: must be a List or Object.');
}

/** The base64 policy field → the policy (InvalidPolicyDocument for anything S3 would not read). */
export function decodePolicy(base64: string): PostPolicy {
  const compact = base64.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) throw invalidPolicy('invalid Base64 encoding.');
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(compact, 'base64').toString('utf8'));
  } catch {
    throw invalidPolicy('Invalid JSON.');
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw invalidPolicy('Invalid JSON.');
  const o = doc as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'expiration' && k !== 'conditions') throw invalidPolicy(`Unexpected: '${k.toLowerCase()}'`);
  }
  if (o.expiration === undefined) throw invalidPolicy('Policy missing expiration.');
  if (o.conditions === undefined) throw invalidPolicy('Policy missing conditions.');
  const exp = typeof o.expiration === 'string' && EXPIRATION.test(o.expiration) ? Date.parse(o.expiration) : NaN;
  if (Number.isNaN(exp)) throw invalidPolicy(`Invalid 'expiration' value: '${String(o.expiration)}'`);
  if (!Array.isArray(o.conditions)) throw invalidPolicy("Invalid 'conditions' value: must be a List.");
  return { expiration: exp, conditions: o.conditions.map(parseCondition) };
}

export interface PolicyInput {
  /** The bucket the form was posted to (what `$bucket` names). */
  bucket: string;
  /** Form fields by lower-case name, `${filename}` already expanded. */
  fields: ReadonlyMap<string, string>;
  now: number;
}

/** The size bounds the policy puts on the file (inclusive). */
export interface SizeRange {
  min: number;
  max: number;
}

function matches(c: FieldCondition, input: PolicyInput): boolean {
  if (c.field === undefined) return false;
  const actual = c.field === 'bucket' ? input.bucket : input.fields.get(c.field);
  if (actual === undefined) return false;
  if (c.op === 'eq') return actual === c.value;
  // "Content-Types values for a starts-with condition that include commas are interpreted as lists."
  if (c.field === 'content-type') return actual.split(',').every((v) => v.trimStart().startsWith(c.value));
  return actual.startsWith(c.value);
}

/** Expiration, then every condition in order; returns the content-length-range, if any. */
export function checkPolicy(policy: PostPolicy, input: PolicyInput): SizeRange | undefined {
  if (input.now > policy.expiration) throw denied('Policy expired.');
  let range: SizeRange | undefined;
  for (const c of policy.conditions) {
    if (c.op === 'content-length-range') {
      if (c.min === undefined || c.max === undefined) throw denied(`Policy Condition failed: ${c.display}`);
      range = range ? { min: Math.max(range.min, c.min), max: Math.min(range.max, c.max) } : { min: c.min, max: c.max };
    } else if (!matches(c, input)) {
      throw denied(`Policy Condition failed: ${c.display}`);
    }
  }
  return range;
}

/** Fields that need no condition. */
export function isExemptField(lowerName: string): boolean {
  return lowerName === 'x-amz-signature' || lowerName === 'file' || lowerName === 'policy' || lowerName.startsWith('x-ignore-');
}

/** Every form field (names as sent) must be named by a condition, but the exempt ones. */
export function checkCoverage(policy: PostPolicy, fieldNames: readonly string[]): void {
  const covered = new Set<string>();
  for (const c of policy.conditions) if (c.op !== 'content-length-range' && c.field !== undefined) covered.add(c.field);
  for (const name of fieldNames) {
    const lower = name.toLowerCase();
    if (!isExemptField(lower) && !covered.has(lower)) throw denied(`Extra input fields: ${name}`);
  }
}
