// The table of contents of the API: method + bucket/key presence + query flags → one named
// operation. Handlers never re-inspect the query to decide what they are.
export type Operation =
  | 'ListBuckets'
  | 'CreateBucket' | 'HeadBucket' | 'DeleteBucket' | 'GetBucketLocation' | 'ListObjects' | 'ListObjectsV2'
  | 'GetBucketVersioning' | 'DeleteObjects'
  | 'PutObject' | 'GetObject' | 'HeadObject' | 'DeleteObject' | 'CopyObject'
  | 'NotImplemented';

/** Subresources we do not serve yet; routed explicitly so they answer NotImplemented, not a wrong op. */
const UNSUPPORTED_SUBRESOURCES = [
  'acl', 'policy', 'cors', 'lifecycle', 'encryption', 'tagging', 'uploads', 'uploadId', 'partNumber',
  'website', 'logging', 'notification', 'replication', 'requestPayment', 'object-lock', 'retention',
  'legal-hold', 'restore', 'select', 'analytics', 'inventory', 'metrics', 'accelerate', 'ownershipControls',
  'publicAccessBlock', 'intelligent-tiering', 'policyStatus', 'attributes', 'torrent', 'versions',
];

export function route(method: string, bucket: string | undefined, key: string | undefined, query: URLSearchParams, headers: Record<string, unknown>): Operation {
  if (!bucket) return method === 'GET' ? 'ListBuckets' : 'NotImplemented';
  if (key === undefined) {
    if (method === 'GET') {
      if (query.has('location')) return 'GetBucketLocation';
      if (query.has('versioning')) return 'GetBucketVersioning';
      if (UNSUPPORTED_SUBRESOURCES.some((s) => query.has(s))) return 'NotImplemented';
      return query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    }
    if (method === 'HEAD') return 'HeadBucket';
    if (method === 'PUT') return UNSUPPORTED_SUBRESOURCES.some((s) => query.has(s)) || query.has('versioning') ? 'NotImplemented' : 'CreateBucket';
    if (method === 'DELETE') return UNSUPPORTED_SUBRESOURCES.some((s) => query.has(s)) ? 'NotImplemented' : 'DeleteBucket';
    if (method === 'POST' && query.has('delete')) return 'DeleteObjects';
    return 'NotImplemented';
  }
  if (UNSUPPORTED_SUBRESOURCES.some((s) => query.has(s))) return 'NotImplemented';
  switch (method) {
    case 'GET': return 'GetObject';
    case 'HEAD': return 'HeadObject';
    case 'PUT': return headers['x-amz-copy-source'] !== undefined ? 'CopyObject' : 'PutObject';
    case 'DELETE': return 'DeleteObject';
    default: return 'NotImplemented';
  }
}
