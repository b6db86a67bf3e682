// The lifecycle functions the multipart sweep calls: which AbortIncompleteMultipartUpload rule
// applies to an upload's key, its age limit, and S3's abort date (rounded up to midnight UTC).
import { describe, expect, it } from 'vitest';
import { documentRoot } from '../../src/s3/config-doc.js';
import { lifecycleAbortAgeFor, lifecycleAbortDateFor, lifecycleAbortRuleFor, parseLifecycle } from '../../src/s3/lifecycle.js';
import { parseXml } from '../../src/s3/xml.js';
import { abortUploadsDueByLifecycle } from '../../src/service/lifecycle.js';
import { Store } from '../../src/store/store.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function bucketConfig(rules: string): Record<string, unknown> {
  const root = documentRoot(parseXml(Buffer.from(`<LifecycleConfiguration>${rules}</LifecycleConfiguration>`)), 'LifecycleConfiguration');
  return { lifecycle: parseLifecycle(root), encryption: { sse: 'aws:kms' } };
}

const abort = (id: string, filter: string, days: number, status = 'Enabled') =>
  `<Rule><ID>${id}</ID>${filter}<Status>${status}</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>${days}</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>`;

describe('lifecycleAbortAgeFor', () => {
  it('is undefined without a configuration or a matching enabled rule', () => {
    expect(lifecycleAbortAgeFor(undefined, 'k')).toBeUndefined();
    expect(lifecycleAbortAgeFor({}, 'k')).toBeUndefined();
    const c = bucketConfig(abort('a', '<Filter><Prefix>tmp/</Prefix></Filter>', 3) + abort('off', '<Filter/>', 1, 'Disabled')
      + '<Rule><ID>exp</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>');
    expect(lifecycleAbortAgeFor(c, 'data/x')).toBeUndefined();
  });

  it('follows prefixes and picks the shortest', () => {
    const c = bucketConfig(abort('all', '<Filter/>', 7) + abort('tmp', '<Filter><Prefix>tmp/</Prefix></Filter>', 2) + abort('raw', '<Filter><Prefix></Prefix></Filter>', 30));
    expect(lifecycleAbortAgeFor(c, 'data/file')).toBe(7 * 86400);
    expect(lifecycleAbortAgeFor(c, 'tmp/file')).toBe(2 * 86400);
    expect(lifecycleAbortRuleFor(c, 'tmp/file')).toEqual({ days: 2, ruleId: 'tmp' });
    const v1 = bucketConfig(abort('v1', '<Prefix>uploads/</Prefix>', 4));
    expect(lifecycleAbortAgeFor(v1, 'uploads/a')).toBe(4 * 86400);
    expect(lifecycleAbortAgeFor(v1, 'other')).toBeUndefined();
  });

  it('the abort date is initiation + days, rounded up to the next midnight UTC', () => {
    const c = bucketConfig(abort('r', '<Filter/>', 3));
    const initiated = Date.UTC(2014, 0, 15, 10, 30);
    expect(lifecycleAbortDateFor(c, 'k', initiated)).toEqual({ date: Date.UTC(2014, 0, 19), ruleId: 'r' });
    expect(lifecycleAbortDateFor(undefined, 'k', initiated)).toBeUndefined();
  });

  it('an abort action with a tag or size filter is refused (S3 allows only a prefix)', () => {
    expect(() => bucketConfig(abort('t', '<Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>', 1))).toThrow('AbortIncompleteMultipartUpload cannot be specified with Tags.');
    expect(() => bucketConfig(abort('s', '<Filter><And><Prefix>a</Prefix><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan></And></Filter>', 1))).toThrow('AbortIncompleteMultipartUpload cannot be specified with Object Size.');
  });
});

describe('abortUploadsDueByLifecycle (the sweep)', () => {
  it('aborts the uploads whose rule is due, and only those', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'akko-lc-'));
    const store = await Store.open(dir);
    try {
      await store.createBucket('lc', 'akko-local');
      await store.createBucket('plain', 'akko-local');
      await store.setBucketConfig('lc', 'lifecycle', bucketConfig(abort('tmp', '<Filter><Prefix>tmp/</Prefix></Filter>', 1) + abort('off', '<Filter/>', 1, 'Disabled')).lifecycle);
      const day = 86_400_000;
      const now = Date.UTC(2030, 5, 10, 12);
      const old = await store.createUpload('lc', 'tmp/old', { meta: {} }, now - 3 * day);
      const fresh = await store.createUpload('lc', 'tmp/fresh', { meta: {} }, now - 2 * 3600_000);
      // 40 hours old: initiation + 1 day is yesterday 20:00, rounded up to today 00:00: due.
      const edge = await store.createUpload('lc', 'tmp/edge', { meta: {} }, now - 40 * 3600_000);
      // 30 hours old, yet not due: initiation + 1 day is today 06:00, rounded up to tomorrow 00:00.
      const rounded = await store.createUpload('lc', 'tmp/rounded', { meta: {} }, now - 30 * 3600_000);
      const other = await store.createUpload('lc', 'data/old', { meta: {} }, now - 3 * day);
      const elsewhere = await store.createUpload('plain', 'tmp/old', { meta: {} }, now - 3 * day);
      expect(await abortUploadsDueByLifecycle(store, now)).toBe(2);
      const left = (b: string) => store.listUploads(b, { maxUploads: 100 }).uploads.map((u) => u.uploadId).sort();
      expect(left('lc')).toEqual([fresh.uploadId, rounded.uploadId, other.uploadId].sort());
      expect(left('plain')).toEqual([elsewhere.uploadId]);
      expect([old, edge].every((u) => !left('lc').includes(u.uploadId))).toBe(true);
      expect(await abortUploadsDueByLifecycle(store, now)).toBe(0);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
