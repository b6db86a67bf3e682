// PutObjectTagging, GetObjectTagging, DeleteObjectTagging (`?tagging` on an object) and the
// bucket's PutBucketTagging, GetBucketTagging, DeleteBucketTagging (`?tagging` on a bucket).
// Object tags live in the object's metadata and change in one store transaction, so a tag update
// racing an overwrite never resurrects the old object nor loses the new one.
//   PutObjectTagging 200 (an empty TagSet removes the tags), GetObjectTagging 200 (an untagged
//   object has an empty TagSet), DeleteObjectTagging 204; a missing key is NoSuchKey 404.
//   PutBucketTagging 204, GetBucketTagging 200 or NoSuchTagSet 404, DeleteBucketTagging 204.
// Sources: API_PutObjectTagging, API_GetObjectTagging, API_DeleteObjectTagging,
// API_PutBucketTagging, API_GetBucketTagging, API_DeleteBucketTagging (AWS S3 API reference).
import type { ObjectMeta } from '../../store/types.js';
import { readConfigDocument } from '../config-doc.js';
import { sendEmpty, sendXml, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { MAX_BUCKET_TAGS, MAX_OBJECT_TAGS, tagCount, taggingBody, tagsFromDocument, type TagSet } from '../tagging.js';

function objectTarget(ctx: S3Context): { bucket: string; key: string } {
  const { bucket, key } = ctx.target as { bucket: string; key: string };
  const version = ctx.target.query.get('versionId');
  if (version !== null && version !== 'null') throw new S3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: version });
  return { bucket, key };
}

function withTags(meta: ObjectMeta, tags: TagSet | undefined): ObjectMeta {
  const next = { ...meta };
  if (tags && tagCount(tags) > 0) next.tags = tags;
  else delete next.tags;
  return next;
}

export async function putObjectTagging(ctx: S3Context): Promise<void> {
  const { bucket, key } = objectTarget(ctx);
  ctx.objects.requireBucket(bucket);
  const tags = tagsFromDocument(await readConfigDocument(ctx, 'Tagging'), MAX_OBJECT_TAGS);
  await ctx.objects.store.updateObject(bucket, key, (m) => withTags(m, tags));
  sendEmpty(ctx, 200);
}

export async function getObjectTagging(ctx: S3Context): Promise<void> {
  const { bucket, key } = objectTarget(ctx);
  const meta = ctx.objects.head(bucket, key);
  sendXml(ctx, 200, 'Tagging', taggingBody(meta.tags));
}

export async function deleteObjectTagging(ctx: S3Context): Promise<void> {
  const { bucket, key } = objectTarget(ctx);
  ctx.objects.requireBucket(bucket);
  await ctx.objects.store.updateObject(bucket, key, (m) => withTags(m, undefined));
  sendEmpty(ctx, 204);
}

function bucketInfo(ctx: S3Context) {
  const name = ctx.target.bucket!;
  const info = ctx.objects.store.getBucket(name);
  if (!info) throw new S3Error('NoSuchBucket', undefined, { BucketName: name });
  return info;
}

export async function putBucketTagging(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  const tags = tagsFromDocument(await readConfigDocument(ctx, 'Tagging'), MAX_BUCKET_TAGS);
  await ctx.objects.store.setBucketConfig(info.name, 'tagging', tagCount(tags) > 0 ? tags : undefined);
  sendEmpty(ctx, 204);
}

export async function getBucketTagging(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  const tags = info.config?.tagging as TagSet | undefined;
  if (!tags) throw new S3Error('NoSuchTagSet', undefined, { BucketName: info.name });
  sendXml(ctx, 200, 'Tagging', taggingBody(tags));
}

export async function deleteBucketTagging(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  await ctx.objects.store.setBucketConfig(info.name, 'tagging', undefined);
  sendEmpty(ctx, 204);
}
