// Streaming decoder for `Content-Encoding: aws-chunked` request bodies:
//
//   hex-size[;chunk-signature=<64hex>]\r\n <data> \r\n   ... repeated
//   0[;chunk-signature=<64hex>]\r\n
//   [name:value\r\n ...] [x-amz-trailer-signature:<64hex>\r\n]      (trailer modes)
//   \r\n
//
// A byte-at-a-time state machine, so chunk headers split across writes at any point are
// fine and nothing but the current chunk is ever held. In the signed modes a chunk's data is
// withheld until its signature checks out, so downstream never sees unauthenticated bytes.

import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '../errors.js';
import { hmacHex, sha256Hex, signaturesEqual, type AuthResult } from './sigv4.js';

export interface ChunkDecoderOptions {
  /** Mode streaming-signed / -signed-trailer / -unsigned-trailer. */
  auth: AuthResult;
  /** From the x-amz-trailer header (lower-case); may be []. */
  declaredTrailers: string[];
  /** From x-amz-decoded-content-length, if sent. */
  decodedLength?: number;
  /** Bound on a single chunk (default 16 MiB). */
  maxChunkSize?: number;
}

const DEFAULT_MAX_CHUNK = 16 * 1024 * 1024;
// Chunk-size lines are ~85 bytes and trailer lines ~60; anything near this is an attack.
const MAX_LINE = 4096;
const MAX_TRAILER_LINES = 32;
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const TRAILER_SIGNATURE = 'x-amz-trailer-signature';
const HEX64 = /^[0-9a-fA-F]{64}$/;
const HEX_SIZE = /^[0-9a-fA-F]{1,16}$/;

const enum State { SizeLine, Data, DataCr, DataLf, Trailer, Done, Failed }

export class AwsChunkedDecoder extends Transform {
  /** Trailing headers (lower-case names), filled once the stream has ended. */
  readonly trailers: Record<string, string> = {};

  private readonly signed: boolean;
  private readonly trailerMode: boolean;
  private readonly declared: Set<string>;
  private readonly decodedLength: number | undefined;
  private readonly maxChunkSize: number;
  private readonly signingKey: Buffer;
  private readonly chunkStsPrefix: string;
  private readonly trailerStsPrefix: string;

  private state = State.SizeLine;
  private readonly line = Buffer.allocUnsafe(MAX_LINE);
  private lineLen = 0;
  private prevSignature: string;
  private chunkRemaining = 0;
  private chunkSignature = '';
  private chunkHash: Hash | undefined;
  private held: Buffer[] = [];
  private decodedBytes = 0;
  private readonly trailerLines: [string, string][] = [];
  private trailerSignature: string | undefined;
  private sawLeadingBlank = false;

  constructor(opts: ChunkDecoderOptions) {
    super();
    const mode = opts.auth.payloadMode;
    if (!mode.startsWith('streaming-')) throw new Error(`AwsChunkedDecoder: not a streaming payload mode: ${mode}`);
    this.signed = mode === 'streaming-signed' || mode === 'streaming-signed-trailer';
    this.trailerMode = mode.endsWith('-trailer');
    this.declared = new Set(opts.declaredTrailers.map((t) => t.trim().toLowerCase()));
    this.decodedLength = opts.decodedLength;
    this.maxChunkSize = opts.maxChunkSize ?? DEFAULT_MAX_CHUNK;
    this.signingKey = opts.auth.signingKey;
    this.prevSignature = opts.auth.seedSignature;
    const { amzDate, scope } = opts.auth;
    this.chunkStsPrefix = `AWS4-HMAC-SHA256-PAYLOAD\n${amzDate}\n${scope}\n`;
    this.trailerStsPrefix = `AWS4-HMAC-SHA256-TRAILER\n${amzDate}\n${scope}\n`;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.state === State.Failed) return cb();
    try {
      this.consume(chunk);
      cb();
    } catch (err) {
      this.state = State.Failed;
      this.held = [];
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (this.state === State.Failed) return cb();
    try {
      if (this.state === State.Trailer) this.endTrailersAtEof();
      if (this.state !== State.Done) throw incomplete('The request body ended before the final aws-chunked chunk.');
      cb();
    } catch (err) {
      this.state = State.Failed;
      cb(err as Error);
    }
  }

  private consume(buf: Buffer): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.state) {
        case State.SizeLine:
        case State.Trailer:
          i = this.readLine(buf, i);
          break;
        case State.Data:
          i = this.readData(buf, i);
          break;
        case State.DataCr:
        case State.DataLf:
          i = this.readDataCrlf(buf, i);
          break;
        case State.Done:
          throw new S3Error('InvalidRequest', 'Unexpected data after the end of the aws-chunked body.');
        case State.Failed:
          return;
      }
    }
  }

  // Lines (chunk headers, trailers) are gathered into a fixed buffer so a line split across
  // writes, even 1 byte per write, reassembles without per-write allocation.
  private readLine(buf: Buffer, start: number): number {
    const nl = buf.indexOf(0x0a, start);
    const end = nl < 0 ? buf.length : nl + 1;
    if (this.lineLen + (end - start) > MAX_LINE) {
      throw new S3Error('InvalidRequest', 'An aws-chunked header line is too long.');
    }
    buf.copy(this.line, this.lineLen, start, end);
    this.lineLen += end - start;
    if (nl < 0) return end;
    const text = this.takeLine();
    if (this.state === State.SizeLine) this.onSizeLine(text);
    else this.onTrailerLine(text);
    return end;
  }

  /** The completed line without its CRLF; a bare LF is not a line ending in aws-chunked. */
  private takeLine(): string {
    const len = this.lineLen;
    this.lineLen = 0;
    if (len < 2 || this.line[len - 2] !== 0x0d) {
      throw this.state === State.Trailer
        ? new S3Error('MalformedTrailerError')
        : new S3Error('InvalidRequest', 'An aws-chunked line is not terminated by CRLF.');
    }
    return this.line.toString('latin1', 0, len - 2);
  }

  private onSizeLine(text: string): void {
    const semi = text.indexOf(';');
    const hex = (semi < 0 ? text : text.slice(0, semi)).trim();
    if (!HEX_SIZE.test(hex)) throw new S3Error('InvalidRequest', 'An aws-chunked chunk size is not valid hexadecimal.');
    const size = parseInt(hex, 16);
    if (size > this.maxChunkSize) {
      throw new S3Error('InvalidRequest', `An aws-chunked chunk exceeds the maximum chunk size of ${this.maxChunkSize} bytes.`);
    }
    this.chunkSignature = this.signed ? chunkSignatureOf(semi < 0 ? '' : text.slice(semi + 1)) : '';
    this.chunkRemaining = size;
    this.addDecoded(size);
    if (size === 0) return this.onFinalChunk();
    this.chunkHash = this.signed ? createHash('sha256') : undefined;
    this.state = State.Data;
  }

  private addDecoded(size: number): void {
    this.decodedBytes += size;
    if (this.decodedLength !== undefined && this.decodedBytes > this.decodedLength) {
      throw incomplete('The aws-chunked body is longer than x-amz-decoded-content-length.');
    }
  }

  private readData(buf: Buffer, start: number): number {
    const n = Math.min(this.chunkRemaining, buf.length - start);
    const piece = buf.subarray(start, start + n);
    this.chunkRemaining -= n;
    if (this.signed) {
      // Held until the chunk signature is verified; subarray, no copy, since a written
      // Buffer must not be mutated by its producer (stream contract).
      this.chunkHash!.update(piece);
      this.held.push(piece);
    } else {
      this.push(piece);
    }
    if (this.chunkRemaining === 0) this.state = State.DataCr;
    return start + n;
  }

  private readDataCrlf(buf: Buffer, i: number): number {
    const want = this.state === State.DataCr ? 0x0d : 0x0a;
    if (buf[i] !== want) throw incomplete('An aws-chunked chunk is not followed by CRLF: its size does not match its data.');
    if (this.state === State.DataCr) {
      this.state = State.DataLf;
    } else {
      this.endChunk();
      this.state = State.SizeLine;
    }
    return i + 1;
  }

  private endChunk(): void {
    if (this.signed) {
      this.verifyChunk(this.chunkHash!.digest('hex'));
      for (const b of this.held) this.push(b);
      this.held = [];
      this.chunkHash = undefined;
    }
  }

  private verifyChunk(dataSha256: string): void {
    const sts = `${this.chunkStsPrefix}${this.prevSignature}\n${EMPTY_SHA256}\n${dataSha256}`;
    const expected = hmacHex(this.signingKey, sts);
    if (!signaturesEqual(expected, this.chunkSignature)) {
      throw new S3Error('SignatureDoesNotMatch', 'The chunk signature we calculated does not match the signature you provided.');
    }
    this.prevSignature = expected;
  }

  private onFinalChunk(): void {
    if (this.signed) this.verifyChunk(EMPTY_SHA256);
    if (this.decodedLength !== undefined && this.decodedBytes !== this.decodedLength) {
      throw incomplete('The aws-chunked body is shorter than x-amz-decoded-content-length.');
    }
    this.state = State.Trailer;
  }

  private onTrailerLine(text: string): void {
    if (text === '') {
      // Some encoders put the final chunk's empty-data CRLF before the trailers; tolerate
      // that one blank line while declared trailers are still to come.
      const nothingYet = this.trailerLines.length === 0 && this.trailerSignature === undefined;
      if (nothingYet && this.declared.size > 0 && !this.sawLeadingBlank) {
        this.sawLeadingBlank = true;
        return;
      }
      return this.endTrailers();
    }
    this.addTrailerLine(text);
  }

  private addTrailerLine(text: string): void {
    const colon = text.indexOf(':');
    if (colon <= 0) throw new S3Error('MalformedTrailerError');
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === TRAILER_SIGNATURE) {
      if (this.trailerSignature !== undefined) throw new S3Error('MalformedTrailerError');
      this.trailerSignature = value;
      return;
    }
    if (this.trailerSignature !== undefined) throw new S3Error('MalformedTrailerError', 'The trailer signature must be the last trailer.');
    if (!this.declared.has(name)) throw new S3Error('MalformedTrailerError', `The trailer ${name} was not declared in x-amz-trailer.`);
    if (this.trailerLines.some(([n]) => n === name)) throw new S3Error('MalformedTrailerError');
    if (this.trailerLines.length >= MAX_TRAILER_LINES) throw new S3Error('MalformedTrailerError');
    this.trailerLines.push([name, value]);
  }

  // Clients that omit the closing blank line are accepted when everything else arrived.
  private endTrailersAtEof(): void {
    if (this.lineLen > 0) {
      let len = this.lineLen;
      if (this.line[len - 1] === 0x0d) len--;
      this.lineLen = 0;
      this.addTrailerLine(this.line.toString('latin1', 0, len));
    }
    this.endTrailers();
  }

  private endTrailers(): void {
    if (!this.trailerMode && (this.trailerLines.length > 0 || this.trailerSignature !== undefined)) {
      throw new S3Error('MalformedTrailerError', 'Trailers were sent without a trailer payload mode.');
    }
    for (const name of this.declared) {
      if (!this.trailerLines.some(([n]) => n === name)) {
        throw new S3Error('MalformedTrailerError', `The declared trailer ${name} was not sent.`);
      }
    }
    if (this.signed && this.trailerMode) this.verifyTrailers();
    for (const [name, value] of this.trailerLines) this.trailers[name] = value;
    this.state = State.Done;
  }

  private verifyTrailers(): void {
    const provided = this.trailerSignature;
    if (provided === undefined) {
      // With nothing declared and nothing sent there is nothing to authenticate.
      if (this.trailerLines.length === 0) return;
      throw new S3Error('MalformedTrailerError', 'The trailer signature is missing.');
    }
    if (!HEX64.test(provided)) throw new S3Error('MalformedTrailerError', 'The trailer signature is malformed.');
    // Signers hash the trailers in the order sent; the canonical (sorted) order is also
    // accepted, in case a signer sorts without sending them sorted.
    const inOrder = this.trailerSignatureFor(this.trailerLines);
    if (signaturesEqual(inOrder, provided)) return;
    const sorted = [...this.trailerLines].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (signaturesEqual(this.trailerSignatureFor(sorted), provided)) return;
    throw new S3Error('SignatureDoesNotMatch', 'The trailer signature we calculated does not match the signature you provided.');
  }

  private trailerSignatureFor(lines: [string, string][]): string {
    const canonical = lines.map(([n, v]) => `${n}:${v}\n`).join('');
    return hmacHex(this.signingKey, `${this.trailerStsPrefix}${this.prevSignature}\n${sha256Hex(canonical)}`);
  }
}

function chunkSignatureOf(extensions: string): string {
  for (const ext of extensions.split(';')) {
    const eq = ext.indexOf('=');
    if (eq > 0 && ext.slice(0, eq).trim() === 'chunk-signature') {
      const sig = ext.slice(eq + 1).trim();
      if (HEX64.test(sig)) return sig;
      break;
    }
  }
  throw new S3Error('InvalidRequest', 'A signed aws-chunked chunk lacks a valid chunk-signature.');
}

function incomplete(message: string): S3Error {
  return new S3Error('IncompleteBody', message);
}
