// Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
// GetBucketVersioning.
import { isValidBucketName } from '../addressing.js';
import { sendEmpty, sendXml, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { readSmallBody } from '../body.js';
import { isoDate, parseXml } from '../xml.js';

export const OWNER = { ID: 'akko', DisplayName: 'akko' };

function bucketName(ctx: S3Context): string {
  return ctx.target.bucket!;
}

function requireBucket(ctx: S3Context) {
  const info = ctx.objects.store.getBucket(bucketName(ctx));
  if (!info) throw new S3Error('NoSuchBucket', undefined, { BucketName: bucketName(ctx) });
  return info;
}

export async function listBuckets(ctx: S3Context): Promise<void> {
  const prefix = ctx.target.query.get('prefix') ?? '';
  const buckets = ctx.objects.store.listBuckets().filter((b) => b.name.startsWith(prefix));
  sendXml(ctx, 200, 'ListAllMyBucketsResult', {
    Owner: OWNER,
    Buckets: { Bucket: buckets.map((b) => ({ Name: b.name, CreationDate: isoDate(b.created), BucketRegion: b.region })) },
    Prefix: prefix || undefined,
  });
}

export async function createBucket(ctx: S3Context): Promise<void> {
  const name = bucketName(ctx);
  if (!isValidBucketName(name)) throw new S3Error('InvalidBucketName', undefined, { BucketName: name });
  const length = Number(ctx.req.headers['content-length'] ?? 0);
  if (length > 0 || ctx.req.headers['transfer-encoding']) {
    // CreateBucketConfiguration only names a location; every client signs with the region it
    // was given, so any LocationConstraint is accepted and the bucket lives in ours.
    const { data } = await readSmallBody(ctx, 64 * 1024);
    if (data.length > 0 && parseXml(data).CreateBucketConfiguration === undefined) throw new S3Error('MalformedXML');
  }
  if (ctx.objects.store.getBucket(name)) throw new S3Error('BucketAlreadyOwnedByYou', undefined, { BucketName: name });
  await ctx.objects.store.createBucket(name, ctx.config.region);
  sendEmpty(ctx, 200, { location: `/${name}` });
}

export async function headBucket(ctx: S3Context): Promise<void> {
  const info = requireBucket(ctx);
  sendEmpty(ctx, 200, { 'x-amz-bucket-region': info.region, 'x-amz-access-point-alias': 'false' });
}

export async function deleteBucket(ctx: S3Context): Promise<void> {
  requireBucket(ctx);
  await ctx.objects.store.deleteBucket(bucketName(ctx));
  sendEmpty(ctx, 204);
}

export async function getBucketLocation(ctx: S3Context): Promise<void> {
  const info = requireBucket(ctx);
  sendXml(ctx, 200, 'LocationConstraint', { '#text': info.region });
}

export async function getBucketVersioning(ctx: S3Context): Promise<void> {
  requireBucket(ctx);
  sendXml(ctx, 200, 'VersioningConfiguration', {});
}
