// The lifecycle functions the multipart sweep calls: which AbortIncompleteMultipartUpload rule
// applies to an upload's key, its age limit, and S3's abort date (rounded up to midnight UTC).
import { describe, expect, it } from 'vitest';
import { documentRoot } from '../../src/s3/config-doc.js';
import { expirationHeader, lifecycleAbortAgeFor, lifecycleAbortDateFor, lifecycleAbortRuleFor, lifecycleExpirationFor, parseLifecycle } from '../../src/s3/lifecycle.js';
import { parseXml } from '../../src/s3/xml.js';
import { abortUploadsDueByLifecycle, expireObjectsDueByLifecycle } from '../../src/service/lifecycle.js';
import { Store } from '../../src/store/store.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function bucketConfig(rules: string): Record<string, unknown> {
  const root = documentRoot(parseXml(Buffer.from(`<LifecycleConfiguration>${rules}</LifecycleConfiguration>`)), 'LifecycleConfiguration');
  return { lifecycle: parseLifecycle(root), encryption: { sse: 'aws:kms' } };
}

/** A store in a fresh directory for `f`, closed and removed after. */
async function withStore(f: (store: Store) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'akko-lc-'));
  const store = await Store.open(dir);
  try {
    await f(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
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
    await withStore(async (store) => {
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
    });
  });
});

const expire = (id: string, filter: string, action: string, status = 'Enabled') => `<Rule><ID>${id}</ID>${filter}<Status>${status}</Status><Expiration>${action}</Expiration></Rule>`;
const DAY = 86_400_000;

describe('lifecycleExpirationFor', () => {
  const T0 = Date.UTC(2030, 5, 10, 15, 30); // 10 June 2030, 15:30 UTC
  const obj = (key: string, over: { size?: number; tags?: Record<string, string>; lastModified?: number } = {}) => ({ key, size: over.size ?? 1000, lastModified: over.lastModified ?? T0, tags: over.tags });

  it('Days: last-modified plus the days, rounded up to the next midnight UTC; Date: that date', () => {
    const c = bucketConfig(expire('d', '<Filter><Prefix>logs/</Prefix></Filter>', '<Days>1</Days>') + expire('t', '<Filter><Prefix>tmp/</Prefix></Filter>', '<Date>2031-01-01T00:00:00Z</Date>'));
    expect(lifecycleExpirationFor(c, obj('logs/a'))).toEqual({ date: Date.UTC(2030, 5, 12), ruleId: 'd' });
    expect(lifecycleExpirationFor(c, obj('logs/a', { lastModified: Date.UTC(2030, 5, 10) }))).toEqual({ date: Date.UTC(2030, 5, 11), ruleId: 'd' });
    expect(lifecycleExpirationFor(c, obj('tmp/x'))).toEqual({ date: Date.UTC(2031, 0, 1), ruleId: 't' });
    expect(lifecycleExpirationFor(c, obj('data/x'))).toBeUndefined();
    expect(lifecycleExpirationFor(undefined, obj('logs/a'))).toBeUndefined();
  });

  it('filters by tag, size bounds and And; a disabled rule or an abort-only rule never expires; the earliest rule wins', () => {
    const c = bucketConfig(
      expire('tag', '<Filter><Tag><Key>tier</Key><Value>tmp</Value></Tag></Filter>', '<Days>3</Days>') +
        expire('size', '<Filter><ObjectSizeGreaterThan>100</ObjectSizeGreaterThan></Filter>', '<Days>10</Days>') +
        expire('and', '<Filter><And><Prefix>a/</Prefix><Tag><Key>x</Key><Value>1</Value></Tag><Tag><Key>y</Key><Value>2</Value></Tag><ObjectSizeLessThan>50</ObjectSizeLessThan></And></Filter>', '<Days>1</Days>') +
        expire('off', '<Filter/>', '<Days>1</Days>', 'Disabled') +
        abort('mpu', '<Filter/>', 1),
    );
    expect(lifecycleExpirationFor(c, obj('k', { size: 10 }))).toBeUndefined();
    expect(lifecycleExpirationFor(c, obj('k', { size: 10, tags: { tier: 'tmp' } }))?.ruleId).toBe('tag');
    expect(lifecycleExpirationFor(c, obj('k', { size: 10, tags: { tier: 'other' } }))).toBeUndefined();
    expect(lifecycleExpirationFor(c, obj('k', { size: 101 }))?.ruleId).toBe('size');
    expect(lifecycleExpirationFor(c, obj('k', { size: 100 }))).toBeUndefined();
    expect(lifecycleExpirationFor(c, obj('k', { size: 101, tags: { tier: 'tmp' } }))?.ruleId).toBe('tag'); // 3 days before 10
    expect(lifecycleExpirationFor(c, obj('a/k', { size: 10, tags: { x: '1', y: '2' } }))?.ruleId).toBe('and');
    expect(lifecycleExpirationFor(c, obj('a/k', { size: 10, tags: { x: '1' } }))).toBeUndefined();
    expect(lifecycleExpirationFor(c, obj('a/k', { size: 60, tags: { x: '1', y: '2' } }))).toBeUndefined();
    expect(lifecycleExpirationFor(c, obj('b/k', { size: 10, tags: { x: '1', y: '2' } }))).toBeUndefined();
  });

  it('a V1 rule-level Prefix filters by prefix', () => {
    const c = bucketConfig('<Rule><Prefix>old/</Prefix><Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>');
    expect(lifecycleExpirationFor(c, obj('old/x'))?.date).toBe(Date.UTC(2030, 5, 13));
    expect(lifecycleExpirationFor(c, obj('new/x'))).toBeUndefined();
  });

  it('the header is expiry-date (an HTTP date) and rule-id, sendable whatever the ID holds', () => {
    expect(expirationHeader({ date: Date.UTC(2030, 5, 12), ruleId: 'logs "30d"' })).toBe('expiry-date="Wed, 12 Jun 2030 00:00:00 GMT", rule-id="logs \\"30d\\""');
    expect(expirationHeader({ date: Date.UTC(2030, 5, 12), ruleId: 'journaux-été' })).toBe('expiry-date="Wed, 12 Jun 2030 00:00:00 GMT", rule-id="journaux-%C3%A9t%C3%A9"');
  });
});

describe('expireObjectsDueByLifecycle (the sweep)', () => {
  it('deletes the objects whose rule is due, and only those; an object rewritten since it was listed survives', async () => {
    await withStore(async (store) => {
      await store.createBucket('ex', 'akko-local');
      await store.createBucket('other', 'akko-local');
      await store.setBucketConfig('ex', 'lifecycle', bucketConfig(
        expire('logs', '<Filter><Prefix>logs/</Prefix></Filter>', '<Days>1</Days>') +
          expire('tmp', '<Filter><Tag><Key>tmp</Key><Value>yes</Value></Tag></Filter>', '<Days>7</Days>') +
          expire('off', '<Filter/>', '<Days>1</Days>', 'Disabled'),
      ).lifecycle);
      const now = Date.UTC(2030, 5, 10, 12);
      const putAt = async (bucket: string, key: string, lastModified: number, tags?: Record<string, string>) => {
        const w = store.createBlob();
        w.stream.end(key);
        await w.commit();
        return store.putObject(bucket, { key, size: key.length, etag: '"e"', lastModified, blobId: w.id, userMeta: {}, checksums: {}, tags });
      };
      await putAt('ex', 'logs/old', now - 3 * DAY);
      await putAt('ex', 'logs/midnight', now - 36 * 3600_000); // 9 June 00:00 + 1 day = 10 June 00:00: due
      await putAt('ex', 'logs/rounded', now - 35 * 3600_000); // 9 June 01:00 + 1 day, rounded up to 11 June: not yet
      await putAt('ex', 'logs/fresh', now - 2 * 3600_000);
      await putAt('ex', 'data/old', now - 30 * DAY);
      await putAt('ex', 'data/tagged-old', now - 8 * DAY, { tmp: 'yes' });
      await putAt('ex', 'data/tagged-new', now - 2 * DAY, { tmp: 'yes' });
      await putAt('other', 'logs/old', now - 30 * DAY);
      // A sweep told to stop (the server is shutting down) stops before its next page.
      expect(await expireObjectsDueByLifecycle(store, now, () => true)).toBe(0);
      expect(await expireObjectsDueByLifecycle(store, now)).toBe(3);
      const keys = (b: string) => store.list(b, { maxKeys: 100 }).contents.map((m) => m.key);
      expect(keys('ex')).toEqual(['data/old', 'data/tagged-new', 'logs/fresh', 'logs/rounded']);
      expect(keys('other')).toEqual(['logs/old']);
      expect(await expireObjectsDueByLifecycle(store, now)).toBe(0);
      // The sweep deletes the version it saw: a rewrite in between (other blobs) is kept.
      const seen = store.headObject('ex', 'logs/fresh')!;
      await putAt('ex', 'logs/fresh', now);
      expect(await store.deleteObject('ex', 'logs/fresh', [seen.blobId])).toBeUndefined();
      expect(store.headObject('ex', 'logs/fresh')!.lastModified).toBe(now);
    });
  });
});
