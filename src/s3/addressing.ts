// Where the bucket and key come from: path-style `/bucket/key` or virtual-host-style
// `bucket.<domain>/key`. Keys are plain data (never file paths): only decoded and bounded.
import { S3Error } from './errors.js';

export interface Target {
  bucket?: string;
  key?: string;
  /** The path exactly as sent (percent-encoded), which SigV4 signs. */
  rawPath: string;
  rawQuery: string;
  query: URLSearchParams;
}

const MAX_KEY_BYTES = 1024;

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new S3Error('InvalidURI');
  }
}

export function parseTarget(url: string, host: string | undefined, domains: readonly string[]): Target {
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  if (!rawPath.startsWith('/')) throw new S3Error('InvalidURI');
  const query = new URLSearchParams(rawQuery);

  let bucket: string | undefined;
  let rest: string;
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  const domain = domains.find((d) => hostname.endsWith('.' + d));
  if (domain) {
    bucket = hostname.slice(0, hostname.length - domain.length - 1);
    rest = rawPath.slice(1);
  } else {
    const slash = rawPath.indexOf('/', 1);
    const first = slash === -1 ? rawPath.slice(1) : rawPath.slice(1, slash);
    bucket = first ? decodeSegment(first) : undefined;
    rest = slash === -1 ? '' : rawPath.slice(slash + 1);
  }
  let key: string | undefined;
  if (rest !== '') {
    key = decodeSegment(rest);
    if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new S3Error('KeyTooLongError');
  }
  return { bucket, key, rawPath, rawQuery, query };
}

const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];

/** The general-purpose bucket naming rules of AWS S3. */
export function isValidBucketName(name: string): boolean {
  if (name.length < 3 || name.length > 63) return false;
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name)) return false;
  if (name.includes('..')) return false;
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(name)) return false;
  if (RESERVED_PREFIXES.some((p) => name.startsWith(p))) return false;
  if (RESERVED_SUFFIXES.some((s) => name.endsWith(s))) return false;
  return true;
}
