// Request signing for tests that must build or tamper with requests by hand.
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { request } from 'node:http';

function toBytes(d: string | ArrayBuffer | ArrayBufferView): string | Buffer {
  if (typeof d === 'string') return d;
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

class Sha256 {
  private h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) { this.h = secret ? createHmac('sha256', toBytes(secret)) : createHash('sha256'); }
  update(d: string | ArrayBuffer | ArrayBufferView) { this.h.update(toBytes(d)); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

export function signer(accessKeyId: string, secretAccessKey: string, region = 'akko-local'): SignatureV4 {
  return new SignatureV4({ service: 's3', region, credentials: { accessKeyId, secretAccessKey }, sha256: Sha256, uriEscapePath: false });
}

export interface RawResponse { status: number; headers: Record<string, string | string[] | undefined>; body: string }

export function rawRequest(base: string, method: string, pathAndQuery: string, headers: Record<string, string>, body?: Buffer | string): Promise<RawResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path: pathAndQuery, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: data }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export function errorCode(body: string): string | undefined {
  return /<Code>([^<]+)<\/Code>/.exec(body)?.[1];
}

export function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sha256hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function signingKey(secret: string, date: string, region: string): Buffer {
  return hmac(hmac(hmac(hmac('AWS4' + secret, date), region), 's3'), 'aws4_request');
}

/**
 * Builds a STREAMING-AWS4-HMAC-SHA256-PAYLOAD request (signed chunks) by hand, so tests can
 * tamper with a chunk or its signature.
 */
export async function signedChunkedPut(opts: {
  base: string; path: string; accessKey: string; secret: string; region?: string; chunks: Buffer[];
  tamper?: (frames: Buffer[]) => void; trailer?: { name: string; value: string };
}): Promise<RawResponse> {
  const region = opts.region ?? 'akko-local';
  const u = new URL(opts.base);
  const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/s3/aws4_request`;
  const decoded = opts.chunks.reduce((n, c) => n + c.length, 0);
  const mode = opts.trailer ? 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER' : 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
  const headers: Record<string, string> = {
    host: u.host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': mode,
    'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': String(decoded),
  };
  if (opts.trailer) headers['x-amz-trailer'] = opts.trailer.name;
  const signedNames = Object.keys(headers).sort();
  const canonicalHeaders = signedNames.map((h) => `${h}:${headers[h]}\n`).join('');
  const canonical = ['PUT', opts.path, '', canonicalHeaders, signedNames.join(';'), mode].join('\n');
  const key = signingKey(opts.secret, date, region);
  const seed = hmac(key, ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(canonical)].join('\n')).toString('hex');
  const frames: Buffer[] = [];
  let prev = seed;
  const emptyHash = sha256hex('');
  for (const chunk of [...opts.chunks, Buffer.alloc(0)]) {
    const sig = hmac(key, ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, prev, emptyHash, sha256hex(chunk)].join('\n')).toString('hex');
    prev = sig;
    frames.push(Buffer.concat([Buffer.from(`${chunk.length.toString(16)};chunk-signature=${sig}\r\n`), chunk, Buffer.from(chunk.length ? '\r\n' : '')]));
  }
  if (opts.trailer) {
    const line = `${opts.trailer.name}:${opts.trailer.value}`;
    const tsig = hmac(key, ['AWS4-HMAC-SHA256-TRAILER', amzDate, scope, prev, sha256hex(line + '\n')].join('\n')).toString('hex');
    frames.push(Buffer.from(`${line}\r\nx-amz-trailer-signature:${tsig}\r\n\r\n`));
  } else {
    frames.push(Buffer.from('\r\n'));
  }
  opts.tamper?.(frames);
  const body = Buffer.concat(frames);
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${opts.accessKey}/${scope}, SignedHeaders=${signedNames.join(';')}, Signature=${seed}`;
  headers['content-length'] = String(body.length);
  return rawRequest(opts.base, 'PUT', opts.path, headers, body);
}
