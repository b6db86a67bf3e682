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
