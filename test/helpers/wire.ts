// Replays a client's HTTP request byte for byte: method, path, query, headers and the payload
// mode (the x-amz-content-sha256 value and the body framing that goes with it), signed with
// SigV4 by hand so that nothing an SDK would add or normalise slips in. Used by the
// test/consumers/ tests that stand in for JVM clients (Hadoop s3a, Trino, Iceberg), which
// cannot run here.
//
// What the AWS SDK for Java v2 (http-auth-aws DefaultAwsV4HttpSigner, S3 auth scheme
// provider) sends, and so what the profiles below reproduce:
// - PutObject and UploadPart carry CHUNK_ENCODING_ENABLED=true; every other S3 operation does not.
// - Payload signing is on whenever the endpoint is plain http (`isPayloadSigningEnabled ||
//   !isEncrypted`), so over http a PutObject/UploadPart body is sent as signed aws-chunked
//   frames of 128 KiB (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or ...-PAYLOAD-TRAILER when a
//   flexible checksum is computed) and every other request carries the hex SHA-256 of its body.
// - Over https (TLS terminated in front of the server) PutObject/UploadPart use
//   STREAMING-UNSIGNED-PAYLOAD-TRAILER when a flexible checksum is computed, else UNSIGNED-PAYLOAD,
//   and every other request UNSIGNED-PAYLOAD.
// - StreamingRequestInterceptor adds `Expect: 100-continue` to PutObject/UploadPart with a
//   non-zero length; the Apache client then waits for the 100 before sending the body.
import { createHash, createHmac, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { crc32 } from 'node:zlib';
import { XMLParser } from 'fast-xml-parser';
import type { TestServer } from './server.js';

export type PayloadMode =
  | 'sha256' // hex SHA-256 of the whole body in x-amz-content-sha256
  | 'unsigned' // UNSIGNED-PAYLOAD
  | 'streaming-signed' // STREAMING-AWS4-HMAC-SHA256-PAYLOAD
  | 'streaming-signed-trailer' // STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER
  | 'streaming-unsigned-trailer'; // STREAMING-UNSIGNED-PAYLOAD-TRAILER

const CONTENT_SHA256: Record<Exclude<PayloadMode, 'sha256'>, string> = {
  unsigned: 'UNSIGNED-PAYLOAD',
  'streaming-signed': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'streaming-signed-trailer': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  'streaming-unsigned-trailer': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
};

export interface WireRequest {
  method: string;
  bucket?: string;
  key?: string;
  /** In wire order. A null value is sent as a bare name (`?uploads`), '' as `name=`. */
  query?: [string, string | null][];
  /** Extra headers, lower-case names. */
  headers?: Record<string, string>;
  body?: Buffer | string;
  payload: PayloadMode;
  /** aws-chunked frame size; the Java SDK v2 uses 128 KiB. */
  chunkSize?: number;
  /** Trailing checksum algorithm for the *-TRAILER modes. */
  trailer?: 'crc32';
  /** Send this trailer value instead of the body's real checksum (a corrupted upload). */
  trailerValue?: string;
  /** Send `Expect: 100-continue` and hold the body until the server says 100. */
  expectContinue?: boolean;
  region?: string;
  /** Headers sent but left out of SignedHeaders (the Java SDK never signs these). */
  unsignedHeaders?: Record<string, string>;
  /** Drop the connection once this many body bytes arrived (a reader's abort()). */
  abortAfterBytes?: number;
}

export interface WireResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
  /** The server answered `100 Continue` before the final response. */
  continued: boolean;
}

/** RFC 3986 encoding as the Java SDK's SdkHttpUtils.urlEncode does it. */
export function uriEncode(s: string, keepSlash = false): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export function sha256hex(d: Buffer | string): string {
  return createHash('sha256').update(d).digest('hex');
}

export function md5b64(d: Buffer | string): string {
  return createHash('md5').update(d).digest('base64');
}

export function md5hex(d: Buffer | string): string {
  return createHash('md5').update(d).digest('hex');
}

export function crc32b64(d: Buffer | string): string {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(crc32(typeof d === 'string' ? Buffer.from(d) : d) >>> 0);
  return b.toString('base64');
}

/** The multipart ETag: MD5 of the concatenated binary part MD5s, then -N. */
export function multipartEtag(parts: Buffer[]): string {
  const h = createHash('md5');
  for (const p of parts) h.update(createHash('md5').update(p).digest());
  return `"${h.digest('hex')}-${parts.length}"`;
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function amzDateNow(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function chunkSplit(body: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.subarray(i, i + size));
  return out;
}

export async function send(server: TestServer, r: WireRequest): Promise<WireResponse> {
  const region = r.region ?? server.region;
  const u = new URL(server.s3);
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body);
  const amzDate = amzDateNow();
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/s3/aws4_request`;
  const key = hmac(hmac(hmac(hmac('AWS4' + server.secretKey, date), region), 's3'), 'aws4_request');

  let path = '/';
  if (r.bucket !== undefined) path += r.bucket;
  if (r.key !== undefined) path += '/' + uriEncode(r.key, true);
  const query = r.query ?? [];
  const wireQuery = query.map(([k, v]) => (v === null ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(v)}`)).join('&');
  const canonicalQuery = query
    .map(([k, v]) => [uriEncode(k), uriEncode(v ?? '')] as const)
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');

  const headers: Record<string, string> = { host: u.host, 'x-amz-date': amzDate, ...(r.headers ?? {}) };
  const streaming = r.payload.startsWith('streaming');
  const chunkSize = r.chunkSize ?? 128 * 1024;
  let contentSha: string;
  if (r.payload === 'sha256') contentSha = sha256hex(body);
  else contentSha = CONTENT_SHA256[r.payload];
  headers['x-amz-content-sha256'] = contentSha;
  const trailerName = r.trailer ? `x-amz-checksum-${r.trailer}` : undefined;
  if (streaming) {
    headers['content-encoding'] = headers['content-encoding'] ? `aws-chunked,${headers['content-encoding']}` : 'aws-chunked';
    headers['x-amz-decoded-content-length'] = String(body.length);
    if (r.payload.endsWith('trailer')) {
      if (!trailerName) throw new Error('a trailer payload mode needs a trailer algorithm');
      headers['x-amz-trailer'] = trailerName;
    }
  }

  // Frame the body first, so that Content-Length (which the Java SDK signs) is known.
  const chunks = streaming ? [...chunkSplit(body, chunkSize), Buffer.alloc(0)] : [];
  const signedFrames = r.payload === 'streaming-signed' || r.payload === 'streaming-signed-trailer';
  // Signed frames need the seed signature: compute a placeholder-length frame layout first.
  const sigLen = 64;
  let encodedLength = body.length;
  if (streaming) {
    encodedLength = 0;
    for (const c of chunks) {
      const head = c.length.toString(16) + (signedFrames ? `;chunk-signature=${'0'.repeat(sigLen)}` : '') + '\r\n';
      encodedLength += head.length + c.length + (c.length > 0 ? 2 : 0);
    }
    if (trailerName) {
      const line = `${trailerName}:${r.trailerValue ?? crc32b64(body)}\r\n`;
      encodedLength += line.length + (signedFrames ? `x-amz-trailer-signature:${'0'.repeat(sigLen)}\r\n`.length : 0) + 2;
    } else {
      encodedLength += 2;
    }
  }
  if (body.length > 0 || streaming || ['PUT', 'POST'].includes(r.method)) headers['content-length'] = String(encodedLength);

  const signedNames = Object.keys(headers).map((h) => h.toLowerCase()).sort();
  const lower: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v;
  const canonicalHeaders = signedNames.map((h) => `${h}:${lower[h]!.trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [r.method, path, canonicalQuery, canonicalHeaders, signedNames.join(';'), contentSha].join('\n');
  const seed = hmac(key, ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonical)].join('\n')).toString('hex');
  lower.authorization = `AWS4-HMAC-SHA256 Credential=${server.accessKey}/${scope}, SignedHeaders=${signedNames.join(';')}, Signature=${seed}`;

  let wireBody = body;
  if (streaming) {
    const frames: Buffer[] = [];
    let prev = seed;
    const emptyHash = sha256hex('');
    for (const c of chunks) {
      let head = c.length.toString(16);
      if (signedFrames) {
        const sig = hmac(key, ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, emptyHash, sha256hex(c)].join('\n')).toString('hex');
        prev = sig;
        head += `;chunk-signature=${sig}`;
      }
      frames.push(Buffer.from(head + '\r\n'), c, Buffer.from(c.length > 0 ? '\r\n' : ''));
    }
    if (trailerName) {
      const line = `${trailerName}:${r.trailerValue ?? crc32b64(body)}`;
      frames.push(Buffer.from(line + '\r\n'));
      if (signedFrames) {
        const tsig = hmac(key, ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, prev, sha256hex(line + '\n')].join('\n')).toString('hex');
        frames.push(Buffer.from(`x-amz-trailer-signature:${tsig}\r\n`));
      }
      frames.push(Buffer.from('\r\n'));
    } else {
      frames.push(Buffer.from('\r\n'));
    }
    wireBody = Buffer.concat(frames);
    if (wireBody.length !== encodedLength) throw new Error(`frame length ${wireBody.length} != ${encodedLength}`);
  }

  const sendHeaders: Record<string, string> = { ...lower, ...(r.unsignedHeaders ?? {}) };
  if (r.expectContinue) sendHeaders.expect = '100-continue';
  return new Promise<WireResponse>((resolve, reject) => {
    let continued = false;
    const req = request({ host: u.hostname, port: u.port, method: r.method, path: wireQuery ? `${path}?${wireQuery}` : path, headers: sendHeaders, agent: false }, (res) => {
      const parts: Buffer[] = [];
      let received = 0;
      res.on('data', (d: Buffer) => {
        parts.push(d);
        received += d.length;
        if (r.abortAfterBytes !== undefined && received >= r.abortAfterBytes) {
          res.destroy();
          req.destroy();
          const b = Buffer.concat(parts);
          resolve({ status: res.statusCode!, headers: res.headers, body: b, text: '', continued });
        }
      });
      res.on('end', () => {
        // A final answer instead of the 100: the body was never sent, so drop the connection.
        if (r.expectContinue && !continued) req.destroy();
        const b = Buffer.concat(parts);
        resolve({ status: res.statusCode!, headers: res.headers, body: b, text: b.toString('utf8'), continued });
      });
      res.on('error', reject);
    });
    req.on('error', (e) => { if (r.abortAfterBytes === undefined) reject(e); });
    if (r.expectContinue) {
      // Like the Apache client: the body goes only after `100 Continue`; a final answer instead
      // of the 100 means the body is never sent.
      req.on('continue', () => {
        continued = true;
        req.end(wireBody);
      });
      req.flushHeaders();
    } else {
      req.end(wireBody);
    }
  });
}

const parser = new XMLParser({ ignoreAttributes: true, parseTagValue: false, isArray: (name) => ['Contents', 'CommonPrefixes', 'Deleted', 'Error', 'Part', 'Upload', 'Bucket', 'Tag'].includes(name) });

/** The XML document's root element, with repeated elements as arrays and values as strings. */
export function xml(text: string): Record<string, any> {
  const doc = parser.parse(text);
  const root = Object.keys(doc).find((k) => k !== '?xml');
  if (!root) throw new Error(`no XML root in: ${text.slice(0, 200)}`);
  return { $root: root, ...(doc[root] ?? {}) };
}

export function errorCode(r: WireResponse): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(r.text)?.[1];
}

/** What a JVM client's status line + error code look like in an assertion message. */
export function outcome(r: WireResponse): string {
  return `${r.status}${errorCode(r) ? ' ' + errorCode(r) : ''}`;
}

/** Headers every Java SDK v2 request carries (signed, since the v2 signer signs them). */
export function javaSdkHeaders(attempt = 1): Record<string, string> {
  return { 'amz-sdk-invocation-id': randomUUID(), 'amz-sdk-request': `attempt=${attempt}; max=4` };
}

/** The S3 XML payloads as the Java SDK v2 marshals them. */
/** `quiet` undefined: no <Quiet> element, as when the request leaves it unset. */
export function deleteXml(keys: string[], quiet?: boolean): string {
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return `<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${keys.map((k) => `<Object><Key>${esc(k)}</Key></Object>`).join('')}${quiet === undefined ? '' : `<Quiet>${quiet}</Quiet>`}</Delete>`;
}

export function completeXml(parts: { PartNumber: number; ETag: string }[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.map((p) => `<Part><ETag>${p.ETag}</ETag><PartNumber>${p.PartNumber}</PartNumber></Part>`).join('')}</CompleteMultipartUpload>`;
}

/** Deterministic pseudo-random bytes (so a failure is reproducible). */
export function bytes(n: number, seed = 1): Buffer {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}
