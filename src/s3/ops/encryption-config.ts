// PutBucketEncryption, GetBucketEncryption, DeleteBucketEncryption: the bucket's default
// encryption, used by writes that name none themselves.
import type { BucketEncryptionConfig } from '../../service/crypto.js';
import { readSmallBody } from '../body.js';
import { sendEmpty, sendXml, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { parseXml } from '../xml.js';

function bucketOf(ctx: S3Context) {
  const name = ctx.target.bucket!;
  const info = ctx.objects.store.getBucket(name);
  if (!info) throw new S3Error('NoSuchBucket', undefined, { BucketName: name });
  return info;
}

export async function putBucketEncryption(ctx: S3Context): Promise<void> {
  const info = bucketOf(ctx);
  const { data } = await readSmallBody(ctx, 64 * 1024);
  const rules = parseXml(data).ServerSideEncryptionConfiguration?.Rule;
  if (!Array.isArray(rules) || rules.length !== 1) throw new S3Error('MalformedXML');
  const rule = rules[0] as Record<string, any>;
  const by = rule.ApplyServerSideEncryptionByDefault as Record<string, string> | undefined;
  const sse = by?.SSEAlgorithm;
  if (sse !== 'aws:kms' && sse !== 'AES256') {
    throw new S3Error('MalformedXML', sse === 'aws:kms:dsse' ? 'DSSE-KMS is not supported' : undefined);
  }
  const config: BucketEncryptionConfig = { sse, bucketKeyEnabled: String(rule.BucketKeyEnabled ?? 'false').trim() === 'true' };
  const keyId = by?.KMSMasterKeyID;
  if (keyId !== undefined && keyId !== '') {
    if (sse !== 'aws:kms') throw new S3Error('InvalidArgument', 'a KMSMasterKeyID is only allowed with SSEAlgorithm aws:kms', { ArgumentName: 'KMSMasterKeyID' });
    // An unusable key is refused now, not at the first write (AWS checks it here too).
    await ctx.objects.crypto.require().describeKey(keyId);
    config.kmsKeyId = keyId;
  }
  ctx.objects.crypto.require();
  await ctx.objects.store.setBucketConfig(info.name, 'encryption', config);
  sendEmpty(ctx, 200);
}

export async function getBucketEncryption(ctx: S3Context): Promise<void> {
  const info = bucketOf(ctx);
  // With encryption on, every bucket has a default (as every AWS bucket now has SSE-S3): the
  // server's, until a PutBucketEncryption replaces it.
  const config = (info.config?.encryption as BucketEncryptionConfig | undefined)
    ?? (ctx.objects.crypto.defaultOn ? { sse: 'aws:kms' as const, kmsKeyId: ctx.objects.crypto.require().provider.defaultKeyId(), bucketKeyEnabled: true } : undefined);
  if (!config) throw new S3Error('ServerSideEncryptionConfigurationNotFoundError', undefined, { BucketName: info.name });
  sendXml(ctx, 200, 'ServerSideEncryptionConfiguration', {
    Rule: {
      ApplyServerSideEncryptionByDefault: { SSEAlgorithm: config.sse, KMSMasterKeyID: config.kmsKeyId },
      BucketKeyEnabled: config.bucketKeyEnabled,
    },
  });
}

export async function deleteBucketEncryption(ctx: S3Context): Promise<void> {
  const info = bucketOf(ctx);
  await ctx.objects.store.setBucketConfig(info.name, 'encryption', undefined);
  sendEmpty(ctx, 204);
}
