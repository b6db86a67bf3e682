// Index key layout: `<bucket> 0x00 <key UTF-8 bytes>` as raw bytes, so that LMDB's memcmp
// order is S3's order (UTF-8 byte order) and a bucket is one contiguous range. Bucket names
// never contain 0x00; object keys may (they are plain data).
import { S3Error } from '../s3/errors.js';

export const MAX_KEY_BYTES = 1024;
const SEP = 0x00;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function checkBucketName(bucket: string): void {
  if (bucket.length === 0 || bucket.includes('\0') || Buffer.byteLength(bucket) > 255) {
    throw new S3Error('InvalidBucketName', undefined, { BucketName: bucket });
  }
}

export function checkObjectKey(key: string): void {
  if (LONE_SURROGATE.test(key)) throw new S3Error('InvalidArgument', 'Object key is not valid UTF-8', { Key: key });
  if (key.length === 0) throw new S3Error('InvalidArgument', 'Object key must not be empty');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError', undefined, { MaxSizeAllowed: String(MAX_KEY_BYTES) });
}

/** `<bucket>\0` — every key of the bucket starts with it. */
export function bucketBase(bucket: string): Buffer {
  const b = Buffer.allocUnsafe(Buffer.byteLength(bucket) + 1);
  const n = b.write(bucket, 0, 'utf8');
  b[n] = SEP;
  return b;
}

export function objectKey(bucket: string, key: string): Buffer {
  return Buffer.concat([bucketBase(bucket), Buffer.from(key, 'utf8')]);
}

/**
 * The smallest byte string greater than every string that starts with `prefix`
 * (increment the last byte that is not 0xff, dropping trailing 0xff bytes).
 * Undefined when there is none (prefix empty or all 0xff).
 */
export function prefixEnd(prefix: Uint8Array): Buffer | undefined {
  let i = prefix.length - 1;
  while (i >= 0 && prefix[i] === 0xff) i--;
  if (i < 0) return undefined;
  const out = Buffer.from(prefix.subarray(0, i + 1));
  out[i] = out[i]! + 1;
  return out;
}

/** The smallest byte string strictly greater than `b`: b + 0x00. */
export function immediateSuccessor(b: Uint8Array): Buffer {
  const out = Buffer.alloc(b.length + 1);
  out.set(b, 0);
  return out;
}
