// Bucket CORS: the <CORSConfiguration> document and how S3 evaluates a request against it.
//
// Evaluation (API_PutBucketCors; user guide cors.html, ManageCorsUsing.html, testing-cors.html;
// answers recorded against S3 by LocalStack's AWS-validated CORS tests and ceph s3-tests):
//   - the first rule whose AllowedOrigin matches Origin (one `*` wildcard, matching any run of
//     characters, the empty one included; the pattern anchored at both ends), whose AllowedMethod
//     holds the method (Access-Control-Request-Method when the request carries it, else the
//     request's own), and, for a preflight, whose AllowedHeader entries match every name in
//     Access-Control-Request-Headers (case-insensitively, `*` wildcard) is used;
//   - a matched request is answered Access-Control-Allow-Origin (the Origin, or `*` when the rule
//     allows every origin), Access-Control-Allow-Credentials: true (not with `*`),
//     Access-Control-Allow-Methods (the rule's methods), Access-Control-Allow-Headers (the
//     requested names, lower-cased), Access-Control-Expose-Headers, Access-Control-Max-Age, and
//     Vary: Origin, Access-Control-Request-Headers, Access-Control-Request-Method;
//   - an actual request no rule matches is served without CORS headers (only preflights are refused).
// Document checks: no rule or over 100 rules, a rule without AllowedOrigin or AllowedMethod, or
// an unknown element: MalformedXML; a method other than GET PUT HEAD POST DELETE: InvalidRequest
// "Found unsupported HTTP method in CORS config. Unsupported method is X"; two `*` in an
// AllowedOrigin/AllowedHeader: InvalidRequest 'AllowedOrigin "x" can not have more than one
// wildcard.'; `*` in an ExposeHeader: InvalidRequest 'ExposeHeader "x" contains wildcard. We
// currently do not support wildcard for ExposeHeader.'
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BucketInfo } from '../store/types.js';
import { element, integer, malformed, many, onlyChildren, leafText, text, type XmlNode } from './config-doc.js';
import { S3Error } from './errors.js';

export interface CorsRule {
  id?: string;
  allowedMethods: string[];
  allowedOrigins: string[];
  allowedHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds?: number;
}

export const CORS_CONFIG_KEY = 'cors';
export const MAX_CORS_RULES = 100;
const METHODS = ['GET', 'PUT', 'HEAD', 'POST', 'DELETE'];

function invalidRequest(message: string): S3Error {
  return new S3Error('InvalidRequest', message);
}

function wildcards(s: string): number {
  return s.split('*').length - 1;
}

function parseRule(v: unknown): CorsRule {
  const r = element(v);
  onlyChildren(r, ['ID', 'AllowedMethod', 'AllowedOrigin', 'AllowedHeader', 'ExposeHeader', 'MaxAgeSeconds']);
  const list = (name: string) => many(r, name).map(leafText);
  const rule: CorsRule = {
    allowedMethods: list('AllowedMethod'),
    allowedOrigins: list('AllowedOrigin'),
    allowedHeaders: list('AllowedHeader'),
    exposeHeaders: list('ExposeHeader'),
  };
  if (rule.allowedMethods.length === 0 || rule.allowedOrigins.length === 0) throw malformed();
  const id = text(r, 'ID');
  if (id !== undefined) {
    if (id.length > 255) throw new S3Error('InvalidArgument', 'ID length should not exceed allowed limit of 255', { ArgumentName: 'ID', ArgumentValue: id });
    rule.id = id;
  }
  const maxAge = integer(r, 'MaxAgeSeconds');
  if (maxAge !== undefined) rule.maxAgeSeconds = maxAge;
  for (const m of rule.allowedMethods) {
    if (!METHODS.includes(m)) throw invalidRequest(`Found unsupported HTTP method in CORS config. Unsupported method is ${m}`);
  }
  for (const o of rule.allowedOrigins) {
    if (wildcards(o) > 1) throw invalidRequest(`AllowedOrigin "${o}" can not have more than one wildcard.`);
  }
  for (const h of rule.allowedHeaders) {
    if (wildcards(h) > 1) throw invalidRequest(`AllowedHeader "${h}" can not have more than one wildcard.`);
  }
  for (const h of rule.exposeHeaders) {
    if (h.includes('*')) throw invalidRequest(`ExposeHeader "${h}" contains wildcard. We currently do not support wildcard for ExposeHeader.`);
  }
  return rule;
}

/** The <CORSConfiguration> content (root stripped) → validated rules. */
export function parseCors(root: XmlNode): CorsRule[] {
  onlyChildren(root, ['CORSRule']);
  const nodes = many(root, 'CORSRule');
  if (nodes.length === 0 || nodes.length > MAX_CORS_RULES) throw malformed();
  return nodes.map(parseRule);
}

/** GetBucketCors's body. */
export function corsXml(rules: CorsRule[]): Record<string, unknown> {
  return {
    CORSRule: rules.map((r) => ({
      ID: r.id,
      AllowedHeader: r.allowedHeaders,
      AllowedMethod: r.allowedMethods,
      AllowedOrigin: r.allowedOrigins,
      ExposeHeader: r.exposeHeaders,
      MaxAgeSeconds: r.maxAgeSeconds,
    })),
  };
}

export function corsRulesOf(bucketConfig: Record<string, unknown> | undefined): CorsRule[] | undefined {
  const rules = bucketConfig?.[CORS_CONFIG_KEY];
  return Array.isArray(rules) && rules.length > 0 ? (rules as CorsRule[]) : undefined;
}

/** `*` stands for any run of characters (at most one is allowed in a pattern). */
export function wildcardMatch(pattern: string, value: string): boolean {
  const star = pattern.indexOf('*');
  if (star === -1) return pattern === value;
  const head = pattern.slice(0, star);
  const tail = pattern.slice(star + 1);
  return value.length >= head.length + tail.length && value.startsWith(head) && value.endsWith(tail);
}

/** Access-Control-Request-Headers → lower-case names (empty entries dropped). */
export function requestedHeaders(value: string | undefined): string[] {
  if (value === undefined) return [];
  return value.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
}

/** The first rule that allows `origin` and `method` and, for a preflight, every requested header. */
export function matchCorsRule(rules: CorsRule[], origin: string, method: string, headers: string[] = []): CorsRule | undefined {
  return rules.find((r) =>
    r.allowedMethods.includes(method)
    && r.allowedOrigins.some((o) => wildcardMatch(o, origin))
    && headers.every((h) => r.allowedHeaders.some((a) => wildcardMatch(a.toLowerCase(), h))));
}

/** The response headers for a request a rule matched. */
export function corsHeaders(rule: CorsRule, origin: string, headers: string[] = []): Record<string, string> {
  const anyOrigin = rule.allowedOrigins.includes('*');
  const out: Record<string, string> = {
    'access-control-allow-origin': anyOrigin ? '*' : origin,
    'access-control-allow-methods': rule.allowedMethods.join(', '),
    vary: 'Origin, Access-Control-Request-Headers, Access-Control-Request-Method',
  };
  if (!anyOrigin) out['access-control-allow-credentials'] = 'true';
  if (headers.length > 0) out['access-control-allow-headers'] = headers.join(', ');
  if (rule.exposeHeaders.length > 0) out['access-control-expose-headers'] = rule.exposeHeaders.join(', ');
  if (rule.maxAgeSeconds !== undefined) out['access-control-max-age'] = String(rule.maxAgeSeconds);
  return out;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/**
 * An actual (non-preflight) request with an Origin to a bucket with CORS rules: sets the CORS
 * headers on the response before the operation runs, so that success and error answers both
 * carry them (browsers can then read S3's error). Nothing is set when no rule matches.
 */
export function applyCorsHeaders(req: IncomingMessage, res: ServerResponse, buckets: { getBucket(name: string): BucketInfo | undefined }, bucket: string | undefined): void {
  const origin = header(req, 'origin');
  if (origin === undefined || bucket === undefined || req.method === 'OPTIONS') return;
  let rules: CorsRule[] | undefined;
  try {
    rules = corsRulesOf(buckets.getBucket(bucket)?.config);
  } catch {
    return; // a name the index cannot hold names no bucket; the operation answers for it
  }
  if (!rules) return;
  const rule = matchCorsRule(rules, origin, header(req, 'access-control-request-method') ?? req.method ?? 'GET');
  if (!rule) return;
  for (const [k, v] of Object.entries(corsHeaders(rule, origin))) res.setHeader(k, v);
}
