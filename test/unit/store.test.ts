// The embedded store: ordering, listing, blob lifecycle, crash leftovers, atomic conditions,
// reads racing overwrites, buckets.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { open as openLmdb } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { S3Error } from '../../src/s3/errors.js';
import { objectKey } from '../../src/store/keys.js';
import { SHARED_STRUCTURES_KEY } from '../../src/store/metadata.js';
import { Store } from '../../src/store/store.js';
import type { ObjectMeta } from '../../src/store/types.js';

const dirs: string[] = [];
const stores: Store[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'akko-store-'));
  dirs.push(d);
  return d;
}

async function openStore(dir = tempDir(), opts?: Parameters<typeof Store.open>[1]): Promise<Store> {
  const s = await Store.open(dir, opts);
  stores.push(s);
  return s;
}

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close().catch(() => {});
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function md5(b: Uint8Array): string {
  return `"${createHash('md5').update(b).digest('hex')}"`;
}

async function writeBlob(store: Store, data: Buffer): Promise<string> {
  const w = store.createBlob();
  await pipeline(Readable.from([data]), w.stream);
  await w.commit();
  return w.id;
}

function metaFor(key: string, blobId: string, data: Buffer, extra: Partial<ObjectMeta> = {}): ObjectMeta {
  return { key, size: data.length, etag: md5(data), lastModified: Date.now(), blobId, userMeta: {}, checksums: {}, ...extra };
}

async function put(store: Store, bucket: string, key: string, data: Buffer | string, cond?: { ifNoneMatch?: boolean; ifMatch?: string }) {
  const buf = Buffer.from(data);
  const id = await writeBlob(store, buf);
  const meta = metaFor(key, id, buf);
  try {
    return { meta, old: await store.putObject(bucket, meta, cond) };
  } catch (e) {
    await store.deleteBlobs([id]);
    throw e;
  }
}

async function readAll(handles: FileHandle[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for (const h of handles) out.push(await h.readFile());
  return Buffer.concat(out);
}

async function getBytes(store: Store, bucket: string, key: string): Promise<Buffer | undefined> {
  const o = await store.openObject(bucket, key);
  if (!o) return undefined;
  try {
    return await readAll(o.handles);
  } finally {
    for (const h of o.handles) await h.close();
  }
}

function blobPath(dir: string, id: string): string {
  return join(dir, 'blobs', id.slice(0, 2), id);
}

function s3code(e: unknown): string | undefined {
  return e instanceof S3Error ? e.code : undefined;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return s3code(e) ?? String(e);
  }
}

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

// Keys whose UTF-16 order differs from their UTF-8 order ('\uFFFF' vs emoji), NUL, and the
// 'a', 'a/', 'a/b', 'a-' family.
const TRICKY = ['a', 'a/', 'a/b', 'a-', 'é', '\uFFFF', '😀', '\u{10FFFF}', 'a\u0000b', 'A', 'ab', 'a0', '~', '\u007f', '\u0080', 'Z', '\uFF5E', 'a//'];

/** Reference model: a naive S3 listing over all keys (no paging tricks). */
function naiveList(keys: string[], prefix: string, delimiter: string | undefined, after: string | undefined): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const k of [...keys].sort(byteOrder)) {
    if (!k.startsWith(prefix)) continue;
    if (after !== undefined && byteOrder(k, after) <= 0) continue;
    if (delimiter) {
      const i = k.indexOf(delimiter, prefix.length);
      if (i >= 0) {
        const cp = k.slice(0, i + delimiter.length);
        if (after !== undefined && byteOrder(cp, after) <= 0) continue;
        if (!seen.has(cp)) {
          seen.add(cp);
          out.push(`P:${cp}`);
        }
        continue;
      }
    }
    out.push(`K:${k}`);
  }
  return out;
}

/** Pages through store.list and returns every entry in order, checking page invariants. */
function pagedList(store: Store, bucket: string, prefix: string, delimiter: string | undefined, after: string | undefined, maxKeys: number): string[] {
  const out: string[] = [];
  let cursor = after;
  for (let page = 0; page < 10_000; page++) {
    const r = store.list(bucket, { prefix, delimiter, after: cursor, maxKeys });
    const entries = [...r.contents.map((c) => `K:${c.key}`), ...r.commonPrefixes.map((p) => `P:${p}`)].sort((a, b) => byteOrder(a.slice(2), b.slice(2)));
    expect(entries.length).toBeLessThanOrEqual(maxKeys);
    out.push(...entries);
    if (!r.isTruncated) {
      expect(r.nextAfter).toBeUndefined();
      return out;
    }
    expect(entries.length).toBeGreaterThan(0);
    expect(r.nextAfter).toBe(entries[entries.length - 1]!.slice(2));
    cursor = r.nextAfter;
  }
  throw new Error('listing did not end');
}

describe('key order', () => {
  it('lmdb binary keys sort in UTF-8 byte order (Buffer.compare), unlike UTF-16 string order', async () => {
    const dir = tempDir();
    const env = openLmdb({ path: join(dir, 'probe') });
    const db = env.openDB<number, Buffer>({ name: 'k', keyEncoding: 'binary' });
    for (const k of TRICKY) await db.put(Buffer.from(k), 1);
    const got = [...db.getKeys({})].map((k) => Buffer.from(k).toString());
    await env.close();
    const expected = [...TRICKY].sort(byteOrder);
    expect(got).toEqual(expected);
    // The discriminating pair: UTF-16 puts the emoji (0xD83D...) before U+FFFF, UTF-8 after it.
    expect([...TRICKY].sort()).not.toEqual(expected);
  });

  it('store.list returns keys in UTF-8 byte order, keys with NUL and dot segments as plain data', async () => {
    const store = await openStore();
    await store.createBucket('b', 'r');
    const keys = [...TRICKY, 'a/../b', '../x', 'dir/', '%00'];
    for (const k of keys) await put(store, 'b', k, k);
    const r = store.list('b', { maxKeys: 1000 });
    expect(r.contents.map((c) => c.key)).toEqual([...keys].sort(byteOrder));
    expect(r.isTruncated).toBe(false);
    for (const k of keys) expect((await getBytes(store, 'b', k))!.toString()).toBe(k);
  });

  it('fits a 1024-byte key in a 63-character bucket; rejects 1025 bytes', async () => {
    const store = await openStore();
    const bucket = 'b'.repeat(63);
    await store.createBucket(bucket, 'r');
    const key = '😀'.repeat(256); // 1024 bytes
    expect(Buffer.byteLength(key)).toBe(1024);
    await put(store, bucket, key, 'long');
    expect(store.headObject(bucket, key)?.size).toBe(4);
    expect(store.list(bucket, { maxKeys: 10 }).contents[0]!.key).toBe(key);
    expect(await codeOf(put(store, bucket, key + 'x', 'x'))).toBe('KeyTooLongError');
  });
});

describe('listing', () => {
  const KEYS = ['a', 'a/', 'a/b', 'a/c/d', 'a/c/e', 'a-', 'b', 'b/x', 'b/y/z', 'c', 'é/1', 'é/2'];

  async function seeded(): Promise<Store> {
    const store = await openStore();
    await store.createBucket('bk', 'r');
    await store.createBucket('bk2', 'r'); // a neighbour bucket must never leak into bk's listing
    for (const k of KEYS) await put(store, 'bk', k, k);
    await put(store, 'bk2', 'a', 'other');
    await put(store, 'bk2', 'zz', 'other');
    return store;
  }

  it('rolls up common prefixes next to keys a, a/, a/b', async () => {
    const store = await seeded();
    const r = store.list('bk', { delimiter: '/', maxKeys: 1000 });
    expect(r.contents.map((c) => c.key)).toEqual(['a', 'a-', 'b', 'c']);
    expect(r.commonPrefixes).toEqual(['a/', 'b/', 'é/']);
    const a = store.list('bk', { prefix: 'a/', delimiter: '/', maxKeys: 1000 });
    expect(a.contents.map((c) => c.key)).toEqual(['a/', 'a/b']);
    expect(a.commonPrefixes).toEqual(['a/c/']);
    const flat = store.list('bk', { prefix: 'a', maxKeys: 1000 });
    expect(flat.contents.map((c) => c.key)).toEqual(['a', 'a-', 'a/', 'a/b', 'a/c/d', 'a/c/e']);
    expect(flat.contents[2]!.etag).toBe(md5(Buffer.from('a/')));
  });

  it('pages with maxKeys across common prefixes: merged order, at most maxKeys, nextAfter = last entry', async () => {
    const store = await seeded();
    for (const [prefix, delimiter] of [['', '/'], ['', undefined], ['a', '/'], ['a/', '/'], ['', 'c'], ['', 'é']] as const) {
      const expected = naiveList(KEYS, prefix, delimiter, undefined);
      for (let maxKeys = 1; maxKeys <= KEYS.length + 1; maxKeys++) {
        expect(pagedList(store, 'bk', prefix, delimiter, undefined, maxKeys), `prefix=${prefix} delim=${delimiter} max=${maxKeys}`).toEqual(expected);
      }
    }
    const p1 = store.list('bk', { delimiter: '/', maxKeys: 3 });
    expect(p1).toMatchObject({ isTruncated: true, nextAfter: 'a/', commonPrefixes: ['a/'] });
    expect(p1.contents.map((c) => c.key)).toEqual(['a', 'a-']);
  });

  it('after is exclusive and skips a common prefix at or before it', async () => {
    const store = await seeded();
    const r = store.list('bk', { delimiter: '/', after: 'a/b', maxKeys: 100 });
    expect(r.contents.map((c) => c.key)).toEqual(['b', 'c']);
    expect(r.commonPrefixes).toEqual(['b/', 'é/']);
    const r2 = store.list('bk', { delimiter: '/', after: 'a/', maxKeys: 100 });
    expect(r2.commonPrefixes).toEqual(['b/', 'é/']);
    const r3 = store.list('bk', { after: 'a/b', maxKeys: 2 });
    expect(r3.contents.map((c) => c.key)).toEqual(['a/c/d', 'a/c/e']);
    expect(r3).toMatchObject({ isTruncated: true, nextAfter: 'a/c/e' });
    expect(store.list('bk', { after: '\uFFFF', maxKeys: 10 })).toEqual({ contents: [], commonPrefixes: [], isTruncated: false });
    expect(store.list('bk', { prefix: 'b', after: 'a', maxKeys: 10 }).contents.map((c) => c.key)).toEqual(['b', 'b/x', 'b/y/z']);
  });

  it('maxKeys 0 is empty and not truncated; a missing bucket lists empty', async () => {
    const store = await seeded();
    expect(store.list('bk', { maxKeys: 0 })).toEqual({ contents: [], commonPrefixes: [], isTruncated: false });
    expect(store.list('nope', { maxKeys: 10 })).toEqual({ contents: [], commonPrefixes: [], isTruncated: false });
  });

  it('matches a naive model on random keys, prefixes, delimiters, start points and page sizes', async () => {
    const store = await openStore();
    await store.createBucket('r', 'r');
    const alphabet = ['a', 'b', '/', '-', 'é', '😀', '\uFFFF'];
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const word = (max: number) => Array.from({ length: 1 + rnd(max) }, () => alphabet[rnd(alphabet.length)]).join('');
    const keys = [...new Set(Array.from({ length: 150 }, () => word(5)))];
    for (const k of keys) await put(store, 'r', k, k);
    for (let i = 0; i < 150; i++) {
      const prefix = rnd(3) === 0 ? '' : word(2);
      const delimiter = [undefined, '/', 'b', 'é', '😀', '/a'][rnd(6)];
      const after = rnd(2) === 0 ? undefined : word(4);
      const maxKeys = 1 + rnd(6);
      expect(pagedList(store, 'r', prefix, delimiter, after, maxKeys), JSON.stringify({ prefix, delimiter, after, maxKeys })).toEqual(naiveList(keys, prefix, delimiter, after));
    }
  });

  it('seeks past a rolled-up prefix instead of iterating its keys', async () => {
    const store = await openStore();
    await store.createBucket('big', 'r');
    const id = await writeBlob(store, Buffer.from('x'));
    // 3000 keys under one prefix (metadata only; they share one blob reference-counted).
    for (let i = 0; i < 3000; i++) store.putObject('big', metaFor(`dir/${String(i).padStart(5, '0')}`, id, Buffer.from('x')));
    await store.putObject('big', metaFor('dir0', id, Buffer.from('x')));
    await store.putObject('big', metaFor('after', id, Buffer.from('x')));
    const objects = (store as unknown as { meta: { objects: { getRange: (o: unknown) => Iterable<unknown> } } }).meta.objects;
    const orig = objects.getRange.bind(objects);
    let yielded = 0;
    objects.getRange = (o: unknown) => {
      const it = orig(o);
      return (function* () {
        for (const e of it) {
          yielded++;
          yield e;
        }
      })();
    };
    const r = store.list('big', { delimiter: '/', maxKeys: 1000 });
    expect(r.commonPrefixes).toEqual(['dir/']);
    expect(r.contents.map((c) => c.key)).toEqual(['after', 'dir0']);
    expect(yielded).toBeLessThan(10);
    expect(store.objectCount('big')).toBe(3002);
  });
});

describe('blobs and objects', () => {
  it('writes blob files durably with 0600 files and 0700 directories; abort removes the temp file', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    const w = store.createBlob();
    expect(w.id).toMatch(/^[0-9a-f]{32}$/);
    // Respecting backpressure: write until write() returns false, then wait for 'drain'.
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 64; i++) {
      if (!w.stream.write(chunk)) await new Promise((r) => w.stream.once('drain', r));
    }
    await w.commit();
    expect(w.bytesWritten).toBe(64 * 64 * 1024);
    const p = blobPath(dir, w.id);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(statSync(p).size).toBe(64 * 64 * 1024);
    for (const d of [dir, join(dir, 'blobs'), join(dir, 'tmp'), join(dir, 'meta'), join(dir, 'blobs', w.id.slice(0, 2))]) {
      expect(statSync(d).mode & 0o777, d).toBe(0o700);
    }
    for (const f of readdirSync(join(dir, 'meta'))) expect(statSync(join(dir, 'meta', f)).mode & 0o777, f).toBe(0o600);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);

    const h = await store.openBlob(w.id);
    expect((await h.readFile()).equals(Buffer.concat(Array(64).fill(chunk)))).toBe(true);
    await h.close();

    const a = store.createBlob();
    a.stream.write('partial');
    await new Promise((r) => setTimeout(r, 10));
    expect(readdirSync(join(dir, 'tmp'))).toEqual([a.id]);
    await a.abort();
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(existsSync(blobPath(dir, a.id))).toBe(false);
    await expect(store.openBlob(a.id)).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(store.openBlob('../../etc/passwd')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('overwrite deletes the old blob after commit and returns the replaced metadata; delete removes the blob', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    await store.createBucket('b', 'r');
    const first = await put(store, 'b', 'k', 'one');
    expect(first.old).toBeUndefined();
    expect(existsSync(blobPath(dir, first.meta.blobId))).toBe(true);
    const second = await put(store, 'b', 'k', 'two!');
    expect(second.old?.blobId).toBe(first.meta.blobId);
    expect(second.old?.key).toBe('k');
    expect(existsSync(blobPath(dir, first.meta.blobId))).toBe(false);
    expect(existsSync(blobPath(dir, second.meta.blobId))).toBe(true);
    expect((await getBytes(store, 'b', 'k'))!.toString()).toBe('two!');
    expect(store.bucketUsage('b')).toEqual({ objects: 1, bytes: 4 });
    const removed = await store.deleteObject('b', 'k');
    expect(removed?.blobId).toBe(second.meta.blobId);
    expect(existsSync(blobPath(dir, second.meta.blobId))).toBe(false);
    expect(store.headObject('b', 'k')).toBeUndefined();
    expect(await store.deleteObject('b', 'k')).toBeUndefined(); // missing key: not an error
    expect(store.bucketUsage('b')).toEqual({ objects: 0, bytes: 0 });
    expect(await codeOf(store.deleteObject('nope', 'k'))).toBe('NoSuchBucket');
    expect(await codeOf(put(store, 'nope', 'k', 'x'))).toBe('NoSuchBucket');
  });

  it('keeps every metadata field, and multipart-style parts are opened in order and freed together', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    await store.createBucket('b', 'r');
    const p1 = await writeBlob(store, Buffer.from('hello '));
    const p2 = await writeBlob(store, Buffer.from('world'));
    const meta: ObjectMeta = {
      key: 'mp', size: 11, etag: '"abc-2"', lastModified: 1700000000000, blobId: p1,
      parts: [{ blobId: p1, size: 6, etag: '"e1"' }, { blobId: p2, size: 5, etag: '"e2"', checksums: { crc32: 'AAAA' } }],
      contentType: 'text/plain', contentEncoding: 'gzip', contentDisposition: 'inline', contentLanguage: 'en',
      cacheControl: 'no-cache', expires: 'Thu, 01 Jan 2030 00:00:00 GMT', websiteRedirect: '/x',
      userMeta: { colour: 'blue' }, checksums: { crc64nvme: 'AAAAAAAAAAA=' }, checksumType: 'COMPOSITE',
      storageClass: 'STANDARD', tags: { t: '1' }, encryption: { alg: 'AES256GCM', wrapped: Buffer.from([1, 2, 3]) },
    };
    await store.putObject('b', meta);
    await store.close();
    stores.length = 0;
    const again = await openStore(dir);
    const got = again.headObject('b', 'mp')!;
    expect({ ...got, encryption: undefined }).toEqual({ ...meta, encryption: undefined });
    expect(Buffer.from((got.encryption as { wrapped: Uint8Array }).wrapped)).toEqual(Buffer.from([1, 2, 3]));
    expect((await getBytes(again, 'b', 'mp'))!.toString()).toBe('hello world');
    await again.deleteObject('b', 'mp');
    expect(existsSync(blobPath(dir, p1))).toBe(false);
    expect(existsSync(blobPath(dir, p2))).toBe(false);
  });

  it('linkBlob makes an independent durable copy; deleteBlobs spares referenced blobs', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    await store.createBucket('b', 'r');
    const src = await put(store, 'b', 'src', 'payload');
    const copyId = await store.linkBlob(src.meta.blobId);
    expect(copyId).not.toBe(src.meta.blobId);
    await store.putObject('b', metaFor('dst', copyId, Buffer.from('payload')));
    await store.deleteObject('b', 'src');
    expect((await getBytes(store, 'b', 'dst'))!.toString()).toBe('payload');
    await store.deleteBlobs([copyId]); // referenced by dst: must stay
    expect(existsSync(blobPath(dir, copyId))).toBe(true);
    await expect(store.linkBlob(src.meta.blobId)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('survives close and reopen (committed metadata is on disk)', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    await store.createBucket('b', 'r');
    await put(store, 'b', 'k', 'persist');
    await store.close();
    stores.length = 0;
    const again = await openStore(dir);
    expect((await getBytes(again, 'b', 'k'))!.toString()).toBe('persist');
    expect(again.lastCleanup).toEqual({ tmpRemoved: 0, blobsRemoved: 0 });
  });

  it('records share their structures; records written before that (structures inline) still read, list and overwrite', async () => {
    const dir = tempDir();
    let store = await openStore(dir);
    await store.createBucket('b', 'r');
    await put(store, 'b', 'k', 'written with shared structures');
    const legacyData = Buffer.from('written by an older server');
    const legacyBlob = await writeBlob(store, legacyData);
    await store.close();
    stores.length = 0;
    // What the server wrote before structures were shared: the same record, field names inline.
    const env = openLmdb({ path: join(dir, 'meta'), maxDbs: 16 });
    const raw = env.openDB<Record<string, unknown>, Buffer>({ name: 'objects', keyEncoding: 'binary' });
    const { key: _k, ...legacy } = metaFor('legacy', legacyBlob, legacyData, { contentType: 'text/plain', userMeta: { a: 'b' }, checksums: { crc64nvme: 'AAAAAAAAAAA=' } });
    await raw.put(objectKey('b', 'legacy'), legacy);
    await env.openDB<number, string>({ name: 'blobrefs' }).put(legacyBlob, 1);
    const inline = raw.getBinary(objectKey('b', 'legacy'))!;
    const shared = raw.getBinary(objectKey('b', 'k'))!;
    expect(inline.includes('lastModified')).toBe(true);
    expect(shared.includes('lastModified')).toBe(false);
    await env.close();

    store = await openStore(dir);
    expect(store.lastCleanup.blobsRemoved).toBe(0);
    expect(store.headObject('b', 'legacy')).toEqual({ key: 'legacy', ...legacy });
    expect((await getBytes(store, 'b', 'legacy'))!.equals(legacyData)).toBe(true);
    expect(store.list('b', { maxKeys: 10 }).contents.map((m) => m.key)).toEqual(['k', 'legacy']);
    await put(store, 'b', 'legacy', 'overwritten');
    await store.close();
    stores.length = 0;
    store = await openStore(dir);
    expect((await getBytes(store, 'b', 'legacy'))!.toString()).toBe('overwritten');
    expect((await getBytes(store, 'b', 'k'))!.toString()).toBe('written with shared structures');
    expect(store.list('b', { maxKeys: 10 }).contents.map((m) => m.key)).toEqual(['k', 'legacy']);
  });

  it('shares only shapes of our own field names: client-chosen metadata keys stay out of the shared table', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    await store.createBucket('b', 'r');
    for (let i = 0; i < 40; i++) {
      const data = Buffer.from(`v${i}`);
      await store.putObject('b', metaFor(`k${i}`, await writeBlob(store, data), data, { userMeta: { [`client-key-${i}`]: 'x' }, tags: { [`tag-${i}`]: 'y' } }));
    }
    for (let i = 0; i < 40; i++) expect(store.headObject('b', `k${i}`)!.userMeta).toEqual({ [`client-key-${i}`]: 'x' });
    await store.close();
    stores.length = 0;
    const env = openLmdb({ path: join(dir, 'meta'), maxDbs: 16 });
    const structures = env.openDB<unknown, Buffer>({ name: 'objects', keyEncoding: 'binary' }).get(SHARED_STRUCTURES_KEY) as string[][];
    await env.close();
    const names = structures.flat();
    expect(names).toContain('etag');
    expect(names.filter((n) => /^(client-key|tag)-/.test(n))).toEqual([]);
  });
});

describe('crash leftovers', () => {
  it('removes temp files and unreferenced blob files at open, keeps referenced ones', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    await store.createBucket('b', 'r');
    const kept = await put(store, 'b', 'k', 'keep me');
    const orphan = await writeBlob(store, Buffer.from('committed blob, metadata never written'));
    const inflight = store.createBlob(); // a write interrupted mid-body
    inflight.stream.write('half');
    await new Promise((r) => setTimeout(r, 10));
    await store.close();
    stores.length = 0;
    // More debris as a crash could leave it.
    writeFileSync(join(dir, 'tmp', '0123456789abcdef0123456789abcdef'), 'x');
    mkdirSync(join(dir, 'tmp', 'somedir'));
    const forged = 'ab' + '0'.repeat(30);
    writeFileSync(blobPath(dir, forged), 'unreferenced');
    expect(existsSync(blobPath(dir, orphan))).toBe(true);

    const again = await openStore(dir);
    expect(readdirSync(join(dir, 'tmp'))).toEqual([]);
    expect(existsSync(blobPath(dir, orphan))).toBe(false);
    expect(existsSync(blobPath(dir, forged))).toBe(false);
    expect(existsSync(blobPath(dir, kept.meta.blobId))).toBe(true);
    expect(again.lastCleanup).toEqual({ tmpRemoved: 3, blobsRemoved: 2 });
    expect((await getBytes(again, 'b', 'k'))!.toString()).toBe('keep me');
    void inflight;
  });

  it('cleanup: false leaves leftovers alone (for a second process on the same data dir)', async () => {
    const dir = tempDir();
    const s1 = await openStore(dir);
    const orphan = await writeBlob(s1, Buffer.from('x'));
    await s1.close();
    stores.length = 0;
    await openStore(dir, { cleanup: false });
    expect(existsSync(blobPath(dir, orphan))).toBe(true);
  });
});

describe('concurrency', () => {
  it('32 racing If-None-Match writers: exactly one wins, the others get PreconditionFailed', async () => {
    const store = await openStore();
    await store.createBucket('b', 'r');
    for (let round = 0; round < 3; round++) {
      const key = `race-${round}`;
      const bodies = Array.from({ length: 32 }, (_, i) => Buffer.from(`writer ${i}`));
      const ids = await Promise.all(bodies.map((b) => writeBlob(store, b)));
      const results = await Promise.allSettled(ids.map((id, i) => store.putObject('b', metaFor(key, id, bodies[i]!), { ifNoneMatch: true })));
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      expect(winners).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(s3code(r.reason)).toBe('PreconditionFailed');
      expect((await getBytes(store, 'b', key))!.toString()).toBe(`writer ${winners[0]}`);
    }
    expect(store.objectCount('b')).toBe(3);
  });

  it('If-Match: matching ETag wins, stale ETag fails, missing key is NoSuchKey; racing If-Match writers: one wins', async () => {
    const store = await openStore();
    await store.createBucket('b', 'r');
    expect(await codeOf(put(store, 'b', 'k', 'x', { ifMatch: '*' }))).toBe('NoSuchKey');
    const v1 = await put(store, 'b', 'k', 'v1');
    expect(await codeOf(put(store, 'b', 'k', 'v2', { ifMatch: '"0000"' }))).toBe('PreconditionFailed');
    const v2 = await put(store, 'b', 'k', 'v2', { ifMatch: v1.meta.etag.slice(1, -1) }); // unquoted also matches
    expect(v2.old?.etag).toBe(v1.meta.etag);
    expect(await codeOf(put(store, 'b', 'k', 'v3', { ifMatch: v1.meta.etag }))).toBe('PreconditionFailed');
    expect(await codeOf(put(store, 'b', 'k', 'x', { ifNoneMatch: true }))).toBe('PreconditionFailed');
    // Compare-and-swap: 16 writers all expecting v2; exactly one may replace it.
    const bodies = Array.from({ length: 16 }, (_, i) => Buffer.from(`cas ${i}`));
    const ids = await Promise.all(bodies.map((b) => writeBlob(store, b)));
    const results = await Promise.allSettled(ids.map((id, i) => store.putObject('b', metaFor('k', id, bodies[i]!), { ifMatch: v2.meta.etag })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('reads racing overwrites never fail and always see one whole version', async () => {
    const store = await openStore();
    await store.createBucket('b', 'r');
    const version = (i: number) => Buffer.alloc(1000 + (i % 7) * 3000, i % 251);
    await put(store, 'b', 'hot', version(0));
    let done = false;
    let reads = 0;
    const errors: unknown[] = [];
    const reader = async () => {
      while (!done) {
        try {
          const o = await store.openObject('b', 'hot');
          expect(o).toBeDefined();
          const data = await readAll(o!.handles);
          for (const h of o!.handles) await h.close();
          expect(data.length).toBe(o!.meta.size);
          expect(md5(data)).toBe(o!.meta.etag);
          reads++;
        } catch (e) {
          errors.push(e);
          done = true;
        }
      }
    };
    const readers = Array.from({ length: 6 }, reader);
    for (let i = 1; i <= 120 && !done; i++) await put(store, 'b', 'hot', version(i));
    done = true;
    await Promise.all(readers);
    expect(errors).toEqual([]);
    expect(reads).toBeGreaterThan(20);
  });

  it('openObject retries when an overwrite unlinks the blob between the metadata read and the open', async () => {
    for (const retries of [8, 0]) {
      const store = await openStore(undefined, { openRetries: retries });
      await store.createBucket('b', 'r');
      await put(store, 'b', 'hot', 'old bytes');
      // Deterministic race: the first blob open waits until an overwrite has committed and
      // unlinked the blob whose id openObject just read.
      const blobs = (store as unknown as { blobs: { open: (id: string) => Promise<FileHandle> } }).blobs;
      const orig = blobs.open.bind(blobs);
      let raced = false;
      blobs.open = async (id: string) => {
        if (!raced) {
          raced = true;
          await put(store, 'b', 'hot', 'new bytes');
        }
        return orig(id);
      };
      if (retries === 0) {
        await expect(store.openObject('b', 'hot')).rejects.toMatchObject({ code: 'ENOENT' }); // what the retry prevents
      } else {
        expect((await getBytes(store, 'b', 'hot'))!.toString()).toBe('new bytes');
      }
      expect(raced).toBe(true);
    }
  });
});

describe('buckets', () => {
  it('create, list sorted, duplicate, config, delete, BucketNotEmpty, NoSuchBucket', async () => {
    const dir = tempDir();
    const store = await openStore(dir);
    for (const n of ['zeta', 'alpha', 'akko-rag', 'mid']) await store.createBucket(n, 'akko-local');
    expect(store.listBuckets().map((b) => b.name)).toEqual(['akko-rag', 'alpha', 'mid', 'zeta']);
    expect(store.getBucket('alpha')).toMatchObject({ name: 'alpha', region: 'akko-local' });
    expect(store.getBucket('nope')).toBeUndefined();
    expect(await codeOf(store.createBucket('alpha', 'x'))).toBe('BucketAlreadyOwnedByYou');
    const racing = await Promise.allSettled(Array.from({ length: 8 }, () => store.createBucket('race', 'r')));
    expect(racing.filter((r) => r.status === 'fulfilled')).toHaveLength(1);

    // Each read between the writes (records are cached decoded) sees the write before it.
    await store.setBucketConfig('alpha', 'cors', { rules: [1] });
    expect(store.getBucket('alpha')!.config).toEqual({ cors: { rules: [1] } });
    await store.setBucketConfig('alpha', 'lifecycle', { days: 3 });
    expect(store.getBucket('alpha')!.config).toEqual({ cors: { rules: [1] }, lifecycle: { days: 3 } });
    await store.setBucketConfig('alpha', 'cors', undefined);
    expect(store.getBucket('alpha')!.config).toEqual({ lifecycle: { days: 3 } });
    expect(await codeOf(store.setBucketConfig('nope', 'cors', {}))).toBe('NoSuchBucket');

    await put(store, 'alpha', 'k', 'x');
    expect(store.isEmpty('alpha')).toBe(false);
    expect(await codeOf(store.deleteBucket('alpha'))).toBe('BucketNotEmpty');
    await store.deleteObject('alpha', 'k');
    expect(store.isEmpty('alpha')).toBe(true);
    // A neighbour whose name extends this one ('alpha' < 'alpha2') must not count as content.
    await store.createBucket('alpha2', 'r');
    await put(store, 'alpha2', 'k', 'x');
    await store.deleteBucket('alpha');
    expect(store.getBucket('alpha')).toBeUndefined();
    expect(await codeOf(store.deleteBucket('alpha'))).toBe('NoSuchBucket');
    await store.createBucket('alpha', 'other-region');
    expect(store.getBucket('alpha')).toEqual({ name: 'alpha', created: expect.any(Number), region: 'other-region' });
    await store.deleteBucket('alpha');
    expect(await codeOf(store.createBucket('bad\0name', 'r'))).toBe('InvalidBucketName');

    await store.close();
    stores.length = 0;
    const again = await openStore(dir);
    expect(again.listBuckets().map((b) => b.name)).toEqual(['akko-rag', 'alpha2', 'mid', 'race', 'zeta']);
    expect(again.objectCount('alpha2')).toBe(1);
  });
});
