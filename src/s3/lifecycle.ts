// Bucket lifecycle configuration: the <LifecycleConfiguration> document (validated as S3 does,
// kept as sent, given back by GetBucketLifecycleConfiguration) and the two actions this server
// carries out, through the pure functions at the end that the sweep calls:
// AbortIncompleteMultipartUpload (lifecycleAbortRuleFor / lifecycleAbortAgeFor /
// lifecycleAbortDateFor) and Expiration by Days or Date (lifecycleExpirationFor, also the
// x-amz-expiration response header). Transitions (there is one storage class) and the
// noncurrent-version actions (there is no versioning) are stored and returned only.
//
// Validation, with S3's answers (AWS API reference: API_PutBucketLifecycleConfiguration,
// API_LifecycleRule, API_LifecycleRuleFilter, API_LifecycleRuleAndOperator,
// API_LifecycleExpiration, API_AbortIncompleteMultipartUpload, API_Transition,
// API_NoncurrentVersionExpiration; user guide intro-lifecycle-rules / intro-lifecycle-filters;
// error table ErrorResponses; answers recorded against S3 by LocalStack's validated tests and in
// public issue trackers):
//   - not the schema (unknown element, repeated singleton, no rule, no Status, Status other than
//     Enabled|Disabled, neither Filter nor Prefix, two predicates in a Filter, an And with fewer
//     than two, ExpiredObjectDeleteMarker with Days or Date, an empty action, a non-integer):
//     MalformedXML;
//   - more than 1000 rules: InvalidRequest "The number of lifecycle rules must not exceed the allowed limit of 1000 rules.";
//   - a rule with no action: InvalidRequest "At least one action needs to be specified in a rule";
//   - ID over 255 characters: InvalidArgument "ID length should not exceed allowed limit of 255";
//     two rules with one ID: InvalidArgument "Rule ID must be unique. Found same ID for more than one rule";
//   - Expiration Days 0: InvalidArgument "'Days' for Expiration action must be a positive integer";
//     a Date not at midnight: InvalidArgument "'Date' must be at midnight GMT";
//   - AbortIncompleteMultipartUpload with a tag filter: InvalidRequest "AbortIncompleteMultipartUpload
//     cannot be specified with Tags."; with a size filter: "... cannot be specified with Object Size.";
//   - duplicate tag keys in an And: InvalidRequest "Duplicate Tag Keys are not allowed.";
//   - rule-level Prefix and Filter mixed across rules: InvalidRequest "Filter element can only be
//     used in Lifecycle V2." / "Base level prefix cannot be used in Lifecycle V2, prefixes are only
//     supported in the Filter.".
import { randomUUID } from 'node:crypto';
import { boolean, element, integer, malformed, many, onlyChildren, single, text, type XmlNode } from './config-doc.js';
import { S3Error } from './errors.js';

export interface LifecycleTag { key: string; value: string }

export interface LifecycleFilter {
  prefix?: string;
  tag?: LifecycleTag;
  objectSizeGreaterThan?: number;
  objectSizeLessThan?: number;
  and?: { prefix?: string; tags: LifecycleTag[]; objectSizeGreaterThan?: number; objectSizeLessThan?: number };
}

export interface LifecycleRule {
  id: string;
  status: 'Enabled' | 'Disabled';
  /** The deprecated rule-level Prefix (Lifecycle V1), kept as sent. */
  prefix?: string;
  /** Lifecycle V2; `{}` is the empty filter (every object). */
  filter?: LifecycleFilter;
  expiration?: { days?: number; date?: string; expiredObjectDeleteMarker?: boolean };
  transitions?: { days?: number; date?: string; storageClass: string }[];
  noncurrentVersionTransitions?: { noncurrentDays?: number; newerNoncurrentVersions?: number; storageClass: string }[];
  noncurrentVersionExpiration?: { noncurrentDays?: number; newerNoncurrentVersions?: number };
  abortIncompleteMultipartUpload?: { daysAfterInitiation: number };
}

export interface LifecycleConfig {
  rules: LifecycleRule[];
  /** x-amz-transition-default-minimum-object-size. */
  transitionDefaultMinimumObjectSize: string;
}

/** The name under which the configuration is kept in the bucket's config record. */
export const LIFECYCLE_CONFIG_KEY = 'lifecycle';
export const MAX_LIFECYCLE_RULES = 1000;
const TRANSITION_SIZES = ['varies_by_storage_class', 'all_storage_classes_128K'];
export const DEFAULT_TRANSITION_SIZE = 'all_storage_classes_128K';
const STORAGE_CLASSES = ['GLACIER', 'STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'DEEP_ARCHIVE', 'GLACIER_IR'];
const RULE_CHILDREN = ['ID', 'Prefix', 'Filter', 'Status', 'Expiration', 'Transition', 'NoncurrentVersionTransition', 'NoncurrentVersionExpiration', 'AbortIncompleteMultipartUpload'];
const MAX_SIZE = 1099511627776000; // 1000 TiB, S3's bound for ObjectSizeLessThan
const DAY_MS = 86_400_000;

function invalidRequest(message: string): S3Error {
  return new S3Error('InvalidRequest', message);
}

function invalidArgument(message: string, name: string, value?: string): S3Error {
  return new S3Error('InvalidArgument', message, value === undefined ? { ArgumentName: name } : { ArgumentName: name, ArgumentValue: value });
}

/** An ISO 8601 date S3 accepts for Date ("2017-09-27" or a full timestamp), which must be midnight UTC. */
function parseDate(raw: string): string {
  const s = raw.trim();
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?)?$/.exec(s);
  if (!m) throw malformed();
  const ms = Date.parse(m[4] === undefined ? `${s}T00:00:00Z` : m[8] === undefined ? `${s}Z` : s);
  if (Number.isNaN(ms)) throw malformed();
  if (ms % DAY_MS !== 0) throw invalidArgument("'Date' must be at midnight GMT", 'Date', s);
  return new Date(ms).toISOString();
}

function parseTag(v: unknown): LifecycleTag {
  const tag = element(v);
  onlyChildren(tag, ['Key', 'Value']);
  const key = text(tag, 'Key');
  const value = text(tag, 'Value');
  if (key === undefined || key === '' || value === undefined) throw malformed();
  return { key, value };
}

function size(node: XmlNode, name: string): number | undefined {
  const n = integer(node, name);
  if (n !== undefined && n < 0) throw malformed();
  return n;
}

function checkSizes(greater: number | undefined, less: number | undefined): void {
  if (less !== undefined && (less < 1 || less > MAX_SIZE)) throw invalidRequest(`'ObjectSizeLessThan' should be between 1 and ${MAX_SIZE}.`);
  if (greater !== undefined && less !== undefined && greater >= less) throw invalidRequest("'ObjectSizeLessThan' has to be a value greater than 'ObjectSizeGreaterThan'.");
}

function parseFilter(v: unknown): LifecycleFilter {
  const f = element(v);
  onlyChildren(f, ['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan', 'And']);
  if (Object.keys(f).length > 1) throw malformed();
  const out: LifecycleFilter = {};
  const prefix = text(f, 'Prefix');
  if (prefix !== undefined) out.prefix = prefix;
  const tag = single(f, 'Tag');
  if (tag !== undefined) out.tag = parseTag(tag);
  const gt = size(f, 'ObjectSizeGreaterThan');
  if (gt !== undefined) out.objectSizeGreaterThan = gt;
  const lt = size(f, 'ObjectSizeLessThan');
  if (lt !== undefined) out.objectSizeLessThan = lt;
  checkSizes(gt, lt);
  const andNode = single(f, 'And');
  if (andNode !== undefined) {
    const a = element(andNode);
    onlyChildren(a, ['Prefix', 'Tag', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan']);
    const and: NonNullable<LifecycleFilter['and']> = { tags: many(a, 'Tag').map(parseTag) };
    const p = text(a, 'Prefix');
    if (p !== undefined) and.prefix = p;
    const agt = size(a, 'ObjectSizeGreaterThan');
    if (agt !== undefined) and.objectSizeGreaterThan = agt;
    const alt = size(a, 'ObjectSizeLessThan');
    if (alt !== undefined) and.objectSizeLessThan = alt;
    const predicates = (p !== undefined ? 1 : 0) + and.tags.length + (agt !== undefined ? 1 : 0) + (alt !== undefined ? 1 : 0);
    if (predicates < 2) throw malformed();
    const keys = new Set<string>();
    for (const t of and.tags) {
      if (keys.has(t.key)) throw invalidRequest('Duplicate Tag Keys are not allowed.');
      keys.add(t.key);
    }
    checkSizes(agt, alt);
    out.and = and;
  }
  return out;
}

function positive(n: number | undefined, message: string, name: string): void {
  if (n !== undefined && n <= 0) throw invalidArgument(message, name, String(n));
}

function storageClass(node: XmlNode): string {
  const sc = text(node, 'StorageClass');
  if (sc === undefined || !STORAGE_CLASSES.includes(sc)) throw malformed();
  return sc;
}

function parseRule(v: unknown): LifecycleRule & { v1: boolean } {
  const r = element(v);
  onlyChildren(r, RULE_CHILDREN);
  const id = text(r, 'ID');
  if (id !== undefined && id.length > 255) throw invalidArgument('ID length should not exceed allowed limit of 255', 'ID', id);
  const status = text(r, 'Status');
  if (status !== 'Enabled' && status !== 'Disabled') throw malformed();
  const prefix = text(r, 'Prefix');
  const filterNode = single(r, 'Filter');
  if ((prefix === undefined) === (filterNode === undefined)) throw malformed();
  const rule: LifecycleRule & { v1: boolean } = {
    // Rules sent without an ID get one, as S3 does: base64 of a random UUID.
    id: id === undefined || id === '' ? Buffer.from(randomUUID()).toString('base64') : id,
    status,
    v1: prefix !== undefined,
  };
  if (prefix !== undefined) rule.prefix = prefix;
  if (filterNode !== undefined) rule.filter = parseFilter(filterNode);
  const f = rule.filter;
  const hasTags = f !== undefined && (f.tag !== undefined || (f.and?.tags.length ?? 0) > 0);
  const hasSize = f !== undefined && [f.objectSizeGreaterThan, f.objectSizeLessThan, f.and?.objectSizeGreaterThan, f.and?.objectSizeLessThan].some((x) => x !== undefined);

  const expNode = single(r, 'Expiration');
  if (expNode !== undefined) {
    const e = element(expNode);
    onlyChildren(e, ['Days', 'Date', 'ExpiredObjectDeleteMarker']);
    const days = integer(e, 'Days');
    const dateText = text(e, 'Date');
    const marker = boolean(e, 'ExpiredObjectDeleteMarker');
    const set = [days, dateText, marker].filter((x) => x !== undefined).length;
    if (set !== 1) throw malformed();
    positive(days, "'Days' for Expiration action must be a positive integer", 'Days');
    rule.expiration = {};
    if (days !== undefined) rule.expiration.days = days;
    if (dateText !== undefined) rule.expiration.date = parseDate(dateText);
    if (marker !== undefined) {
      if (hasTags) throw invalidRequest('ExpiredObjectDeleteMarker cannot be specified with Tags.');
      if (hasSize) throw invalidRequest('ExpiredObjectDeleteMarker cannot be specified with Object Size.');
      rule.expiration.expiredObjectDeleteMarker = marker;
    }
  }
  const transitions = many(r, 'Transition').map((t) => {
    const n = element(t);
    onlyChildren(n, ['Days', 'Date', 'StorageClass']);
    const days = integer(n, 'Days');
    const dateText = text(n, 'Date');
    if ((days === undefined) === (dateText === undefined)) throw malformed();
    if (days !== undefined && days < 0) throw invalidArgument("'Days' for Transition action must be a non-negative integer", 'Days', String(days));
    const sc = storageClass(n);
    if (days !== undefined && days < 30 && (sc === 'STANDARD_IA' || sc === 'ONEZONE_IA')) {
      throw invalidArgument(`'Days' in Transition action must be greater than or equal to 30 for storageClass '${sc}'`, 'Days', String(days));
    }
    const out: NonNullable<LifecycleRule['transitions']>[number] = { storageClass: sc };
    if (days !== undefined) out.days = days;
    if (dateText !== undefined) out.date = parseDate(dateText);
    return out;
  });
  if (transitions.length) rule.transitions = transitions;
  const nvts = many(r, 'NoncurrentVersionTransition').map((t) => {
    const n = element(t);
    onlyChildren(n, ['NoncurrentDays', 'StorageClass', 'NewerNoncurrentVersions']);
    const days = integer(n, 'NoncurrentDays');
    if (days === undefined || days < 0) throw malformed();
    const out: NonNullable<LifecycleRule['noncurrentVersionTransitions']>[number] = { noncurrentDays: days, storageClass: storageClass(n) };
    const newer = integer(n, 'NewerNoncurrentVersions');
    if (newer !== undefined) {
      if (rule.v1) throw invalidRequest('NewerNoncurrentVersions element can only be used in Lifecycle V2.');
      positive(newer, "'NewerNoncurrentVersions' for NoncurrentVersionTransition action must be a positive integer", 'NewerNoncurrentVersions');
      out.newerNoncurrentVersions = newer;
    }
    return out;
  });
  if (nvts.length) rule.noncurrentVersionTransitions = nvts;
  const nveNode = single(r, 'NoncurrentVersionExpiration');
  if (nveNode !== undefined) {
    const n = element(nveNode);
    onlyChildren(n, ['NoncurrentDays', 'NewerNoncurrentVersions']);
    const days = integer(n, 'NoncurrentDays');
    if (days === undefined) throw malformed();
    positive(days, "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer", 'NoncurrentDays');
    rule.noncurrentVersionExpiration = { noncurrentDays: days };
    const newer = integer(n, 'NewerNoncurrentVersions');
    if (newer !== undefined) {
      if (rule.v1) throw invalidRequest('NewerNoncurrentVersions element can only be used in Lifecycle V2.');
      positive(newer, "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive integer", 'NewerNoncurrentVersions');
      rule.noncurrentVersionExpiration.newerNoncurrentVersions = newer;
    }
  }
  const abortNode = single(r, 'AbortIncompleteMultipartUpload');
  if (abortNode !== undefined) {
    const n = element(abortNode);
    onlyChildren(n, ['DaysAfterInitiation']);
    const days = integer(n, 'DaysAfterInitiation');
    if (days === undefined) throw malformed();
    positive(days, "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer", 'DaysAfterInitiation');
    if (hasTags) throw invalidRequest('AbortIncompleteMultipartUpload cannot be specified with Tags.');
    if (hasSize) throw invalidRequest('AbortIncompleteMultipartUpload cannot be specified with Object Size.');
    rule.abortIncompleteMultipartUpload = { daysAfterInitiation: days };
  }
  if (!rule.expiration && !rule.transitions && !rule.noncurrentVersionTransitions && !rule.noncurrentVersionExpiration && !rule.abortIncompleteMultipartUpload) {
    throw invalidRequest('At least one action needs to be specified in a rule');
  }
  return rule;
}

/** x-amz-transition-default-minimum-object-size of the PUT (InvalidRequest for a value S3 does not define). */
export function parseTransitionDefault(value: string | undefined): string {
  if (value === undefined) return DEFAULT_TRANSITION_SIZE;
  if (!TRANSITION_SIZES.includes(value)) throw invalidRequest(`Invalid TransitionDefaultMinimumObjectSize found: ${value}`);
  return value;
}

/** The <LifecycleConfiguration> content (root stripped) → the validated configuration. */
export function parseLifecycle(root: XmlNode, transitionDefault: string = DEFAULT_TRANSITION_SIZE): LifecycleConfig {
  onlyChildren(root, ['Rule']);
  const nodes = many(root, 'Rule');
  if (nodes.length === 0) throw malformed();
  if (nodes.length > MAX_LIFECYCLE_RULES) throw invalidRequest(`The number of lifecycle rules must not exceed the allowed limit of ${MAX_LIFECYCLE_RULES} rules.`);
  const rules: LifecycleRule[] = [];
  const ids = new Set<string>();
  let version: boolean | undefined;
  for (const n of nodes) {
    const { v1, ...rule } = parseRule(n);
    if (version !== undefined && version !== v1) {
      throw invalidRequest(v1 ? 'Base level prefix cannot be used in Lifecycle V2, prefixes are only supported in the Filter.' : 'Filter element can only be used in Lifecycle V2.');
    }
    version = v1;
    if (ids.has(rule.id)) throw invalidArgument('Rule ID must be unique. Found same ID for more than one rule', 'ID', rule.id);
    ids.add(rule.id);
    rules.push(rule);
  }
  return { rules, transitionDefaultMinimumObjectSize: transitionDefault };
}

// ---- the document S3 gives back ----

function tagXml(t: LifecycleTag) {
  return { Key: t.key, Value: t.value };
}

function filterXml(f: LifecycleFilter): Record<string, unknown> {
  return {
    Prefix: f.prefix,
    Tag: f.tag ? tagXml(f.tag) : undefined,
    ObjectSizeGreaterThan: f.objectSizeGreaterThan,
    ObjectSizeLessThan: f.objectSizeLessThan,
    And: f.and ? {
      Prefix: f.and.prefix,
      Tag: f.and.tags.map(tagXml),
      ObjectSizeGreaterThan: f.and.objectSizeGreaterThan,
      ObjectSizeLessThan: f.and.objectSizeLessThan,
    } : undefined,
  };
}

/** GetBucketLifecycleConfiguration's body: each rule as ID, Filter (or Prefix), Status, then its actions. */
export function lifecycleXml(config: LifecycleConfig): Record<string, unknown> {
  return {
    Rule: config.rules.map((r) => ({
      ID: r.id,
      Prefix: r.prefix,
      Filter: r.filter ? filterXml(r.filter) : undefined,
      Status: r.status,
      Expiration: r.expiration ? { Days: r.expiration.days, Date: r.expiration.date, ExpiredObjectDeleteMarker: r.expiration.expiredObjectDeleteMarker } : undefined,
      Transition: r.transitions?.map((t) => ({ Days: t.days, Date: t.date, StorageClass: t.storageClass })),
      NoncurrentVersionTransition: r.noncurrentVersionTransitions?.map((t) => ({ NoncurrentDays: t.noncurrentDays, StorageClass: t.storageClass, NewerNoncurrentVersions: t.newerNoncurrentVersions })),
      NoncurrentVersionExpiration: r.noncurrentVersionExpiration ? { NoncurrentDays: r.noncurrentVersionExpiration.noncurrentDays, NewerNoncurrentVersions: r.noncurrentVersionExpiration.newerNoncurrentVersions } : undefined,
      AbortIncompleteMultipartUpload: r.abortIncompleteMultipartUpload ? { DaysAfterInitiation: r.abortIncompleteMultipartUpload.daysAfterInitiation } : undefined,
    })),
  };
}

// ---- AbortIncompleteMultipartUpload: what the multipart sweep calls ----

/** The lifecycle configuration kept in a bucket's config record (BucketInfo.config), if any. */
export function lifecycleOf(bucketConfig: Record<string, unknown> | undefined): LifecycleConfig | undefined {
  const c = bucketConfig?.[LIFECYCLE_CONFIG_KEY] as LifecycleConfig | undefined;
  return c && Array.isArray(c.rules) ? c : undefined;
}

/** The prefix a rule's filter restricts keys to ('' for every key). Abort rules carry no tag or size filter. */
export function rulePrefix(r: LifecycleRule): string {
  return r.prefix ?? r.filter?.prefix ?? r.filter?.and?.prefix ?? '';
}

/**
 * The enabled AbortIncompleteMultipartUpload rule that applies to an upload of `key` (prefix
 * filter); with several, the shortest (S3 honours the shorter policy when two overlap).
 */
export function lifecycleAbortRuleFor(bucketConfig: Record<string, unknown> | undefined, key: string): { days: number; ruleId: string } | undefined {
  const config = lifecycleOf(bucketConfig);
  let best: { days: number; ruleId: string } | undefined;
  for (const r of config?.rules ?? []) {
    const days = r.abortIncompleteMultipartUpload?.daysAfterInitiation;
    if (r.status !== 'Enabled' || days === undefined || !key.startsWith(rulePrefix(r))) continue;
    if (!best || days < best.days) best = { days, ruleId: r.id };
  }
  return best;
}

/**
 * How old (in seconds, the unit of the store's multipartMaxAgeSeconds) an in-progress upload of
 * `key` may get before the bucket's lifecycle aborts it; undefined when no enabled
 * AbortIncompleteMultipartUpload rule matches the key. `bucketConfig` is BucketInfo.config.
 */
export function lifecycleAbortAgeFor(bucketConfig: Record<string, unknown> | undefined, key: string): number | undefined {
  const rule = lifecycleAbortRuleFor(bucketConfig, key);
  return rule ? rule.days * 86_400 : undefined;
}

/**
 * When S3 aborts an upload initiated at `initiatedMs`: the initiation time plus the rule's days,
 * rounded up to the next midnight UTC (user guide, intro-lifecycle-rules). This is also what
 * CreateMultipartUpload answers as x-amz-abort-date (with x-amz-abort-rule-id).
 */
export function lifecycleAbortDateFor(bucketConfig: Record<string, unknown> | undefined, key: string, initiatedMs: number): { date: number; ruleId: string } | undefined {
  const rule = lifecycleAbortRuleFor(bucketConfig, key);
  if (!rule) return undefined;
  const due = initiatedMs + rule.days * DAY_MS;
  return { date: Math.ceil(due / DAY_MS) * DAY_MS, ruleId: rule.ruleId };
}

/** The tags and size of an object, as a lifecycle filter sees them. */
export interface LifecycleSubject {
  key: string;
  size: number;
  lastModified: number;
  tags?: Record<string, string>;
}

function hasTag(o: LifecycleSubject, t: LifecycleTag): boolean {
  return o.tags?.[t.key] === t.value;
}

/** An enabled rule that expires current objects (by Days or Date; ExpiredObjectDeleteMarker alone does not). */
export function expiresObjects(r: LifecycleRule): boolean {
  return r.status === 'Enabled' && (r.expiration?.days !== undefined || r.expiration?.date !== undefined);
}

/** Whether a rule's filter (V1 Prefix, or V2 Filter: prefix, tag, size bounds, And) selects the object. */
export function lifecycleRuleMatches(r: LifecycleRule, o: LifecycleSubject): boolean {
  if (r.prefix !== undefined) return o.key.startsWith(r.prefix);
  const f = r.filter ?? {};
  const size = (gt?: number, lt?: number) => (gt === undefined || o.size > gt) && (lt === undefined || o.size < lt);
  if (f.and) return o.key.startsWith(f.and.prefix ?? '') && f.and.tags.every((t) => hasTag(o, t)) && size(f.and.objectSizeGreaterThan, f.and.objectSizeLessThan);
  return o.key.startsWith(f.prefix ?? '') && (f.tag === undefined || hasTag(o, f.tag)) && size(f.objectSizeGreaterThan, f.objectSizeLessThan);
}

/**
 * When S3 expires the object, and by which rule: for Days, last-modified plus the days rounded
 * up to the next midnight UTC; for Date, that date. With several enabled rules matching, the
 * earliest wins. This is also the x-amz-expiration header of PUT, HEAD and GET.
 */
export function lifecycleExpirationFor(bucketConfig: Record<string, unknown> | undefined, o: LifecycleSubject): { date: number; ruleId: string } | undefined {
  let best: { date: number; ruleId: string } | undefined;
  for (const r of lifecycleOf(bucketConfig)?.rules ?? []) {
    if (!expiresObjects(r) || !lifecycleRuleMatches(r, o)) continue;
    const e = r.expiration!;
    const date = e.days !== undefined ? Math.ceil((o.lastModified + e.days * DAY_MS) / DAY_MS) * DAY_MS : Date.parse(e.date!);
    if (Number.isFinite(date) && (!best || date < best.date)) best = { date, ruleId: r.id };
  }
  return best;
}

/** The x-amz-expiration header value: `expiry-date="<HTTP date>", rule-id="<id>"`. */
export function expirationHeader(e: { date: number; ruleId: string }): string {
  // A rule ID may hold any character; a header may not (Node refuses to send it).
  const id = /^[\x20-\x7e]*$/.test(e.ruleId) ? e.ruleId.replace(/["\\]/g, (c) => `\\${c}`) : encodeURIComponent(e.ruleId);
  return `expiry-date="${new Date(e.date).toUTCString()}", rule-id="${id}"`;
}

/** `x-amz-expiration` for PUT, HEAD and GET when an enabled Expiration rule selects the object. */
export function expirationHeaders(bucketConfig: Record<string, unknown> | undefined, o: LifecycleSubject): Record<string, string> {
  if (!bucketConfig?.[LIFECYCLE_CONFIG_KEY]) return {};
  const e = lifecycleExpirationFor(bucketConfig, o);
  return e ? { 'x-amz-expiration': expirationHeader(e) } : {};
}
