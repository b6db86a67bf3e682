import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { crc32, crc32c } from '@node-rs/crc32';
import { AwsChunkedDecoder, type ChunkDecoderOptions } from '../../src/s3/auth/chunked.js';
import { verifySigV4, type AuthResult } from '../../src/s3/auth/sigv4.js';
import { S3Error } from '../../src/s3/errors.js';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const lookup = (id: string) => (id === AKID ? SECRET : undefined);
const T2013 = Date.UTC(2013, 4, 24);
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

// The example of "Signature Calculations for the Authorization Header: Transferring Payload in
// Multiple Chunks": 65536 + 1024 bytes of 'a', and its documented signatures.
const SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const SIGS = [
  'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
  '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
  'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
];
// ... and of "Signature calculations for trailing headers (chunked uploads)".
const TRAILER_SEED = '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e';
const TRAILER_SIGS = [
  'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2',
  '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7',
  '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992',
];
const TRAILER_SIG = 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435';
const DATA = Buffer.alloc(66560, 'a');

function seedAuth(): AuthResult {
  const headers = {
    host: 's3.amazonaws.com',
    'x-amz-date': '20130524T000000Z',
    'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': '66560',
    'content-length': '66824',
    authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=${SEED}`,
  };
  return verifySigV4({ method: 'PUT', path: '/examplebucket/chunkObject.txt', query: '', headers }, lookup, T2013)!;
}

function trailerAuth(): AuthResult {
  return { ...seedAuth(), payloadMode: 'streaming-signed-trailer', seedSignature: TRAILER_SEED };
}

function unsignedAuth(): AuthResult {
  return { ...seedAuth(), payloadMode: 'streaming-unsigned-trailer', seedSignature: '' };
}

function signedBody(sigs: string[] = SIGS): Buffer {
  return Buffer.concat([
    Buffer.from(`10000;chunk-signature=${sigs[0]}\r\n`), DATA.subarray(0, 65536), Buffer.from('\r\n'),
    Buffer.from(`400;chunk-signature=${sigs[1]}\r\n`), DATA.subarray(65536), Buffer.from('\r\n'),
    Buffer.from(`0;chunk-signature=${sigs[2]}\r\n\r\n`),
  ]);
}

function trailerBody(trailer = 'x-amz-checksum-crc32c:sOO8/Q==\r\n', signature = TRAILER_SIG): Buffer {
  const body = signedBody(TRAILER_SIGS);
  return Buffer.concat([
    body.subarray(0, body.length - 2), // the final chunk header ends at its CRLF; trailers follow
    Buffer.from(`${trailer}x-amz-trailer-signature:${signature}\r\n\r\n`),
  ]);
}

interface Outcome { data: Buffer; error?: unknown; decoder: AwsChunkedDecoder; emittedBeforeError: number }

/** Feeds `body` in pieces of `step` bytes; collects what the decoder lets through. */
async function decode(opts: ChunkDecoderOptions, body: Buffer, step = body.length): Promise<Outcome> {
  const decoder = new AwsChunkedDecoder(opts);
  // Counted at push(), not at 'data': buffered output is dropped when the stream errors,
  // and what matters is what the decoder released, not what the consumer got to see.
  let pushed = 0;
  const push = decoder.push.bind(decoder);
  decoder.push = (c: Buffer | null) => {
    if (c) pushed += c.length;
    return push(c);
  };
  const out: Buffer[] = [];
  decoder.on('data', (b: Buffer) => out.push(b));
  const done = new Promise<unknown>((resolve) => {
    decoder.on('end', () => resolve(undefined));
    decoder.on('error', resolve);
  });
  for (let i = 0; i < body.length; i += step) {
    if (!decoder.write(body.subarray(i, i + step))) {
      // An errored stream never drains.
      await Promise.race([new Promise((r) => decoder.once('drain', r)), done]);
    }
    if (decoder.destroyed || decoder.errored) break;
  }
  if (!decoder.destroyed) decoder.end();
  const error = await done;
  const data = Buffer.concat(out);
  return { data, error, decoder, emittedBeforeError: pushed };
}

function code(e: unknown): string {
  if (e instanceof S3Error) return e.code;
  throw new Error(`expected an S3Error, got ${String(e)}`);
}

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD (AWS example)', () => {
  it('the documented chunk signatures are correct (independent computation)', () => {
    // Guards the vectors themselves: chunk 1 from the seed, by hand.
    const key = seedAuth().signingKey;
    const sts = `AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n${SEED}\n${EMPTY}\n`
      + createHash('sha256').update(DATA.subarray(0, 65536)).digest('hex');
    expect(createHmac('sha256', key).update(sts).digest('hex')).toBe(SIGS[0]);
  });

  for (const step of [1, 7, 85, 86, 4096, 65537, Infinity]) {
    it(`decodes with ${step === Infinity ? 'one write' : `${step}-byte writes`}`, async () => {
      const body = signedBody();
      const r = await decode({ auth: seedAuth(), declaredTrailers: [], decodedLength: 66560 }, body, step === Infinity ? body.length : step);
      expect(r.error).toBeUndefined();
      expect(r.data.equals(DATA)).toBe(true);
      expect(r.decoder.trailers).toEqual({});
    });
  }

  it('a tampered chunk signature fails, and nothing of that chunk is emitted', async () => {
    const bad = [SIGS[0]!.replace(/^a/, 'b'), SIGS[1]!, SIGS[2]!];
    const r = await decode({ auth: seedAuth(), declaredTrailers: [] }, signedBody(bad), 1);
    expect(code(r.error)).toBe('SignatureDoesNotMatch');
    expect(r.emittedBeforeError).toBe(0);
  });

  it('a tampered data byte in chunk 2 fails; only the verified chunk 1 was emitted', async () => {
    const body = signedBody();
    const at = body.indexOf('400;chunk-signature') + 90;
    body[at] = 0x62;
    const r = await decode({ auth: seedAuth(), declaredTrailers: [] }, body, 1000);
    expect(code(r.error)).toBe('SignatureDoesNotMatch');
    expect(r.emittedBeforeError).toBe(65536);
  });

  it('a tampered final (empty) chunk signature fails', async () => {
    const r = await decode({ auth: seedAuth(), declaredTrailers: [] }, signedBody([SIGS[0]!, SIGS[1]!, SIGS[0]!]));
    expect(code(r.error)).toBe('SignatureDoesNotMatch');
  });

  it('chunks replayed out of order fail (signatures chain)', async () => {
    const swapped = Buffer.concat([
      Buffer.from(`400;chunk-signature=${SIGS[1]}\r\n`), DATA.subarray(65536), Buffer.from('\r\n'),
      Buffer.from(`0;chunk-signature=${SIGS[2]}\r\n\r\n`),
    ]);
    const r = await decode({ auth: seedAuth(), declaredTrailers: [] }, swapped);
    expect(code(r.error)).toBe('SignatureDoesNotMatch');
  });

  it('a body cut before the final chunk is IncompleteBody', async () => {
    const body = signedBody();
    const cut = body.subarray(0, body.lastIndexOf('\r\n0;chunk-signature') + 2);
    const r = await decode({ auth: seedAuth(), declaredTrailers: [] }, cut, 100);
    expect(code(r.error)).toBe('IncompleteBody');
    expect(r.emittedBeforeError).toBe(66560);
    const mid = await decode({ auth: seedAuth(), declaredTrailers: [] }, body.subarray(0, 5000));
    expect(code(mid.error)).toBe('IncompleteBody');
  });

  it('x-amz-decoded-content-length must match the decoded data', async () => {
    const short = await decode({ auth: seedAuth(), declaredTrailers: [], decodedLength: 66561 }, signedBody());
    expect(code(short.error)).toBe('IncompleteBody');
    const long = await decode({ auth: seedAuth(), declaredTrailers: [], decodedLength: 1000 }, signedBody());
    expect(code(long.error)).toBe('IncompleteBody');
    expect(long.emittedBeforeError).toBe(0);
  });

  it('a chunk size that disagrees with its data is IncompleteBody', async () => {
    const body = signedBody();
    body.write('3ff', body.indexOf('400;chunk-signature'), 'latin1');
    const r = await decode({ auth: seedAuth(), declaredTrailers: [] }, body);
    expect(code(r.error)).toBe('IncompleteBody');
  });

  it('a chunk above maxChunkSize is refused before its data is read', async () => {
    const r = await decode({ auth: seedAuth(), declaredTrailers: [], maxChunkSize: 65535 }, signedBody());
    expect(code(r.error)).toBe('InvalidRequest');
    expect(r.emittedBeforeError).toBe(0);
  });

  it('malformed framing: missing signature, bad hex, no CRLF, overlong line, data after the end', async () => {
    const auth = seedAuth();
    const noSig = Buffer.from('1\r\na\r\n0\r\n\r\n');
    expect(code((await decode({ auth, declaredTrailers: [] }, noSig)).error)).toBe('InvalidRequest');
    const badHex = Buffer.from(`zz;chunk-signature=${SIGS[0]}\r\n`);
    expect(code((await decode({ auth, declaredTrailers: [] }, badHex)).error)).toBe('InvalidRequest');
    const bareLf = await decode({ auth: unsignedAuth(), declaredTrailers: [] }, Buffer.from('5\nhello\r\n0\r\n\r\n'));
    expect(code(bareLf.error)).toBe('InvalidRequest');
    expect((bareLf.error as Error).message).toMatch(/CRLF/);
    const long = await decode({ auth, declaredTrailers: [] }, Buffer.from(`1;${'x'.repeat(5000)}\r\n`), 10);
    expect(code(long.error)).toBe('InvalidRequest');
    expect((long.error as Error).message).toMatch(/too long/);
    const extra = Buffer.concat([signedBody(), Buffer.from('junk')]);
    expect(code((await decode({ auth, declaredTrailers: [] }, extra)).error)).toBe('InvalidRequest');
  });

  it('trailers are refused in a mode without trailers', async () => {
    const body = signedBody();
    const withTrailer = Buffer.concat([body.subarray(0, body.length - 2), Buffer.from('x-amz-checksum-crc32:AAAAAA==\r\n\r\n')]);
    const r = await decode({ auth: seedAuth(), declaredTrailers: ['x-amz-checksum-crc32'] }, withTrailer);
    expect(code(r.error)).toBe('MalformedTrailerError');
  });
});

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER (AWS example)', () => {
  const opts = (): ChunkDecoderOptions => ({ auth: trailerAuth(), declaredTrailers: ['x-amz-checksum-crc32c'], decodedLength: 66560 });

  it('the documented trailer checksum is the CRC32C of the data', () => {
    const be = Buffer.alloc(4);
    be.writeUInt32BE(crc32c(DATA));
    expect(be.toString('base64')).toBe('sOO8/Q==');
  });

  for (const step of [1, 13, Infinity]) {
    it(`decodes data, trailer and trailer signature (${step === Infinity ? 'one write' : `${step}-byte writes`})`, async () => {
      const body = trailerBody();
      const r = await decode(opts(), body, step === Infinity ? body.length : step);
      expect(r.error).toBeUndefined();
      expect(r.data.equals(DATA)).toBe(true);
      expect(r.decoder.trailers).toEqual({ 'x-amz-checksum-crc32c': 'sOO8/Q==' });
    });
  }

  it('spaces around the trailer value are not part of what is signed', async () => {
    const r = await decode(opts(), trailerBody('x-amz-checksum-crc32c: sOO8/Q== \r\n'));
    expect(r.error).toBeUndefined();
    expect(r.decoder.trailers['x-amz-checksum-crc32c']).toBe('sOO8/Q==');
  });

  it('a changed trailer value fails the trailer signature', async () => {
    const r = await decode(opts(), trailerBody('x-amz-checksum-crc32c:sOO8/Q=A\r\n'));
    expect(code(r.error)).toBe('SignatureDoesNotMatch');
    expect(r.decoder.trailers).toEqual({});
  });

  it('a tampered trailer signature fails', async () => {
    const r = await decode(opts(), trailerBody(undefined, TRAILER_SIG.replace(/^d/, 'e')));
    expect(code(r.error)).toBe('SignatureDoesNotMatch');
  });

  it('a missing trailer signature is MalformedTrailerError', async () => {
    const body = signedBody(TRAILER_SIGS);
    const unsignedTrailer = Buffer.concat([body.subarray(0, body.length - 2), Buffer.from('x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n')]);
    expect(code((await decode(opts(), unsignedTrailer)).error)).toBe('MalformedTrailerError');
  });

  it('a declared trailer that never comes is MalformedTrailerError', async () => {
    const body = signedBody(TRAILER_SIGS);
    const r = await decode(opts(), body);
    expect(code(r.error)).toBe('MalformedTrailerError');
  });

  it('an undeclared trailer is MalformedTrailerError', async () => {
    const r = await decode({ ...opts(), declaredTrailers: ['x-amz-checksum-crc32'] }, trailerBody());
    expect(code(r.error)).toBe('MalformedTrailerError');
  });

  it('a trailer line without a colon is MalformedTrailerError', async () => {
    const r = await decode(opts(), trailerBody('x-amz-checksum-crc32c sOO8/Q==\r\n'));
    expect(code(r.error)).toBe('MalformedTrailerError');
  });

  it('a body without the closing blank line is accepted when everything else arrived', async () => {
    const body = trailerBody();
    const r = await decode(opts(), body.subarray(0, body.length - 2), 1);
    expect(r.error).toBeUndefined();
    expect(r.decoder.trailers['x-amz-checksum-crc32c']).toBe('sOO8/Q==');
  });
});

describe('STREAMING-UNSIGNED-PAYLOAD-TRAILER', () => {
  function crcB64(data: Buffer): string {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(crc32(data));
    return b.toString('base64');
  }

  // The framing of @aws-sdk/client-s3 and botocore: no chunk signatures, trailer after "0\r\n".
  function sdkBody(data: Buffer, chunk: number): Buffer {
    const parts: Buffer[] = [];
    for (let i = 0; i < data.length; i += chunk) {
      const piece = data.subarray(i, i + chunk);
      parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n'));
    }
    parts.push(Buffer.from(`0\r\nx-amz-checksum-crc32:${crcB64(data)}\r\n\r\n`));
    return Buffer.concat(parts);
  }

  const payload = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 31) & 0xff));

  it('decodes and exposes the checksum trailer, in 1-byte writes too', async () => {
    for (const step of [1, 1000, 1 << 20]) {
      const r = await decode({ auth: unsignedAuth(), declaredTrailers: ['x-amz-checksum-crc32'], decodedLength: payload.length }, sdkBody(payload, 65536), step);
      expect(r.error).toBeUndefined();
      expect(r.data.equals(payload)).toBe(true);
      expect(r.decoder.trailers).toEqual({ 'x-amz-checksum-crc32': crcB64(payload) });
    }
  });

  it('an empty body: just the final chunk and the trailer', async () => {
    const r = await decode({ auth: unsignedAuth(), declaredTrailers: ['x-amz-checksum-crc32'], decodedLength: 0 }, sdkBody(Buffer.alloc(0), 1));
    expect(r.error).toBeUndefined();
    expect(r.data.length).toBe(0);
    expect(r.decoder.trailers['x-amz-checksum-crc32']).toBe('AAAAAA==');
  });

  it('missing final chunk and missing trailer are told apart', async () => {
    const body = sdkBody(payload, 65536);
    const cut = body.subarray(0, body.lastIndexOf('0\r\nx-amz'));
    expect(code((await decode({ auth: unsignedAuth(), declaredTrailers: ['x-amz-checksum-crc32'] }, cut)).error)).toBe('IncompleteBody');
    const noTrailer = Buffer.concat([cut, Buffer.from('0\r\n\r\n')]);
    expect(code((await decode({ auth: unsignedAuth(), declaredTrailers: ['x-amz-checksum-crc32'] }, noTrailer)).error))
      .toBe('MalformedTrailerError');
  });

  it('an undeclared extra trailer is MalformedTrailerError', async () => {
    const data = Buffer.from('hello');
    const body = Buffer.from(`5\r\nhello\r\n0\r\nx-amz-checksum-crc32:${crcB64(data)}\r\nx-amz-meta-late:1\r\n\r\n`);
    const r = await decode({ auth: unsignedAuth(), declaredTrailers: ['x-amz-checksum-crc32'] }, body);
    expect(code(r.error)).toBe('MalformedTrailerError');
  });

  it('a last trailer line cut before its CRLF is still read at the end of the body', async () => {
    const data = Buffer.from('hello');
    const body = Buffer.from(`5\r\nhello\r\n0\r\nx-amz-checksum-crc32:${crcB64(data)}`);
    const r = await decode({ auth: unsignedAuth(), declaredTrailers: ['x-amz-checksum-crc32'] }, body, 3);
    expect(r.error).toBeUndefined();
    expect(r.decoder.trailers['x-amz-checksum-crc32']).toBe(crcB64(data));
  });

  it('tolerates a blank line between the final chunk and the trailers', async () => {
    const data = Buffer.from('hello');
    const body = Buffer.from(`5\r\nhello\r\n0\r\n\r\nx-amz-checksum-crc32:${crcB64(data)}\r\n\r\n`);
    const r = await decode({ auth: unsignedAuth(), declaredTrailers: ['x-amz-checksum-crc32'] }, body);
    expect(r.error).toBeUndefined();
    expect(r.decoder.trailers['x-amz-checksum-crc32']).toBe(crcB64(data));
  });

  it('refuses a non-streaming payload mode at construction', () => {
    expect(() => new AwsChunkedDecoder({ auth: { ...seedAuth(), payloadMode: 'unsigned' }, declaredTrailers: [] })).toThrow();
  });
});

// ---------------------------------------------------------------------------------------------

interface Captured { url: string; headers: IncomingHttpHeaders; body: Buffer }

describe('a PutObject stream sent by @aws-sdk/client-s3', () => {
  let server: Server;
  let client: S3Client;
  let last: Captured | undefined;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        last = { url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
        res.writeHead(200, { etag: '"x"' });
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new S3Client({
      region: 'us-west-2',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: AKID, secretAccessKey: SECRET },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    client.destroy();
    await new Promise((r) => server.close(r));
  });

  it('verifies and decodes, with the CRC32 trailer the SDK computed', async () => {
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff));
    const pieces = [data.subarray(0, 100_000), data.subarray(100_000, 250_000), data.subarray(250_000)];
    await client.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: Readable.from(pieces), ContentLength: data.length }));
    const req = last!;
    const q = req.url.indexOf('?');
    const auth = verifySigV4({ method: 'PUT', path: req.url.slice(0, q), query: req.url.slice(q + 1), headers: req.headers }, lookup)!;
    expect(auth.payloadMode).toBe('streaming-unsigned-trailer');
    const declared = String(req.headers['x-amz-trailer']).split(',').map((s) => s.trim());
    const r = await decode({ auth, declaredTrailers: declared, decodedLength: Number(req.headers['x-amz-decoded-content-length']) }, req.body, 4093);
    expect(r.error).toBeUndefined();
    expect(r.data.equals(data)).toBe(true);
    const be = Buffer.alloc(4);
    be.writeUInt32BE(crc32(data));
    expect(r.decoder.trailers).toEqual({ 'x-amz-checksum-crc32': be.toString('base64') });
  });
});
