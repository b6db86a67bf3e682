// POST Object: a browser form upload (`POST /bucket`, multipart/form-data) authenticated by a
// SigV4-signed POST policy in the form rather than by the Authorization header, so dispatch.ts
// hands it here before SigV4 verification. The form is parsed as a stream (@fastify/busboy):
// the fields before the `file` part are read (at most 20 KB, as S3), the policy's signature and
// conditions are checked, and only then is the file streamed into the store through the normal
// write path (ObjectService.putObject: checksums, encryption, durable commit). Fields after the
// file are ignored, as S3 ignores them.
//
// Answers (developer guide RESTObjectPOST, sigv4-HTTPPOSTForms, sigv4-authentication-HTTPPOST,
// sigv4-post-example; S3's observed answers as LocalStack's AWS-validated tests recorded them):
//   - not multipart/form-data: 412 PreconditionFailed, Condition "Bucket POST must be of the
//     enclosure-type multipart/form-data"; no boundary or a broken body: 400 MalformedPOSTRequest;
//   - no `key` field before the file: 400 InvalidArgument "Bucket POST must contain a field named
//     'key'.  If it is specified, please check the order of the fields." (also for X-Amz-Algorithm,
//     X-Amz-Credential, X-Amz-Date, X-Amz-Signature, Policy when the form is signed);
//   - no policy and no signature: the request is anonymous: 403 AccessDenied;
//   - unknown access key: 403 InvalidAccessKeyId; a signature that is not HMAC(signing key,
//     policy as sent): 403 SignatureDoesNotMatch with StringToSign = the policy;
//   - policy faults: see ../post-policy.ts; size outside content-length-range: 400
//     EntityTooLarge / EntityTooSmall with ProposedSize and Max/MinSizeAllowed;
//   - no file part: 400 InvalidArgument "POST requires exactly one file upload per request.";
//   - success: success_action_redirect (or redirect) → 303 to it with bucket, key and etag
//     appended; else success_action_status 200 or 201 (a <PostResponse> document) or 204 (the
//     default, also for any other value); ETag and Location headers on every success.
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Transform, type Readable } from 'node:stream';
import { Busboy, type BusboyInstance } from '@fastify/busboy';
import { plainBody } from '../../service/objects.js';
import { checkObjectKey } from '../../store/keys.js';
import { hmacHex, signaturesEqual, signingKeyFor } from '../auth/sigv4.js';
import { CHECKSUM_ALGORITHMS, checksumHeader, decodeBase64Digest, isValidChecksumValue, type ChecksumAlgorithm } from '../checksums.js';
import { element } from '../config-doc.js';
import type { PreAuthContext } from '../context.js';
import { S3Error } from '../errors.js';
import { envelopeOf, metaFromRequest } from '../object-headers.js';
import { checkCoverage, checkPolicy, decodePolicy, type SizeRange } from '../post-policy.js';
import { parseSseRequest, sseHeaders } from '../sse.js';
import { MAX_OBJECT_TAGS, tagCount, tagsFromDocument, type TagSet } from '../tagging.js';
import { escapeXml, parseXml } from '../xml.js';
import { checkRequestAcl } from './acl.js';

/** "The form data and boundaries (excluding the contents of the file) cannot exceed 20KB." */
export const MAX_POST_PRE_DATA = 20 * 1024;
const ALGORITHM = 'AWS4-HMAC-SHA256';
/** What one part's delimiter and headers add to the fields before the file (they count towards the 20 KB). */
const PART_OVERHEAD = 64;
/** After the policy's maximum is passed, the rest of the file is counted (not stored) this far, for ProposedSize. */
const OVERSIZE_COUNT_LIMIT = 8 * 1024 * 1024;

interface FormField {
  /** As the form sent it. */
  name: string;
  value: string;
}

interface ParsedForm {
  fields: FormField[];
  file: Readable;
  /** The file part's filename parameter (path stripped); undefined when it had none. */
  filename: string | undefined;
}

function preDataTooLarge(): S3Error {
  return new S3Error('MaxPostPreDataLengthExceeded', undefined, { MaxPostPreDataLengthBytes: String(MAX_POST_PRE_DATA) });
}

function malformedPost(): S3Error {
  return new S3Error('MalformedPOSTRequest');
}

/**
 * Reads the form up to the `file` part (the part named `file`, whatever its filename) and hands
 * the file over as a stream. Fields after it, and further file parts, are read and dropped.
 */
function readForm(req: IncomingMessage, bb: BusboyInstance): Promise<ParsedForm> {
  return new Promise<ParsedForm>((resolve, reject) => {
    const fields: FormField[] = [];
    let preData = 0;
    let file: Readable | undefined;
    let settled = false;
    const fail = (e: unknown) => {
      if (file) file.destroy(e instanceof Error ? e : new Error(String(e)));
      if (!settled) {
        settled = true;
        reject(e);
      }
    };
    bb.on('field', (name: string | undefined, value: string, _nameTruncated: boolean, valueTruncated: boolean) => {
      if (file || settled) return; // after the file: ignored, as S3 does
      // Each part costs its name, its value and (roughly) its boundary and headers.
      preData += Buffer.byteLength(name ?? '') + Buffer.byteLength(value) + PART_OVERHEAD;
      if (valueTruncated || preData > MAX_POST_PRE_DATA) return fail(preDataTooLarge());
      if (name === undefined) return;
      fields.push({ name, value });
    });
    bb.on('file', (_name: string, stream: Readable, filename: string | undefined) => {
      if (file || settled) {
        stream.resume();
        return;
      }
      file = stream;
      settled = true;
      resolve({ fields, file: stream, filename });
    });
    bb.on('error', () => fail(malformedPost()));
    bb.on('finish', () => {
      if (!file) fail(new S3Error('InvalidArgument', 'POST requires exactly one file upload per request.', { ArgumentName: 'file', ArgumentValue: '0' }));
    });
    req.on('aborted', () => fail(new S3Error('IncompleteBody')));
    req.on('error', (e) => fail(e));
    req.pipe(bb);
  });
}

/** Stops reading the form: the rest of the body is dropped (dispatch closes a large one). */
function abandon(req: IncomingMessage, bb: BusboyInstance, file: Readable | undefined): void {
  req.unpipe(bb);
  file?.resume();
  req.resume();
}

function missingField(name: string): S3Error {
  return new S3Error('InvalidArgument', `Bucket POST must contain a field named '${name}'.  If it is specified, please check the order of the fields.`, { ArgumentName: name, ArgumentValue: '' });
}

function credentialError(message: string, value: string): S3Error {
  return new S3Error('InvalidArgument', message, { ArgumentName: 'X-Amz-Credential', ArgumentValue: value });
}

/** Checks the form's SigV4 fields and the signature over the policy text as sent. */
function verifySignature(ctx: PreAuthContext, get: (n: string) => string | undefined): string {
  const present = ['policy', 'x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature'].some((n) => get(n) !== undefined);
  if (!present) {
    if (get('awsaccesskeyid') !== undefined || get('signature') !== undefined) {
      throw new S3Error('InvalidRequest', 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.');
    }
    throw new S3Error('AccessDenied'); // anonymous: no bucket here is publicly writable
  }
  for (const [lower, canonical] of [['x-amz-algorithm', 'X-Amz-Algorithm'], ['x-amz-credential', 'X-Amz-Credential'], ['x-amz-date', 'X-Amz-Date'], ['x-amz-signature', 'X-Amz-Signature'], ['policy', 'Policy']] as const) {
    if (get(lower) === undefined) throw missingField(canonical);
  }
  const algorithm = get('x-amz-algorithm')!;
  if (algorithm !== ALGORITHM) throw new S3Error('InvalidArgument', `X-Amz-Algorithm only supports "${ALGORITHM}"`, { ArgumentName: 'X-Amz-Algorithm', ArgumentValue: algorithm });
  const credential = get('x-amz-credential')!;
  const parts = credential.split('/');
  if (parts.length !== 5) throw credentialError('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".', credential);
  const [accessKeyId, date, region, service, terminal] = parts as [string, string, string, string, string];
  if (accessKeyId === '') throw credentialError('a non-empty Access Key (AKID) must be provided in the credential.', credential);
  if (!/^\d{8}$/.test(date)) throw credentialError(`incorrect date format "${date}". This date in the credential must be in the format "yyyyMMdd".`, credential);
  if (region === '') throw credentialError('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".', credential);
  if (service !== 's3') throw credentialError(`incorrect service "${service}". This endpoint belongs to "s3".`, credential);
  if (terminal !== 'aws4_request') throw credentialError(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`, credential);
  const amzDate = get('x-amz-date')!;
  if (!/^\d{8}T\d{6}Z$/.test(amzDate)) throw new S3Error('InvalidArgument', 'X-Amz-Date must be formated via ISO8601 Long format', { ArgumentName: 'X-Amz-Date', ArgumentValue: amzDate });
  const secret = ctx.secrets(accessKeyId);
  if (secret === undefined) throw new S3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId });
  const policy = get('policy')!;
  const provided = get('x-amz-signature')!;
  const expected = hmacHex(signingKeyFor(accessKeyId, secret, date, region), policy);
  if (!signaturesEqual(expected, provided)) {
    throw new S3Error('SignatureDoesNotMatch', undefined, {
      AWSAccessKeyId: accessKeyId,
      StringToSign: policy,
      SignatureProvided: provided,
      StringToSignBytes: [...Buffer.from(policy, 'utf8')].map((b) => b.toString(16).padStart(2, '0')).join(' '),
    });
  }
  return policy;
}

/** The form's `tagging` field: a <Tagging> document (another root is an empty tag set, as S3 answers). */
function formTags(value: string | undefined): TagSet | undefined {
  if (value === undefined) return undefined;
  const doc = parseXml(Buffer.from(value, 'utf8'));
  if (!('Tagging' in doc)) return undefined;
  return tagsFromDocument(element(doc.Tagging), MAX_OBJECT_TAGS);
}

/** x-amz-checksum-<algorithm> / Content-MD5 fields: what the stored bytes must hash to. */
function expectedDigests(get: (n: string) => string | undefined): { algorithm?: ChecksumAlgorithm; value?: string; md5?: Buffer } {
  const out: { algorithm?: ChecksumAlgorithm; value?: string; md5?: Buffer } = {};
  for (const a of CHECKSUM_ALGORITHMS) {
    const v = get(checksumHeader(a));
    if (v === undefined) continue;
    if (out.algorithm !== undefined) throw new S3Error('InvalidRequest', 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    if (!isValidChecksumValue(a, v.trim())) throw new S3Error('InvalidRequest', `Value for ${checksumHeader(a)} header is invalid.`);
    out.algorithm = a;
    out.value = v.trim();
  }
  const md5 = get('content-md5');
  if (md5 !== undefined) {
    const raw = decodeBase64Digest(md5.trim(), 16);
    if (!raw) throw new S3Error('InvalidDigest', 'The Content-MD5 you specified was invalid.', { 'Content-MD5': md5 });
    out.md5 = raw;
  }
  return out;
}

/**
 * Counts the file's bytes against the policy's maximum. Past it nothing more is stored; the
 * rest is counted (up to a bound) so that EntityTooLarge names the proposed size, as S3 does.
 */
function sizeLimit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen <= max) return cb(null, chunk);
      if (seen > max + OVERSIZE_COUNT_LIMIT) return cb(tooLarge(seen, max));
      cb();
    },
    flush(cb) {
      cb(seen > max ? tooLarge(seen, max) : null);
    },
  });
}

function tooLarge(size: number, max: number): S3Error {
  return new S3Error('EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size', { ProposedSize: String(size), MaxSizeAllowed: String(max) });
}

/** Headers a PutObject would carry, from the form's fields (content headers, metadata, SSE, storage class, ACL). */
function pseudoHeaders(fields: Map<string, string>): IncomingHttpHeaders {
  const h: IncomingHttpHeaders = {};
  for (const [name, value] of fields) {
    if (name === 'content-type' || name === 'cache-control' || name === 'content-disposition' || name === 'content-encoding' || name === 'expires'
      || name === 'x-amz-website-redirect-location' || name === 'x-amz-storage-class' || name.startsWith('x-amz-meta-')
      || name.startsWith('x-amz-server-side-encryption')) {
      h[name] = value;
    }
  }
  if (fields.has('acl')) h['x-amz-acl'] = fields.get('acl');
  return h;
}

function objectLocation(ctx: PreAuthContext, bucket: string, key: string): string {
  const proto = (ctx.req.socket as TLSSocket).encrypted ? 'https' : 'http';
  const host = ctx.req.headers.host ?? 'localhost';
  // Path-style posts go to /bucket; virtual-host-style to / on the bucket's host name.
  const path = ctx.target.rawPath === '/' ? `/${encodeURIComponent(key)}` : `/${encodeURIComponent(bucket)}/${encodeURIComponent(key)}`;
  return `${proto}://${host}${path}`;
}

/** success_action_redirect: an absolute http(s) URL, else "as if the field is not present". */
function redirectTarget(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:' ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function postObject(ctx: PreAuthContext): Promise<void> {
  const bucket = ctx.target.bucket!;
  const contentType = String(ctx.req.headers['content-type'] ?? '');
  if (!/^\s*multipart\/form-data\s*(;|$)/i.test(contentType)) {
    throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', { Condition: 'Bucket POST must be of the enclosure-type multipart/form-data' });
  }
  let bb: BusboyInstance;
  try {
    bb = Busboy({
      headers: ctx.req.headers as IncomingHttpHeaders & { 'content-type': string },
      // Bounds on what precedes the file: no field over 20 KB, few parts, small part headers.
      limits: { fieldSize: MAX_POST_PRE_DATA, parts: 1000, headerPairs: 100, headerSize: 16 * 1024 },
      // The file is the part named `file`, with or without a filename (a text area sends none);
      // every other part is a field, whatever filename a client puts on it.
      isPartAFile: (name) => name !== undefined && name.toLowerCase() === 'file',
    });
  } catch {
    throw malformedPost();
  }
  let form: ParsedForm | undefined;
  try {
    form = await readForm(ctx.req, bb);
    await store(ctx, bucket, form);
  } catch (e) {
    abandon(ctx.req, bb, form?.file);
    throw e;
  }
}

async function store(ctx: PreAuthContext, bucket: string, form: ParsedForm): Promise<void> {
  // Field names are case-insensitive; a repeated field's values are joined with commas.
  const raw = new Map<string, string>();
  for (const f of form.fields) {
    const n = f.name.toLowerCase();
    raw.set(n, raw.has(n) ? `${raw.get(n)},${f.value}` : f.value);
  }
  const rawGet = (n: string) => raw.get(n);
  if (rawGet('key') === undefined) throw missingField('key');
  const policyText = verifySignature(ctx, rawGet);
  const policy = decodePolicy(policyText);
  ctx.objects.requireBucket(bucket);

  // `${filename}` is expanded in every field before the policy is checked. A file part without a
  // filename parameter leaves it as written (what S3 did when recorded).
  const fields = new Map<string, string>();
  for (const [n, v] of raw) {
    fields.set(n, form.filename === undefined || n === 'policy' || n === 'x-amz-signature' ? v : v.split('${filename}').join(form.filename));
  }
  const get = (n: string) => fields.get(n);
  const range: SizeRange | undefined = checkPolicy(policy, { bucket, fields, now: Date.now() });
  checkCoverage(policy, form.fields.map((f) => f.name));

  const key = get('key')!;
  checkObjectKey(key);
  const headers = pseudoHeaders(fields);
  checkRequestAcl(headers);
  const meta = metaFromRequest(headers);
  const tags = formTags(get('tagging'));
  if (tagCount(tags) > 0) meta.tags = tags;
  const sse = parseSseRequest(headers);
  const digests = expectedDigests(get);

  const max = Math.min(range?.max ?? Infinity, ctx.config.maxObjectSize);
  const min = range?.min ?? 0;
  const body = plainBody(form.file, digests.algorithm ?? 'crc64nvme');
  body.stages.unshift(sizeLimit(max));
  const verifyDigests = body.verify;
  body.verify = () => {
    const v = verifyDigests();
    if (v.size < min) {
      throw new S3Error('EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size', { ProposedSize: String(v.size), MinSizeAllowed: String(min) });
    }
    if ((digests.value !== undefined && v.checksum !== digests.value) || (digests.md5 !== undefined && !digests.md5.equals(v.md5))) {
      throw new S3Error('BadDigest');
    }
    return { ...v, clientChecksum: digests.value !== undefined };
  };
  const { meta: stored, verified } = await ctx.objects.putObject({ bucket, key, body, meta, sse });

  const location = objectLocation(ctx, bucket, key);
  const headersOut: Record<string, string | number> = {
    etag: stored.etag,
    location,
    [checksumHeader(verified.algorithm)]: verified.checksum,
    'x-amz-checksum-type': 'FULL_OBJECT',
  };
  for (const [k, v] of Object.entries(sseHeaders(envelopeOf(stored)))) if (v !== undefined) headersOut[k] = v;

  const redirect = redirectTarget(get('success_action_redirect') ?? get('redirect'));
  if (redirect !== undefined) {
    const query = new URLSearchParams({ bucket, key, etag: stored.etag }).toString();
    ctx.res.writeHead(303, { ...headersOut, location: `${redirect}${redirect.includes('?') ? '&' : '?'}${query}`, 'content-length': 0 });
    ctx.res.end();
    return;
  }
  const status = get('success_action_status');
  if (status === '201') {
    // No namespace on PostResponse in any recorded answer (s3-tests reads Key without one).
    const text = `<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse><Location>${escapeXml(location)}</Location><Bucket>${escapeXml(bucket)}</Bucket><Key>${escapeXml(key)}</Key><ETag>${escapeXml(stored.etag)}</ETag></PostResponse>`;
    ctx.res.writeHead(201, { ...headersOut, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) });
    ctx.res.end(text);
    return;
  }
  const code = status === '200' ? 200 : 204;
  ctx.res.writeHead(code, code === 200 ? { ...headersOut, 'content-length': 0 } : headersOut);
  ctx.res.end();
}
