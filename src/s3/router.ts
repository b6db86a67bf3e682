// The table of contents of the API: method + bucket/key presence + query flags → one named
// operation. Handlers never re-inspect the query to decide what they are.
export type Operation =
  | 'ListBuckets'
  | 'CreateBucket' | 'HeadBucket' | 'DeleteBucket' | 'GetBucketLocation' | 'ListObjects' | 'ListObjectsV2'
  | 'GetBucketVersioning' | 'DeleteObjects'
  | 'PutObject' | 'GetObject' | 'HeadObject' | 'DeleteObject' | 'CopyObject'
  | 'CreateMultipartUpload' | 'UploadPart' | 'UploadPartCopy' | 'CompleteMultipartUpload'
  | 'AbortMultipartUpload' | 'ListParts' | 'ListMultipartUploads'
  | 'PutBucketEncryption' | 'GetBucketEncryption' | 'DeleteBucketEncryption'
  | 'GetBucketAcl' | 'PutBucketAcl' | 'GetObjectAcl' | 'PutObjectAcl'
  | 'PutObjectTagging' | 'GetObjectTagging' | 'DeleteObjectTagging'
  | 'PutBucketTagging' | 'GetBucketTagging' | 'DeleteBucketTagging'
  | 'PutBucketLifecycleConfiguration' | 'GetBucketLifecycleConfiguration' | 'DeleteBucketLifecycle'
  | 'PutBucketCors' | 'GetBucketCors' | 'DeleteBucketCors'
  | 'PreflightCors' | 'PostObject'
  | 'NotImplemented';

/** Bucket subresources served: query flag → method → operation. */
const BUCKET_SUBRESOURCES: Record<string, Partial<Record<string, Operation>>> = {
  encryption: { GET: 'GetBucketEncryption', PUT: 'PutBucketEncryption', DELETE: 'DeleteBucketEncryption' },
  acl: { GET: 'GetBucketAcl', PUT: 'PutBucketAcl' },
  tagging: { GET: 'GetBucketTagging', PUT: 'PutBucketTagging', DELETE: 'DeleteBucketTagging' },
  lifecycle: { GET: 'GetBucketLifecycleConfiguration', PUT: 'PutBucketLifecycleConfiguration', DELETE: 'DeleteBucketLifecycle' },
  cors: { GET: 'GetBucketCors', PUT: 'PutBucketCors', DELETE: 'DeleteBucketCors' },
};

/** Object subresources served: query flag → method → operation. */
const OBJECT_SUBRESOURCES: Record<string, Partial<Record<string, Operation>>> = {
  acl: { GET: 'GetObjectAcl', PUT: 'PutObjectAcl' },
  tagging: { GET: 'GetObjectTagging', PUT: 'PutObjectTagging', DELETE: 'DeleteObjectTagging' },
};

/** Subresources we do not serve yet; routed explicitly so they answer NotImplemented, not a wrong op. */
const UNSUPPORTED_SUBRESOURCES = [
  'policy',
  'website', 'logging', 'notification', 'replication', 'requestPayment', 'object-lock', 'retention',
  'legal-hold', 'restore', 'select', 'analytics', 'inventory', 'metrics', 'accelerate', 'ownershipControls',
  'publicAccessBlock', 'intelligent-tiering', 'policyStatus', 'attributes', 'torrent', 'versions',
];

/** The multipart query parameters; on a bucket only `GET ?uploads` means something. */
const MULTIPART_PARAMS = ['uploads', 'uploadId', 'partNumber'];

function multipartOperation(method: string, query: URLSearchParams, headers: Record<string, unknown>): Operation | undefined {
  const uploadId = query.has('uploadId');
  const partNumber = query.has('partNumber');
  switch (method) {
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (uploadId) return 'CompleteMultipartUpload';
      return undefined;
    case 'PUT':
      // A part number without an upload id (or the reverse) is UploadPart's InvalidArgument.
      if (uploadId || partNumber) return headers['x-amz-copy-source'] !== undefined ? 'UploadPartCopy' : 'UploadPart';
      return undefined;
    case 'DELETE':
      return uploadId ? 'AbortMultipartUpload' : undefined;
    case 'GET':
      if (uploadId) return 'ListParts';
      return partNumber ? 'GetObject' : undefined; // GET ?partNumber=N reads one part
    case 'HEAD':
      return partNumber ? 'HeadObject' : undefined;
    default:
      return undefined;
  }
}

/**
 * Operations answered before SigV4 verification: the CORS preflight (browsers send OPTIONS
 * without credentials) and POST Object (authenticated by the signed policy in its form).
 */
export const PRE_AUTH_OPERATIONS: ReadonlySet<Operation> = new Set<Operation>(['PreflightCors', 'PostObject']);

export function route(method: string, bucket: string | undefined, key: string | undefined, query: URLSearchParams, headers: Record<string, unknown>): Operation {
  if (method === 'OPTIONS') return 'PreflightCors';
  if (!bucket) return method === 'GET' ? 'ListBuckets' : 'NotImplemented';
  if (key === undefined) {
    for (const [flag, ops] of Object.entries(BUCKET_SUBRESOURCES)) {
      if (query.has(flag)) return ops[method] ?? 'NotImplemented';
    }
    if (method === 'GET') {
      if (query.has('location')) return 'GetBucketLocation';
      if (query.has('versioning')) return 'GetBucketVersioning';
      if (query.has('uploads')) return 'ListMultipartUploads';
      if (UNSUPPORTED_SUBRESOURCES.some((s) => query.has(s)) || MULTIPART_PARAMS.some((s) => query.has(s))) return 'NotImplemented';
      return query.get('list-type') === '2' ? 'ListObjectsV2' : 'ListObjects';
    }
    const unsupported = UNSUPPORTED_SUBRESOURCES.some((s) => query.has(s)) || MULTIPART_PARAMS.some((s) => query.has(s));
    if (method === 'HEAD') return 'HeadBucket';
    if (method === 'PUT') return unsupported || query.has('versioning') ? 'NotImplemented' : 'CreateBucket';
    if (method === 'DELETE') return unsupported ? 'NotImplemented' : 'DeleteBucket';
    if (method === 'POST' && query.has('delete') && !unsupported) return 'DeleteObjects';
    if (method === 'POST' && !unsupported && !query.has('delete')) return 'PostObject';
    return 'NotImplemented';
  }
  for (const [flag, ops] of Object.entries(OBJECT_SUBRESOURCES)) {
    if (query.has(flag)) return ops[method] ?? 'NotImplemented';
  }
  if (UNSUPPORTED_SUBRESOURCES.some((s) => query.has(s)) || Object.keys(BUCKET_SUBRESOURCES).some((s) => query.has(s))) return 'NotImplemented';
  const multipart = multipartOperation(method, query, headers);
  if (multipart) return multipart;
  switch (method) {
    case 'GET': return 'GetObject';
    case 'HEAD': return 'HeadObject';
    case 'PUT': return headers['x-amz-copy-source'] !== undefined ? 'CopyObject' : 'PutObject';
    case 'DELETE': return 'DeleteObject';
    default: return 'NotImplemented';
  }
}
