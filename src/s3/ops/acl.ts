// ACLs, as AWS answers for a bucket whose Object Ownership is "bucket owner enforced" (the
// default for new buckets since 2023): the owner has full control, reading an ACL says so,
// and setting any ACL other than that is AccessControlListNotSupported. Old clients (Hadoop
// 3.3.0's bucket probe) read the ACL; nothing here ever grants anyone else access.
import type { IncomingHttpHeaders } from 'node:http';
import { readSmallBody } from '../body.js';
import { sendEmpty, sendXml, type S3Context } from '../context.js';
import { S3Error } from '../errors.js';
import { parseXml } from '../xml.js';
import { OWNER } from './bucket.js';

const ALLOWED_CANNED = new Set(['private', 'bucket-owner-full-control']);
const GRANT_HEADERS = ['x-amz-grant-read', 'x-amz-grant-write', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp', 'x-amz-grant-full-control'];

/** Refuses an ACL a write carries (x-amz-acl, x-amz-grant-*) unless it only restates the owner's control. */
export function checkRequestAcl(h: IncomingHttpHeaders): void {
  const canned = h['x-amz-acl'];
  if (typeof canned === 'string' && !ALLOWED_CANNED.has(canned)) throw new S3Error('AccessControlListNotSupported');
  if (GRANT_HEADERS.some((g) => h[g] !== undefined)) throw new S3Error('AccessControlListNotSupported');
}

function policy(ctx: S3Context): void {
  sendXml(ctx, 200, 'AccessControlPolicy', {
    Owner: OWNER,
    AccessControlList: {
      Grant: {
        Grantee: { '@_xmlns:xsi': 'http://www.w3.org/2001/XMLSchema-instance', '@_xsi:type': 'CanonicalUser', ID: OWNER.ID, DisplayName: OWNER.DisplayName },
        Permission: 'FULL_CONTROL',
      },
    },
  });
}

async function putAcl(ctx: S3Context): Promise<void> {
  checkRequestAcl(ctx.req.headers);
  const length = Number(ctx.req.headers['content-length'] ?? 0);
  if (length > 0 || ctx.req.headers['transfer-encoding']) {
    const { data } = await readSmallBody(ctx, 64 * 1024);
    const grants = parseXml(data).AccessControlPolicy?.AccessControlList?.Grant;
    const list = Array.isArray(grants) ? grants : grants ? [grants] : [];
    const onlyOwner = list.every((g: Record<string, any>) => g.Permission === 'FULL_CONTROL' && g.Grantee?.ID === OWNER.ID);
    if (!onlyOwner) throw new S3Error('AccessControlListNotSupported');
  }
  sendEmpty(ctx, 200);
}

export async function getBucketAcl(ctx: S3Context): Promise<void> {
  ctx.objects.requireBucket(ctx.target.bucket!);
  policy(ctx);
}

export async function putBucketAcl(ctx: S3Context): Promise<void> {
  ctx.objects.requireBucket(ctx.target.bucket!);
  await putAcl(ctx);
}

export async function getObjectAcl(ctx: S3Context): Promise<void> {
  ctx.objects.head(ctx.target.bucket!, ctx.target.key!);
  policy(ctx);
}

export async function putObjectAcl(ctx: S3Context): Promise<void> {
  ctx.objects.head(ctx.target.bucket!, ctx.target.key!);
  await putAcl(ctx);
}
