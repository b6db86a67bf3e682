// A lean S3 client for benchmarks: node:http with keep-alive and SigV4 header auth with
// UNSIGNED-PAYLOAD, so the numbers show the server, not an SDK's middleware.
import { createHash, createHmac } from 'node:crypto';
import { Agent, request, type IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { SignatureV4 } from '@smithy/signature-v4';

function toBytes(d: string | ArrayBuffer | ArrayBufferView): string | Buffer {
  if (typeof d === 'string') return d;
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

class Sha256 {
  private h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret ? createHmac('sha256', toBytes(secret)) : createHash('sha256');
  }
  update(d: string | ArrayBuffer | ArrayBufferView) { this.h.update(toBytes(d)); }
  async digest() { return new Uint8Array(this.h.digest()); }
}

export interface LeanResponse { status: number; headers: IncomingMessage['headers']; bytes: number; body?: Buffer }

export class LeanClient {
  private agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private signer: SignatureV4;
  private url: URL;

  constructor(endpoint: string, accessKeyId: string, secretAccessKey: string, region = 'akko-local') {
    this.url = new URL(endpoint);
    this.signer = new SignatureV4({ service: 's3', region, credentials: { accessKeyId, secretAccessKey }, sha256: Sha256, uriEscapePath: false });
  }

  async send(method: string, path: string, opts: { query?: Record<string, string>; headers?: Record<string, string>; body?: Buffer | Readable; keepBody?: boolean } = {}): Promise<LeanResponse> {
    const headers: Record<string, string> = { host: this.url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', ...opts.headers };
    if (Buffer.isBuffer(opts.body)) headers['content-length'] = String(opts.body.length);
    const signed = await this.signer.sign({ method, protocol: 'http:', hostname: this.url.hostname, port: Number(this.url.port), path, query: opts.query ?? {}, headers });
    const qs = new URLSearchParams(opts.query ?? {}).toString().replace(/\+/g, '%20');
    return new Promise((resolve, reject) => {
      const req = request({ host: this.url.hostname, port: this.url.port, method, path: path + (qs ? `?${qs}` : ''), headers: signed.headers as Record<string, string>, agent: this.agent }, (res) => {
        let bytes = 0;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => { bytes += c.length; if (opts.keepBody) chunks.push(c); });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, body: opts.keepBody ? Buffer.concat(chunks) : undefined }));
        res.on('error', reject);
      });
      req.on('error', reject);
      if (Buffer.isBuffer(opts.body)) req.end(opts.body);
      else if (opts.body) opts.body.pipe(req);
      else req.end();
    });
  }

  destroy(): void { this.agent.destroy(); }
}
