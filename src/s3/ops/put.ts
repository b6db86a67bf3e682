// PutObject: stream the body into the store, verify it, answer with its ETag and checksum.
import { openRequestBody } from '../body.js';
import { checksumHeader } from '../checksums.js';
import { sendEmpty, type S3Context } from '../context.js';
import { envelopeOf, metaFromRequest } from '../object-headers.js';
import { checkRequestAcl } from './acl.js';
import { expirationHeaders } from '../lifecycle.js';
import { parseSseRequest, sseHeaders } from '../sse.js';
import { writeConditions } from '../preconditions.js';
import { parseTaggingHeader, tagCount } from '../tagging.js';

export async function putObject(ctx: S3Context): Promise<void> {
  const { bucket, key } = ctx.target as { bucket: string; key: string };
  ctx.objects.requireBucket(bucket);
  checkRequestAcl(ctx.req.headers);
  const meta = metaFromRequest(ctx.req.headers);
  const tags = parseTaggingHeader(ctx.req.headers);
  if (tagCount(tags) > 0) meta.tags = tags;
  const cond = writeConditions(ctx.req.headers);
  const sse = parseSseRequest(ctx.req.headers);
  const body = openRequestBody(ctx, { maxSize: ctx.config.maxObjectSize });
  const { meta: stored, verified } = await ctx.objects.putObject({ bucket, key, body, meta, cond, sse });
  sendEmpty(ctx, 200, {
    etag: stored.etag,
    [checksumHeader(verified.algorithm)]: verified.checksum,
    'x-amz-checksum-type': 'FULL_OBJECT',
    ...sseHeaders(envelopeOf(stored)),
    ...expirationHeaders(ctx.objects.store.getBucket(bucket)?.config, stored),
  });
}
