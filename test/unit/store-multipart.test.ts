// The store's multipart uploads: parts and their blob references, Complete in one transaction
// (checks, linking without copying, atomic conditions, retries), Abort, re-uploads, the
// cleanup at open, the stale-upload sweep, listings, and DeleteBucket with uploads in progress.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { S3Error } from '../../src/s3/errors.js';
import { MIN_PART_SIZE, Store } from '../../src/store/store.js';
import type { ObjectMeta, PartRecord, UploadRecord } from '../../src/store/types.js';

const dirs: string[] = [];
const stores: Store[] = [];
const B = 'mp';

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'akko-mp-'));
  dirs.push(d);
  return d;
}

async function openStore(dir = tempDir(), opts?: Parameters<typeof Store.open>[1]): Promise<Store> {
  const s = await Store.open(dir, opts);
  stores.push(s);
  if (!s.getBucket(B)) await s.createBucket(B, 'akko-local');
  return s;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function md5Hex(b: Uint8Array): string {
  return createHash('md5').update(b).digest('hex');
}

async function writeBlob(store: Store, data: Buffer): Promise<string> {
  const w = store.createBlob();
  await pipeline(Readable.from([data]), w.stream);
  await w.commit();
  return w.id;
}

function blobFiles(dir: string): string[] {
  const out: string[] = [];
  for (const fan of readdirSync(join(dir, 'blobs'))) out.push(...readdirSync(join(dir, 'blobs', fan)));
  return out.sort();
}

async function putPart(store: Store, u: UploadRecord, n: number, data: Buffer): Promise<PartRecord> {
  const blobId = await writeBlob(store, data);
  const part: PartRecord = { partNumber: n, blobId, size: data.length, etag: `"${md5Hex(data)}"`, checksums: {}, lastModified: Date.now() };
  try {
    await store.putPart(B, u.uploadId, u.key, part);
  } catch (e) {
    await store.deleteBlobs([blobId]);
    throw e;
  }
  return part;
}

/** What the object service builds, reduced to what the store needs. */
function build(u: UploadRecord, parts: PartRecord[]): ObjectMeta {
  const md5s = Buffer.concat(parts.map((p) => Buffer.from(p.etag.slice(1, -1), 'hex')));
  return {
    userMeta: {},
    ...u.meta,
    key: u.key,
    size: parts.reduce((n, p) => n + p.size, 0),
    etag: `"${md5Hex(md5s)}-${parts.length}"`,
    lastModified: Date.now(),
    blobId: parts[0]!.blobId,
    parts: parts.map((p) => ({ blobId: p.blobId, size: p.size, etag: p.etag })),
    checksums: {},
  };
}

const listed = (parts: PartRecord[]) => parts.map((p) => ({ partNumber: p.partNumber, etag: p.etag }));

async function readObject(store: Store, key: string): Promise<Buffer> {
  const opened = (await store.openObject(B, key))!;
  try {
    const chunks: Buffer[] = [];
    const parts = opened.meta.parts?.length ? opened.meta.parts : [{ size: opened.meta.size }];
    for (let i = 0; i < parts.length; i++) {
      const buf = Buffer.alloc(parts[i]!.size);
      if (buf.length) await opened.handles[i]!.read(buf, 0, buf.length, 0);
      chunks.push(buf);
    }
    return Buffer.concat(chunks);
  } finally {
    await Promise.all(opened.handles.map((h) => h.close()));
  }
}

async function s3Code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3Error) return e.code;
    throw e;
  }
  return 'ok';
}

describe('complete', () => {
  it('links the listed parts into the object without copying, drops the upload and the unlisted parts', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const u = await store.createUpload(B, 'big/object', { meta: { contentType: 'text/x-test', userMeta: { a: 'b' } } });
    const p1 = await putPart(store, u, 1, randomBytes(MIN_PART_SIZE));
    const p2 = await putPart(store, u, 2, randomBytes(100));
    const p3 = await putPart(store, u, 3, randomBytes(7));
    const before = blobFiles(dir);
    expect(before).toHaveLength(3);

    const r = await store.completeUpload(B, u.uploadId, u.key, listed([p1, p3]), build);
    expect(r.replayed).toBe(false);
    // The object's blobs are the parts' blobs: linked, not copied; part 2's blob is gone.
    expect(r.meta.parts!.map((p) => p.blobId)).toEqual([p1.blobId, p3.blobId]);
    expect(r.meta.parts!.map((p) => p.partNumber)).toEqual([1, 3]);
    expect(r.meta.uploadId).toBe(u.uploadId);
    expect(blobFiles(dir)).toEqual([p1.blobId, p3.blobId].sort());
    const head = store.headObject(B, 'big/object')!;
    expect(head.size).toBe(MIN_PART_SIZE + 7);
    expect(head.contentType).toBe('text/x-test');
    expect(head.userMeta).toEqual({ a: 'b' });
    expect(store.bucketUsage(B)).toEqual({ objects: 1, bytes: MIN_PART_SIZE + 7 });
    expect(store.listUploads(B, { maxUploads: 1000 }).uploads).toEqual([]);
    expect(await s3Code(Promise.resolve().then(() => store.listParts(B, u.uploadId, u.key, { maxParts: 10 })))).toBe('NoSuchUpload');

    // The linked blobs survive the cleanup at open, and the bytes are the parts' bytes.
    await store.close();
    const again = await openStore(dir);
    expect(again.lastCleanup.blobsRemoved).toBe(0);
    const data = await readObject(again, 'big/object');
    expect(data.length).toBe(MIN_PART_SIZE + 7);
    expect(md5Hex(data.subarray(MIN_PART_SIZE))).toBe(p3.etag.slice(1, -1));
    // Deleting the object releases the part blobs.
    await again.deleteObject(B, 'big/object');
    expect(blobFiles(dir)).toEqual([]);
  });

  it('answers NoSuchUpload, InvalidPart, InvalidPartOrder and EntityTooSmall, and keeps the upload', async () => {
    const store = await openStore();
    const u = await store.createUpload(B, 'k', { meta: {} });
    const p1 = await putPart(store, u, 1, randomBytes(10));
    const p2 = await putPart(store, u, 2, randomBytes(10));
    const code = (l: { partNumber: number; etag: string }[], id = u.uploadId, key = u.key) => s3Code(store.completeUpload(B, id, key, l, build));

    expect(await code(listed([p1]), 'f'.repeat(44))).toBe('NoSuchUpload');
    expect(await code(listed([p1]), 'not-an-upload-id')).toBe('NoSuchUpload');
    expect(await code(listed([p1]), u.uploadId, 'other-key')).toBe('NoSuchUpload');
    expect(await code([{ partNumber: 3, etag: p1.etag }])).toBe('InvalidPart');
    expect(await code([{ partNumber: 1, etag: p2.etag }])).toBe('InvalidPart');
    expect(await code([{ partNumber: 1, etag: p1.etag.slice(1, -1) }, { partNumber: 2, etag: p2.etag }])).toBe('EntityTooSmall'); // quotes optional
    expect(await code(listed([p2, p1]))).toBe('InvalidPartOrder');
    expect(await code(listed([p1, p1]))).toBe('InvalidPartOrder');
    // EntityTooSmall concerns every part but the last: a small last part is fine.
    expect(await code(listed([p2]))).toBe('ok');
  });

  it('a retried Complete of a completed upload answers with the same object; other part lists are NoSuchUpload', async () => {
    const store = await openStore();
    const u = await store.createUpload(B, 'retry', { meta: {} });
    const p1 = await putPart(store, u, 1, randomBytes(10));
    const first = await store.completeUpload(B, u.uploadId, u.key, listed([p1]), build, { ifNoneMatch: true });
    const again = await store.completeUpload(B, u.uploadId, u.key, listed([p1]), build, { ifNoneMatch: true });
    expect(again.replayed).toBe(true);
    expect(again.meta.etag).toBe(first.meta.etag);
    expect(again.meta.lastModified).toBe(first.meta.lastModified);
    expect(await s3Code(store.completeUpload(B, u.uploadId, u.key, [{ partNumber: 2, etag: p1.etag }], build))).toBe('NoSuchUpload');
    // Once another write replaced the object, the upload is simply gone.
    const id = await writeBlob(store, Buffer.from('x'));
    await store.putObject(B, { key: 'retry', size: 1, etag: '"x"', lastModified: Date.now(), blobId: id, userMeta: {}, checksums: {} });
    expect(await s3Code(store.completeUpload(B, u.uploadId, u.key, listed([p1]), build))).toBe('NoSuchUpload');
  });

  it('releases the blobs of the object it replaces', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const oldBlob = await writeBlob(store, Buffer.from('old'));
    await store.putObject(B, { key: 'k', size: 3, etag: '"o"', lastModified: Date.now(), blobId: oldBlob, userMeta: {}, checksums: {} });
    const u = await store.createUpload(B, 'k', { meta: {} });
    const p1 = await putPart(store, u, 1, Buffer.from('new'));
    await store.completeUpload(B, u.uploadId, 'k', listed([p1]), build);
    expect(blobFiles(dir)).toEqual([p1.blobId]);
    expect(store.bucketUsage(B)).toEqual({ objects: 1, bytes: 3 });
  });

  it('If-None-Match: * lets exactly one of 32 racing Completes of the same key win', async () => {
    const store = await openStore();
    const uploads: { u: UploadRecord; p: PartRecord }[] = [];
    for (let i = 0; i < 32; i++) {
      const u = await store.createUpload(B, 'race', { meta: {} });
      uploads.push({ u, p: await putPart(store, u, 1, Buffer.from(`racer ${i}`)) });
    }
    const results = await Promise.allSettled(uploads.map(({ u, p }) => store.completeUpload(B, u.uploadId, 'race', listed([p]), build, { ifNoneMatch: true })));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(won).toHaveLength(1);
    expect(lost.map((r) => (r.reason as S3Error).code)).toEqual(Array(31).fill('PreconditionFailed'));
    const winner = uploads[results.findIndex((r) => r.status === 'fulfilled')]!;
    expect(store.headObject(B, 'race')!.uploadId).toBe(winner.u.uploadId);
    expect((await readObject(store, 'race')).toString()).toBe(`racer ${uploads.indexOf(winner)}`);
    // The losers' uploads are still there, to be aborted.
    expect(store.listUploads(B, { maxUploads: 1000 }).uploads).toHaveLength(31);
    expect(store.bucketUsage(B)).toEqual({ objects: 1, bytes: `racer ${uploads.indexOf(winner)}`.length });
  });

  it('If-Match: the current ETag must match; a missing key is NoSuchKey', async () => {
    const store = await openStore();
    const u = await store.createUpload(B, 'cas', { meta: {} });
    const p1 = await putPart(store, u, 1, Buffer.from('v2'));
    expect(await s3Code(store.completeUpload(B, u.uploadId, 'cas', listed([p1]), build, { ifMatch: '"abc"' }))).toBe('NoSuchKey');
    const id = await writeBlob(store, Buffer.from('v1'));
    await store.putObject(B, { key: 'cas', size: 2, etag: '"v1etag"', lastModified: Date.now(), blobId: id, userMeta: {}, checksums: {} });
    expect(await s3Code(store.completeUpload(B, u.uploadId, 'cas', listed([p1]), build, { ifMatch: '"other"' }))).toBe('PreconditionFailed');
    expect(await s3Code(store.completeUpload(B, u.uploadId, 'cas', listed([p1]), build, { ifMatch: '"v1etag"' }))).toBe('ok');
  });

  it('builds again when a listed part is re-uploaded between planning and commit', async () => {
    const store = await openStore();
    const u = await store.createUpload(B, 'replan', { meta: {} });
    await putPart(store, u, 1, Buffer.from('first'));
    const newer = Buffer.from('first'); // same bytes, same ETag, new blob
    const newBlob = await writeBlob(store, newer);
    let builds = 0;
    const r = await store.completeUpload(B, u.uploadId, 'replan', [{ partNumber: 1, etag: `"${md5Hex(newer)}"` }], (up, parts) => {
      if (builds++ === 0) {
        // Submitted before the commit's transaction: the plan is stale when it runs.
        void store.putPart(B, u.uploadId, 'replan', { partNumber: 1, blobId: newBlob, size: newer.length, etag: `"${md5Hex(newer)}"`, checksums: {}, lastModified: Date.now() });
      }
      return build(up, parts);
    });
    expect(builds).toBe(2);
    expect(r.meta.parts![0]!.blobId).toBe(newBlob);
  });
});

describe('parts', () => {
  it('re-uploading a part number replaces the part and unlinks the old blob', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const u = await store.createUpload(B, 'k', { meta: {} });
    const a = await putPart(store, u, 1, Buffer.from('aaaa'));
    const b = await putPart(store, u, 1, Buffer.from('bbbbbb'));
    expect(blobFiles(dir)).toEqual([b.blobId]);
    const parts = store.listParts(B, u.uploadId, 'k', { maxParts: 10 }).parts;
    expect(parts.map((p) => [p.partNumber, p.etag, p.size])).toEqual([[1, b.etag, 6]]);
    expect(a.blobId).not.toBe(b.blobId);
  });

  it('abort releases every part blob; the upload is then NoSuchUpload for parts, abort and complete', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const u = await store.createUpload(B, 'k', { meta: {} });
    const p1 = await putPart(store, u, 1, randomBytes(100));
    await putPart(store, u, 2, randomBytes(100));
    expect(blobFiles(dir)).toHaveLength(2);
    await store.abortUpload(B, u.uploadId, 'k');
    expect(blobFiles(dir)).toEqual([]);
    expect(await s3Code(store.abortUpload(B, u.uploadId, 'k'))).toBe('NoSuchUpload');
    expect(await s3Code(putPart(store, u, 3, Buffer.from('late')))).toBe('NoSuchUpload');
    expect(blobFiles(dir)).toEqual([]); // the late part's blob was discarded
    expect(await s3Code(store.completeUpload(B, u.uploadId, 'k', listed([p1]), build))).toBe('NoSuchUpload');
  });

  it('the cleanup at open keeps the blobs of in-progress parts and removes unreferenced ones', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const u = await store.createUpload(B, 'k', { meta: {} });
    const p1 = await putPart(store, u, 1, randomBytes(MIN_PART_SIZE));
    const p2 = await putPart(store, u, 2, randomBytes(10));
    const orphan = await writeBlob(store, Buffer.from('never referenced')); // e.g. a crash before putPart
    writeFileSync(join(dir, 'tmp', 'half-written'), 'x');
    await store.close();
    const again = await openStore(dir);
    expect(again.lastCleanup).toEqual({ tmpRemoved: 1, blobsRemoved: 1 });
    expect(blobFiles(dir)).toEqual([p1.blobId, p2.blobId].sort());
    expect(blobFiles(dir)).not.toContain(orphan);
    await again.completeUpload(B, u.uploadId, 'k', listed([p1, p2]), build);
    expect((await readObject(again, 'k')).length).toBe(MIN_PART_SIZE + 10);
  });

  it('lists parts in pages by part number', async () => {
    const store = await openStore();
    const u = await store.createUpload(B, 'k', { meta: {} });
    for (const n of [7, 1, 10000, 3, 42]) await putPart(store, u, n, Buffer.from(`part ${n}`));
    const page1 = store.listParts(B, u.uploadId, 'k', { maxParts: 2 });
    expect(page1.parts.map((p) => p.partNumber)).toEqual([1, 3]);
    expect([page1.isTruncated, page1.nextPartNumberMarker]).toEqual([true, 3]);
    const page2 = store.listParts(B, u.uploadId, 'k', { maxParts: 2, partNumberMarker: 3 });
    expect(page2.parts.map((p) => p.partNumber)).toEqual([7, 42]);
    const page3 = store.listParts(B, u.uploadId, 'k', { maxParts: 2, partNumberMarker: 42 });
    expect(page3.parts.map((p) => p.partNumber)).toEqual([10000]);
    expect(page3.isTruncated).toBe(false);
    expect(store.listParts(B, u.uploadId, 'k', { maxParts: 2, partNumberMarker: 10000 }).parts).toEqual([]);
  });
});

describe('uploads', () => {
  it('lists uploads by key then initiation, with prefix, delimiter and both markers', async () => {
    const store = await openStore();
    const mk = (key: string, at: number) => store.createUpload(B, key, { meta: {} }, at);
    const a1 = await mk('a', 1000);
    const a2 = await mk('a', 2000);
    const a3 = await mk('a', 3000);
    const b = await mk('b', 500);
    const d1 = await mk('dir/x', 100);
    await mk('dir/y', 100);
    await mk('dir/sub/z', 100);
    const nul = await mk('a\u0000b', 100); // keys are data: a NUL sorts after 'a', before 'b'

    const all = store.listUploads(B, { maxUploads: 1000 });
    expect(all.uploads.map((u) => u.key)).toEqual(['a', 'a', 'a', 'a\u0000b', 'b', 'dir/sub/z', 'dir/x', 'dir/y']);
    expect(all.uploads.slice(0, 3).map((u) => u.uploadId)).toEqual([a1.uploadId, a2.uploadId, a3.uploadId]);

    // Pages of 2: the markers walk through the three uploads of 'a' without loss or repeat.
    const seen: string[] = [];
    let opts: { keyMarker?: string; uploadIdMarker?: string } = {};
    for (let i = 0; i < 10; i++) {
      const page = store.listUploads(B, { maxUploads: 2, ...opts });
      seen.push(...page.uploads.map((u) => u.uploadId));
      if (!page.isTruncated) break;
      opts = { keyMarker: page.nextKeyMarker, uploadIdMarker: page.nextUploadIdMarker };
    }
    expect(seen).toEqual(all.uploads.map((u) => u.uploadId));

    // key-marker alone: keys after it.
    expect(store.listUploads(B, { maxUploads: 1000, keyMarker: 'a' }).uploads.map((u) => u.uploadId)).toEqual(all.uploads.slice(3).map((u) => u.uploadId));
    expect(store.listUploads(B, { maxUploads: 1000, keyMarker: 'a', uploadIdMarker: a1.uploadId }).uploads[0]!.uploadId).toBe(a2.uploadId);
    expect(nul.key).toBe('a\u0000b');

    const delim = store.listUploads(B, { maxUploads: 1000, delimiter: '/' });
    expect(delim.uploads.map((u) => u.key)).toEqual(['a', 'a', 'a', 'a\u0000b', 'b']);
    expect(delim.commonPrefixes).toEqual(['dir/']);
    const inDir = store.listUploads(B, { maxUploads: 1000, prefix: 'dir/', delimiter: '/' });
    expect(inDir.uploads.map((u) => u.key)).toEqual(['dir/x', 'dir/y']);
    expect(inDir.commonPrefixes).toEqual(['dir/sub/']);
    expect(inDir.uploads[0]!.uploadId).toBe(d1.uploadId);
    // A common prefix on a page boundary is not repeated on the next page.
    const p1 = store.listUploads(B, { maxUploads: 5, delimiter: '/' });
    expect([p1.isTruncated, p1.commonPrefixes]).toEqual([true, []]);
    const p2 = store.listUploads(B, { maxUploads: 5, delimiter: '/', keyMarker: p1.nextKeyMarker, uploadIdMarker: p1.nextUploadIdMarker });
    expect([p2.isTruncated, p2.commonPrefixes, p2.uploads]).toEqual([false, ['dir/'], []]);
    const p3 = store.listUploads(B, { maxUploads: 5, delimiter: '/', keyMarker: 'dir/' });
    expect([p3.commonPrefixes, p3.uploads]).toEqual([[], []]);
    expect(b.key).toBe('b');
  });

  it('aborts uploads older than multipartMaxAgeSeconds, and only those', async () => {
    const dir = tempDir();
    const store = await openStore(dir, { multipartMaxAgeSeconds: 60 });
    const t0 = Date.now();
    const old = await store.createUpload(B, 'old', { meta: {} }, t0);
    await putPart(store, old, 1, randomBytes(100));
    const young = await store.createUpload(B, 'young', { meta: {} }, t0 + 30_000);
    await putPart(store, young, 1, randomBytes(100));
    expect(await store.abortStaleUploads(t0 + 59_000)).toBe(0);
    expect(await store.abortStaleUploads(t0 + 61_000)).toBe(1);
    expect(store.listUploads(B, { maxUploads: 10 }).uploads.map((u) => u.key)).toEqual(['young']);
    expect(blobFiles(dir)).toHaveLength(1);
    expect(await s3Code(Promise.resolve().then(() => store.getUpload(B, old.uploadId, 'old')))).toBe('NoSuchUpload');
    expect(await store.abortStaleUploads(t0 + 91_000)).toBe(1);
    expect(blobFiles(dir)).toEqual([]);
  });

  it('DeleteBucket aborts the uploads in progress (objects still make it BucketNotEmpty)', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    await store.createBucket('other', 'akko-local');
    const u = await store.createUpload(B, 'k', { meta: {} });
    await putPart(store, u, 1, randomBytes(100));
    const keep = await store.createUpload('other', 'k', { meta: {} });
    const id = await writeBlob(store, Buffer.from('x'));
    await store.putObject(B, { key: 'obj', size: 1, etag: '"x"', lastModified: Date.now(), blobId: id, userMeta: {}, checksums: {} });
    expect(await s3Code(store.deleteBucket(B))).toBe('BucketNotEmpty');
    expect(store.listUploads(B, { maxUploads: 10 }).uploads).toHaveLength(1);
    await store.deleteObject(B, 'obj');
    await store.deleteBucket(B);
    expect(blobFiles(dir)).toEqual([]);
    expect(store.getBucket(B)).toBeUndefined();
    // A bucket of the same name starts with no uploads; the other bucket's upload is untouched.
    await store.createBucket(B, 'akko-local');
    expect(store.listUploads(B, { maxUploads: 10 }).uploads).toEqual([]);
    expect(store.listUploads('other', { maxUploads: 10 }).uploads.map((x) => x.uploadId)).toEqual([keep.uploadId]);
  });
});
