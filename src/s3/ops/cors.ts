// PutBucketCors (200), GetBucketCors (200, or NoSuchCORSConfiguration 404), DeleteBucketCors
// (204, with or without a configuration): `?cors` on a bucket; and the preflight OPTIONS request
// on a bucket or object, which browsers send without credentials, so it is answered before
// authentication (dispatch.ts). The preflight's answers, as S3 gives them (developer guide
// "Appendix: OPTIONS object", user guide cors-troubleshooting; LocalStack's AWS-validated tests):
//   - no Origin: 400 BadRequest "Insufficient information. Origin request header needed.";
//   - no such bucket: 403 AccessForbidden "CORSResponse: Bucket not found";
//   - no configuration: 403 AccessForbidden "CORSResponse: CORS is not enabled for this bucket.";
//   - no rule matches: 403 AccessForbidden "CORSResponse: This CORS request is not allowed. ...";
//     each with Method (the requested method, else OPTIONS) and ResourceType (BUCKET|OBJECT);
//   - a match: 200, empty body, the CORS headers of ../cors.ts.
import { readConfigDocument } from '../config-doc.js';
import { sendEmpty, sendXml, type PreAuthContext, type S3Context } from '../context.js';
import { CORS_CONFIG_KEY, corsHeaders, corsRulesOf, corsXml, matchCorsRule, parseCors, requestedHeaders } from '../cors.js';
import { S3Error } from '../errors.js';

const NOT_ALLOWED = "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.";

function bucketInfo(ctx: S3Context) {
  const name = ctx.target.bucket!;
  const info = ctx.objects.store.getBucket(name);
  if (!info) throw new S3Error('NoSuchBucket', undefined, { BucketName: name });
  return info;
}

export async function putBucketCors(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  const rules = parseCors(await readConfigDocument(ctx, 'CORSConfiguration'));
  await ctx.objects.store.setBucketConfig(info.name, CORS_CONFIG_KEY, rules);
  sendEmpty(ctx, 200);
}

export async function getBucketCors(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  const rules = corsRulesOf(info.config);
  if (!rules) throw new S3Error('NoSuchCORSConfiguration', undefined, { BucketName: info.name });
  sendXml(ctx, 200, 'CORSConfiguration', corsXml(rules));
}

export async function deleteBucketCors(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  await ctx.objects.store.setBucketConfig(info.name, CORS_CONFIG_KEY, undefined);
  sendEmpty(ctx, 204);
}

function header(ctx: PreAuthContext, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

function forbidden(message: string, method: string, resourceType: 'BUCKET' | 'OBJECT'): S3Error {
  return new S3Error('AccessForbidden', message, { Method: method, ResourceType: resourceType });
}

/** OPTIONS on a bucket or an object: the CORS preflight. */
export async function corsPreflight(ctx: PreAuthContext): Promise<void> {
  const origin = header(ctx, 'origin');
  if (origin === undefined) throw new S3Error('BadRequest', 'Insufficient information. Origin request header needed.');
  const requestedMethod = header(ctx, 'access-control-request-method');
  const method = requestedMethod ?? 'OPTIONS';
  const name = ctx.target.bucket;
  let info;
  try {
    info = name === undefined ? undefined : ctx.objects.store.getBucket(name);
  } catch {
    info = undefined;
  }
  if (!info) throw forbidden('CORSResponse: Bucket not found', method, 'BUCKET');
  const rules = corsRulesOf(info.config);
  if (!rules) throw forbidden('CORSResponse: CORS is not enabled for this bucket.', method, 'BUCKET');
  const headers = requestedHeaders(header(ctx, 'access-control-request-headers'));
  const rule = requestedMethod === undefined ? undefined : matchCorsRule(rules, origin, requestedMethod, headers);
  if (!rule) throw forbidden(NOT_ALLOWED, method, ctx.target.key === undefined ? 'BUCKET' : 'OBJECT');
  sendEmpty(ctx, 200, corsHeaders(rule, origin, headers));
}
