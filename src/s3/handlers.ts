// Operation name → handler: the one place that says which file serves which operation.
import type { S3Context } from './context.js';
import type { Operation } from './router.js';
import { createBucket, deleteBucket, getBucketLocation, getBucketVersioning, headBucket, listBuckets } from './ops/bucket.js';
import { copyObject } from './ops/copy.js';
import { deleteObject, deleteObjects } from './ops/delete.js';
import { getObject, headObject } from './ops/get.js';
import { listObjectsV1, listObjectsV2 } from './ops/list.js';
import {
  abortMultipartUpload,
  completeMultipartUpload,
  createMultipartUpload,
  listMultipartUploads,
  listParts,
  uploadPart,
  uploadPartCopy,
} from './ops/multipart.js';
import { putObject } from './ops/put.js';

import { deleteBucketEncryption, getBucketEncryption, putBucketEncryption } from './ops/encryption-config.js';

import { getBucketAcl, getObjectAcl, putBucketAcl, putObjectAcl } from './ops/acl.js';
import { corsPreflight, deleteBucketCors, getBucketCors, putBucketCors } from './ops/cors.js';
import { deleteBucketLifecycle, getBucketLifecycle, putBucketLifecycle } from './ops/lifecycle.js';
import { postObject } from './ops/post-object.js';
import { deleteBucketTagging, deleteObjectTagging, getBucketTagging, getObjectTagging, putBucketTagging, putObjectTagging } from './ops/tagging.js';
import type { PreAuthContext } from './context.js';

export type Handler = (ctx: S3Context) => Promise<void>;

export const HANDLERS: Partial<Record<Operation, Handler>> = {
  ListBuckets: listBuckets,
  CreateBucket: createBucket,
  HeadBucket: headBucket,
  DeleteBucket: deleteBucket,
  GetBucketLocation: getBucketLocation,
  GetBucketVersioning: getBucketVersioning,
  ListObjects: listObjectsV1,
  ListObjectsV2: listObjectsV2,
  DeleteObjects: deleteObjects,
  PutObject: putObject,
  GetObject: getObject,
  HeadObject: headObject,
  DeleteObject: deleteObject,
  CopyObject: copyObject,
  PutBucketEncryption: putBucketEncryption,
  GetBucketAcl: getBucketAcl,
  PutBucketAcl: putBucketAcl,
  GetObjectAcl: getObjectAcl,
  PutObjectAcl: putObjectAcl,
  PutObjectTagging: putObjectTagging,
  GetObjectTagging: getObjectTagging,
  DeleteObjectTagging: deleteObjectTagging,
  PutBucketTagging: putBucketTagging,
  GetBucketTagging: getBucketTagging,
  DeleteBucketTagging: deleteBucketTagging,
  PutBucketLifecycleConfiguration: putBucketLifecycle,
  GetBucketLifecycleConfiguration: getBucketLifecycle,
  DeleteBucketLifecycle: deleteBucketLifecycle,
  PutBucketCors: putBucketCors,
  GetBucketCors: getBucketCors,
  DeleteBucketCors: deleteBucketCors,
  GetBucketEncryption: getBucketEncryption,
  DeleteBucketEncryption: deleteBucketEncryption,
  CreateMultipartUpload: createMultipartUpload,
  UploadPart: uploadPart,
  UploadPartCopy: uploadPartCopy,
  CompleteMultipartUpload: completeMultipartUpload,
  AbortMultipartUpload: abortMultipartUpload,
  ListParts: listParts,
  ListMultipartUploads: listMultipartUploads,
};

/** The operations answered before SigV4 verification (router.ts PRE_AUTH_OPERATIONS). */
export const PRE_AUTH_HANDLERS: Partial<Record<Operation, (ctx: PreAuthContext) => Promise<void>>> = {
  PreflightCors: corsPreflight,
  PostObject: postObject,
};
