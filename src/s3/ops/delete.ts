// DeleteObject and DeleteObjects (quiet mode). A missing key is not an error in S3.
import { readSmallBody } from '../body.js';
import { sendEmpty, sendXml, type S3Context } from '../context.js';
import { S3Error, isS3Error } from '../errors.js';
import { parseXml } from '../xml.js';

const MAX_DELETE_KEYS = 1000;

export async function deleteObject(ctx: S3Context): Promise<void> {
  const { bucket, key } = ctx.target as { bucket: string; key: string };
  await ctx.objects.delete(bucket, key);
  sendEmpty(ctx, 204);
}

export async function deleteObjects(ctx: S3Context): Promise<void> {
  const bucket = ctx.target.bucket!;
  ctx.objects.requireBucket(bucket);
  // S3 wants Content-MD5 or a checksum here, but s3a and older SDKs send neither; whatever is
  // sent is verified by readSmallBody.
  const { data } = await readSmallBody(ctx, 2 * 1024 * 1024);
  const doc = parseXml(data).Delete;
  if (!doc || typeof doc !== 'object') throw new S3Error('MalformedXML');
  const objects: { Key?: unknown }[] = doc.Object ?? [];
  if (objects.length === 0 || objects.length > MAX_DELETE_KEYS) throw new S3Error('MalformedXML');
  const quiet = String(doc.Quiet ?? 'false').trim().toLowerCase() === 'true';
  const deleted: { Key: string }[] = [];
  const errors: { Key: string; Code: string; Message: string }[] = [];
  if (objects.some((o) => typeof o.Key !== 'string')) throw new S3Error('MalformedXML');
  // Issued together so the index commits them in a few batched transactions, not 1000 fsyncs.
  await Promise.all(objects.map(async (o) => {
    const key = o.Key as string;
    try {
      await ctx.objects.delete(bucket, key);
      if (!quiet) deleted.push({ Key: key });
    } catch (e) {
      if (!isS3Error(e)) throw e;
      errors.push({ Key: key, Code: e.code, Message: e.message });
    }
  }));
  sendXml(ctx, 200, 'DeleteResult', { Deleted: deleted, Error: errors });
}
