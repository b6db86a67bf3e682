// The request body as the object service consumes it: the socket, then the aws-chunked
// decoder (signed or unsigned, with trailers) when the client used one, then the digester
// that computes MD5 (ETag) and the flexible checksum. `verify()` runs once the body has been
// read and turns any mismatch into the S3 error AWS returns.
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AwsChunkedDecoder } from './auth/chunked.js';
import {
  BodyDigester,
  parseChecksumHeaders,
  trailerNames,
  verifyChecksums,
  type ChecksumAlgorithm,
  type ExpectedChecksums,
} from './checksums.js';
import type { S3Context } from './context.js';
import { S3Error } from './errors.js';

export interface VerifiedBody {
  size: number;
  md5: Buffer;
  /** The flexible checksum kept with the object (client-sent or CRC64NVME by default). */
  algorithm: ChecksumAlgorithm;
  checksum: string;
  /** True when the client supplied the checksum (header or trailer). */
  clientChecksum: boolean;
}

export interface RequestBody {
  source: Readable;
  stages: Transform[];
  /** Plaintext length when known up front (Content-Length or x-amz-decoded-content-length). */
  length?: number;
  verify(): VerifiedBody;
}

function header(ctx: S3Context, name: string): string | undefined {
  const v = ctx.req.headers[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** A body of unknown length (chunked) is cut off as soon as it passes the limit, not after. */
function sizeLimit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) return cb(new S3Error('EntityTooLarge', undefined, { MaxSizeAllowed: String(max) }));
      cb(null, chunk);
    },
  });
}

export function openRequestBody(ctx: S3Context, opts: { maxSize: number; requireLength?: boolean }): RequestBody {
  const mode = ctx.auth.payloadMode;
  const streaming = mode.startsWith('streaming');
  const contentLength = header(ctx, 'content-length');
  const chunked = /chunked/i.test(header(ctx, 'transfer-encoding') ?? '');
  if (contentLength === undefined && !chunked && opts.requireLength !== false) throw new S3Error('MissingContentLength');
  const decodedHeader = header(ctx, 'x-amz-decoded-content-length');
  let length: number | undefined;
  const declared = streaming ? decodedHeader : contentLength;
  if (declared !== undefined) {
    if (!/^\d+$/.test(declared)) throw new S3Error('InvalidArgument', `Invalid length: ${declared}`);
    length = Number(declared);
  } else if (streaming && !chunked) {
    throw new S3Error('MissingContentLength');
  }
  if (length !== undefined && length > opts.maxSize) {
    throw new S3Error('EntityTooLarge', undefined, { ProposedSize: String(length), MaxSizeAllowed: String(opts.maxSize) });
  }

  const trailers = trailerNames(ctx.req.headers);
  if (trailers.length > 0 && !mode.endsWith('trailer')) {
    throw new S3Error('InvalidRequest', 'x-amz-trailer is only allowed with a trailer payload mode');
  }
  const expected: ExpectedChecksums = parseChecksumHeaders(ctx.req.headers, trailers);
  const algorithm: ChecksumAlgorithm = expected.algorithm ?? 'crc64nvme';

  const stages: Transform[] = [];
  let decoder: AwsChunkedDecoder | undefined;
  if (streaming) {
    decoder = new AwsChunkedDecoder({ auth: ctx.auth, declaredTrailers: trailers, decodedLength: length });
    stages.push(decoder);
  }
  if (length === undefined) stages.push(sizeLimit(opts.maxSize));
  const digester = new BodyDigester({ algorithms: [algorithm], sha256Hex: mode === 'sha256', md5: true });
  stages.push(digester);

  return {
    source: ctx.req,
    stages,
    length,
    verify(): VerifiedBody {
      const size = digester.bytes;
      if (length !== undefined && size !== length) throw new S3Error('IncompleteBody');
      if (size > opts.maxSize) throw new S3Error('EntityTooLarge');
      const d = digester.digests();
      verifyChecksums(expected, d, {
        trailers: decoder?.trailers,
        contentSha256: mode === 'sha256' ? ctx.auth.payloadSha256 : undefined,
      });
      const md5 = d.md5!;
      const computed = d.checksums[algorithm]!;
      return { size, md5, algorithm, checksum: computed, clientChecksum: expected.algorithm !== undefined };
    },
  };
}

/**
 * Reads a small request body (XML documents) through the same decode and verify stages as an
 * object body, refusing more than `limit` bytes.
 */
export async function readSmallBody(ctx: S3Context, limit: number): Promise<{ data: Buffer; verified: VerifiedBody }> {
  const body = openRequestBody(ctx, { maxSize: limit, requireLength: false });
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      size += chunk.length;
      if (size > limit) return cb(new S3Error('MaxMessageLengthExceeded'));
      chunks.push(chunk);
      cb();
    },
  });
  await pipeline([body.source, ...body.stages, sink] as [NodeJS.ReadableStream, ...Transform[], NodeJS.WritableStream]);
  return { data: Buffer.concat(chunks), verified: body.verify() };
}
