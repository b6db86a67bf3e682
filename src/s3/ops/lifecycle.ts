// PutBucketLifecycleConfiguration (200), GetBucketLifecycleConfiguration (200, or
// NoSuchLifecycleConfiguration 404), DeleteBucketLifecycle (204, with or without a
// configuration): `?lifecycle` on a bucket. PUT and GET answer
// x-amz-transition-default-minimum-object-size. The document rules are in ../lifecycle.ts.
import { readConfigDocument } from '../config-doc.js';
import { sendEmpty, sendXml, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { LIFECYCLE_CONFIG_KEY, lifecycleOf, lifecycleXml, parseLifecycle, parseTransitionDefault } from '../lifecycle.js';

function bucketInfo(ctx: S3Context) {
  const name = ctx.target.bucket!;
  const info = ctx.objects.store.getBucket(name);
  if (!info) throw new S3Error('NoSuchBucket', undefined, { BucketName: name });
  return info;
}

export async function putBucketLifecycle(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  const raw = ctx.req.headers['x-amz-transition-default-minimum-object-size'];
  const transitionDefault = parseTransitionDefault(Array.isArray(raw) ? raw.join(',') : raw);
  // The deprecated PutBucketLifecycle writes <LifeCycleConfiguration> in some of AWS's own samples.
  const config = parseLifecycle(await readConfigDocument(ctx, ['LifecycleConfiguration', 'LifeCycleConfiguration']), transitionDefault);
  await ctx.objects.store.setBucketConfig(info.name, LIFECYCLE_CONFIG_KEY, config);
  sendEmpty(ctx, 200, { 'x-amz-transition-default-minimum-object-size': config.transitionDefaultMinimumObjectSize });
}

export async function getBucketLifecycle(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  const config = lifecycleOf(info.config);
  if (!config) throw new S3Error('NoSuchLifecycleConfiguration', undefined, { BucketName: info.name });
  sendXml(ctx, 200, 'LifecycleConfiguration', lifecycleXml(config), {
    'x-amz-transition-default-minimum-object-size': config.transitionDefaultMinimumObjectSize,
  });
}

export async function deleteBucketLifecycle(ctx: S3Context): Promise<void> {
  const info = bucketInfo(ctx);
  await ctx.objects.store.setBucketConfig(info.name, LIFECYCLE_CONFIG_KEY, undefined);
  sendEmpty(ctx, 204);
}
