// Server-side encryption as the request asks for it (x-amz-server-side-encryption*), and the
// headers that describe an object's encryption in responses, as AWS S3 SSE-KMS does.
import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectEnvelope } from '../../kms/types.js';
import { S3Error } from './errors.js';
import type { Headers } from './context.js';

export interface SseRequest {
  sse: 'aws:kms' | 'AES256';
  kmsKeyId?: string;
  context?: Record<string, string>;
  bucketKeyEnabled?: boolean;
}

function one(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** What the request itself asks for; undefined when it names no encryption. */
export function parseSseRequest(h: IncomingHttpHeaders): SseRequest | undefined {
  if (one(h, 'x-amz-server-side-encryption-customer-algorithm') !== undefined || one(h, 'x-amz-server-side-encryption-customer-key') !== undefined) {
    // SSE-C keys would pass through this server's memory and logs' reach; it is off here.
    throw new S3Error('InvalidRequest', 'Server-side encryption with customer-provided keys (SSE-C) is not enabled on this server.');
  }
  const sse = one(h, 'x-amz-server-side-encryption');
  const keyId = one(h, 'x-amz-server-side-encryption-aws-kms-key-id');
  const ctx = one(h, 'x-amz-server-side-encryption-context');
  const bke = one(h, 'x-amz-server-side-encryption-bucket-key-enabled');
  if (sse === undefined) {
    if (keyId !== undefined || ctx !== undefined) {
      throw new S3Error('InvalidArgument', 'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms', { ArgumentName: 'x-amz-server-side-encryption' });
    }
    return undefined;
  }
  if (sse !== 'aws:kms' && sse !== 'AES256') {
    throw new S3Error('InvalidArgument', 'The encryption method specified is not supported', { ArgumentName: 'x-amz-server-side-encryption', ArgumentValue: sse });
  }
  if (sse === 'AES256' && (keyId !== undefined || ctx !== undefined)) {
    throw new S3Error('InvalidArgument', 'Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms', { ArgumentName: 'x-amz-server-side-encryption' });
  }
  const out: SseRequest = { sse };
  if (keyId !== undefined) out.kmsKeyId = keyId;
  if (ctx !== undefined) out.context = parseContext(ctx);
  if (bke !== undefined) out.bucketKeyEnabled = bke.toLowerCase() === 'true';
  return out;
}

function parseContext(value: string): Record<string, string> {
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64').toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed) && Object.values(parsed).every((v) => typeof v === 'string')) {
      return parsed as Record<string, string>;
    }
  } catch {
    // answered below
  }
  throw new S3Error('InvalidArgument', 'The header x-amz-server-side-encryption-context is not a base64-encoded JSON object of strings', { ArgumentName: 'x-amz-server-side-encryption-context' });
}

/** Response headers for an object stored with `envelope`. */
export function sseHeaders(envelope: ObjectEnvelope | undefined): Headers {
  if (!envelope) return {};
  const h: Headers = { 'x-amz-server-side-encryption': envelope.sse };
  if (envelope.sse === 'aws:kms') {
    h['x-amz-server-side-encryption-aws-kms-key-id'] = envelope.kmsKeyId;
    if (envelope.context) {
      const { 'aws:s3:arn': _arn, ...user } = envelope.context;
      if (Object.keys(user).length) h['x-amz-server-side-encryption-context'] = Buffer.from(JSON.stringify(user)).toString('base64');
    }
  }
  if (envelope.bucketKeyEnabled) h['x-amz-server-side-encryption-bucket-key-enabled'] = 'true';
  return h;
}
