// The object format: FORMAT.md vectors, round trips, ranges at every segment boundary, and
// tampering (flip, swap, truncate, extend) answered with IntegrityError, never with bytes.
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../kms/errors.js';
import {
  ciphertextSize,
  createDecryptStream,
  createEncryptStream,
  DEFAULT_SEGMENT_SIZE,
  fullRange,
  plaintextSize,
  segmentCount,
  SegmentOpener,
  segmentRange,
  TAG_SIZE,
  type DecryptOptions,
} from '../../kms/format.js';
import { registry } from '../../src/metrics.js';

const KEY = randomBytes(32);

/** Feeds `input` in chunks of `chunk` bytes (or random sizes) through a transform; collects the output. */
async function run(t: NodeJS.ReadWriteStream, input: Buffer, chunk: number | 'random' = 1 << 20): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let o = 0; o < input.length; ) {
    const n = chunk === 'random' ? 1 + Math.floor(Math.random() * 100_000) : chunk;
    parts.push(input.subarray(o, o + n));
    o += n;
  }
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), t, new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } }));
  return Buffer.concat(out);
}

const encrypt = (pt: Buffer, S = DEFAULT_SEGMENT_SIZE, chunk: number | 'random' = 1 << 20) => run(createEncryptStream(KEY, { segmentSize: S }), pt, chunk);
const decrypt = (ct: Buffer, o: DecryptOptions = {}, chunk: number | 'random' = 1 << 20) => run(createDecryptStream(KEY, o), ct, chunk);

async function integrityFailures(): Promise<number> {
  const m = await registry.getSingleMetric('akko_integrity_failures_total')!.get();
  return m.values.reduce((a, v) => a + v.value, 0);
}

// ---- FORMAT.md vectors -----------------------------------------------------------------

interface Vector { [k: string]: string }
const vectors: Vector[] = [...readFileSync(new URL('../../kms/FORMAT.md', import.meta.url), 'utf8').matchAll(/```vector\n([\s\S]*?)```/g)].map((m) =>
  Object.fromEntries(m[1]!.trim().split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()])),
);

/** The spec's rules written out by hand (not using kms/format.ts), to check the code against them. */
function specEncrypt(key: Buffer, S: number, pt: Buffer): Buffer {
  const n = Math.max(1, Math.ceil(pt.length / S));
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const L = i === n - 1 ? 1 : 0;
    const nonce = Buffer.concat([Buffer.alloc(7), Buffer.from([i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255]), Buffer.from([L])]);
    const aad = Buffer.concat([Buffer.from('AKSG'), Buffer.from([1, L, 0, 0]), Buffer.from([S >>> 24, (S >>> 16) & 255, (S >>> 8) & 255, S & 255]), nonce.subarray(7, 11)]);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    out.push(c.update(pt.subarray(i * S, (i + 1) * S)), c.final(), c.getAuthTag());
  }
  return Buffer.concat(out);
}

describe('FORMAT.md test vectors', () => {
  it('has the vectors', () => expect(vectors.map((v) => v.name)).toEqual(['empty', 'one-byte', 'exact-segment', 'three-segments', 'default-segment-size']));

  for (const v of vectors) {
    it(`vector ${v.name}`, async () => {
      const key = Buffer.from(v.key!, 'hex');
      const S = Number(v['segment-size']);
      let pt: Buffer;
      if (v['plaintext-pattern']) {
        pt = Buffer.alloc(200000);
        for (let i = 0; i < pt.length; i++) pt[i] = (i * 7) & 0xff;
        expect(createHash('sha256').update(pt).digest('hex')).toBe(v['plaintext-sha256']);
      } else {
        pt = Buffer.from(v.plaintext!, 'hex');
      }
      const ct = await run(createEncryptStream(key, { segmentSize: S }), pt, 'random');
      const spec = specEncrypt(key, S, pt);
      if (v.ciphertext !== undefined) {
        expect(ct.toString('hex')).toBe(v.ciphertext);
        expect(spec.toString('hex')).toBe(v.ciphertext);
      } else {
        expect(ct.length).toBe(Number(v['ciphertext-length']));
        expect(createHash('sha256').update(ct).digest('hex')).toBe(v['ciphertext-sha256']);
        expect(spec.equals(ct)).toBe(true);
      }
      expect(ct.length).toBe(ciphertextSize(pt.length, S));
      expect((await run(createDecryptStream(key, { segmentSize: S }), ct)).equals(pt)).toBe(true);
    });
  }
});

// ---- sizes and ranges ------------------------------------------------------------------

describe('sizes', () => {
  it('counts segments and ciphertext size', () => {
    expect(segmentCount(0, 16)).toBe(1);
    expect(segmentCount(16, 16)).toBe(1);
    expect(segmentCount(17, 16)).toBe(2);
    expect(ciphertextSize(0, 16)).toBe(16);
    expect(ciphertextSize(17, 16)).toBe(17 + 32);
    for (const n of [0, 1, 15, 16, 17, 32, 33, 1000]) expect(plaintextSize(ciphertextSize(n, 16), 16)).toBe(n);
  });

  it('rejects blob sizes no plaintext maps to', () => {
    for (const bad of [0, 15, 32 + 15, 32 + 16]) expect(() => plaintextSize(bad, 16)).toThrow(IntegrityError);
  });
});

describe('round trip', () => {
  const S = 1024;
  for (const n of [0, 1, S - 1, S, S + 1, 2 * S, 2 * S + 1, 37 * S + 5]) {
    it(`${n} bytes (segment ${S}), odd chunking`, async () => {
      const pt = randomBytes(n);
      const ct = await encrypt(pt, S, 'random');
      expect(ct.length).toBe(ciphertextSize(n, S));
      expect((await decrypt(ct, { segmentSize: S }, 'random')).equals(pt)).toBe(true);
      expect((await decrypt(ct, { segmentSize: S, ...fullRange(n, S) }, 7)).equals(pt)).toBe(true);
    });
  }

  it('many segments at the default size, 1-byte to 1 MiB chunks', async () => {
    const pt = randomBytes(5 * DEFAULT_SEGMENT_SIZE + 123);
    for (const chunk of [1 << 20, 65536, 16384, 'random' as const]) {
      const ct = await encrypt(pt, DEFAULT_SEGMENT_SIZE, chunk);
      expect((await decrypt(ct, {}, chunk)).equals(pt)).toBe(true);
    }
  });

  it('is not a plaintext copy and differs per key', async () => {
    const pt = Buffer.alloc(4096, 0x41);
    const ct = await encrypt(pt, 1024);
    expect(ct.includes(Buffer.alloc(64, 0x41))).toBe(false);
    const other = await run(createEncryptStream(randomBytes(32), { segmentSize: 1024 }), pt);
    expect(other.equals(ct)).toBe(false);
  });
});

describe('ranges', () => {
  const S = 64;
  const N = 5 * S + 17;
  const pt = randomBytes(N);
  let ct: Buffer;

  it('every range with ends at segment boundaries ±1 decrypts exactly', async () => {
    ct = await encrypt(pt, S);
    const points = new Set<number>();
    for (let b = 0; b <= N; b += S) for (const d of [-1, 0, 1]) if (b + d >= 0 && b + d < N) points.add(b + d);
    points.add(N - 1);
    const ps = [...points].sort((a, b) => a - b);
    let checked = 0;
    for (const a of ps) {
      for (const b of ps) {
        if (b < a) continue;
        const r = segmentRange(a, b, N, S);
        expect(r.length).toBe(b - a + 1);
        const slice = ct.subarray(r.cipherStart, r.cipherEnd + 1);
        const out = await decrypt(slice, { segmentSize: S, ...r }, 'random');
        expect(out.equals(pt.subarray(a, b + 1)), `range ${a}-${b}`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('computes offsets', () => {
    expect(segmentRange(0, 0, N, S)).toEqual({ firstSegment: 0, lastSegment: 0, totalSegments: 6, cipherStart: 0, cipherEnd: S + 15, skipFirst: 0, length: 1 });
    expect(segmentRange(S, N - 1, N, S)).toEqual({ firstSegment: 1, lastSegment: 5, totalSegments: 6, cipherStart: S + 16, cipherEnd: ciphertextSize(N, S) - 1, skipFirst: 0, length: N - S });
    expect(segmentRange(S + 3, 2 * S, N, S)).toMatchObject({ firstSegment: 1, lastSegment: 2, cipherStart: S + 16, cipherEnd: 3 * (S + 16) - 1, skipFirst: 3 });
    expect(fullRange(0, S)).toEqual({ firstSegment: 0, lastSegment: 0, totalSegments: 1, cipherStart: 0, cipherEnd: 15, skipFirst: 0, length: 0 });
    expect(() => segmentRange(0, N, N, S)).toThrow(RangeError);
    expect(() => segmentRange(5, 4, N, S)).toThrow(RangeError);
  });

  it('a range from the wrong offset fails', async () => {
    const r = segmentRange(S, 2 * S - 1, N, S);
    const shifted = ct.subarray(r.cipherStart + S + 16, r.cipherEnd + 1 + S + 16);
    await expect(decrypt(shifted, { segmentSize: S, ...r })).rejects.toBeInstanceOf(IntegrityError);
  });
});

// ---- tampering -------------------------------------------------------------------------

describe('tampering', () => {
  const S = 256;
  const pt = randomBytes(4 * S + 100); // 5 segments
  const n = 5;
  const seg = (ct: Buffer, i: number) => ct.subarray(i * (S + TAG_SIZE), Math.min((i + 1) * (S + TAG_SIZE), ct.length));

  async function expectIntegrity(ct: Buffer, opts: DecryptOptions, reason?: string): Promise<void> {
    const before = await integrityFailures();
    const out: Buffer[] = [];
    const err = await pipeline(Readable.from([ct]), createDecryptStream(KEY, opts), new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IntegrityError);
    if (reason) expect((err as IntegrityError).reason).toBe(reason);
    expect(await integrityFailures()).toBe(before + 1);
    // Nothing from the failing segment on was released.
    const released = Buffer.concat(out);
    expect(pt.subarray(0, released.length).equals(released)).toBe(true);
  }

  const modes: Array<[string, (n: number) => DecryptOptions]> = [
    ['streaming (no size known)', () => ({ segmentSize: S })],
    ['sized (totalSegments known)', (len) => ({ segmentSize: S, ...fullRange(len, S) })],
  ];

  for (const [mode, opts] of modes) {
    describe(mode, () => {
      it('the untampered blob decrypts', async () => {
        const ct = await encrypt(pt, S);
        expect((await decrypt(ct, opts(pt.length))).equals(pt)).toBe(true);
      });

      it('a flipped bit anywhere fails', async () => {
        const ct = await encrypt(pt, S);
        for (const pos of [0, S - 1, S, S + 15, S + 16, ct.length - 17, ct.length - 1]) {
          const bad = Buffer.from(ct);
          bad[pos]! ^= 1;
          await expectIntegrity(bad, opts(pt.length), 'tag');
        }
      });

      it('swapped segments fail', async () => {
        const ct = await encrypt(pt, S);
        const bad = Buffer.concat([seg(ct, 1), seg(ct, 0), seg(ct, 2), seg(ct, 3), seg(ct, 4)]);
        await expectIntegrity(bad, opts(pt.length), 'tag');
      });

      it('a dropped last segment fails', async () => {
        const ct = await encrypt(pt, S);
        await expectIntegrity(ct.subarray(0, 4 * (S + TAG_SIZE)), opts(pt.length));
      });

      it('a blob cut mid-segment fails', async () => {
        const ct = await encrypt(pt, S);
        for (const cut of [ct.length - 1, ct.length - 16, ct.length - 17, 3 * (S + TAG_SIZE) + 10, 5, 0]) await expectIntegrity(ct.subarray(0, cut), opts(pt.length));
      });

      it('an appended segment fails (a copy of a real one, or garbage)', async () => {
        const ct = await encrypt(pt, S);
        await expectIntegrity(Buffer.concat([ct, seg(ct, n - 1)]), opts(pt.length));
        await expectIntegrity(Buffer.concat([ct, seg(ct, 0)]), opts(pt.length));
        await expectIntegrity(Buffer.concat([ct, Buffer.from([0])]), opts(pt.length));
      });

      it('a wrong segment size in the metadata fails', async () => {
        const ct = await encrypt(pt, S);
        await expectIntegrity(ct, { ...opts(pt.length), segmentSize: S * 2, totalSegments: undefined });
      });

      it('a different object key fails', async () => {
        const ct = await run(createEncryptStream(randomBytes(32), { segmentSize: S }), pt);
        await expectIntegrity(ct, opts(pt.length), 'tag');
      });
    });
  }

  it('a segment-aligned object truncated at a boundary fails (last flag)', async () => {
    const aligned = randomBytes(3 * S);
    const ct = await encrypt(aligned, S);
    const cut = ct.subarray(0, 2 * (S + TAG_SIZE));
    const before = await integrityFailures();
    await expect(decrypt(cut, { segmentSize: S })).rejects.toMatchObject({ reason: 'tag', segment: 1 });
    await expect(decrypt(cut, { segmentSize: S, ...fullRange(3 * S, S) })).rejects.toMatchObject({ reason: 'truncated' });
    expect(await integrityFailures()).toBe(before + 2);
  });

  it('with a known size, a cut is reported as truncation (metric reason), not as a bad tag', async () => {
    const ct = await encrypt(pt, S);
    await expect(decrypt(ct.subarray(0, 2 * (S + TAG_SIZE) + 7), { segmentSize: S, ...fullRange(pt.length, S) })).rejects.toMatchObject({ reason: 'truncated', segment: 2 });
  });

  it('an empty blob is not an empty object', async () => {
    await expect(decrypt(Buffer.alloc(0), { segmentSize: S })).rejects.toMatchObject({ reason: 'truncated' });
    await expect(decrypt(Buffer.alloc(0), { segmentSize: S, ...fullRange(0, S) })).rejects.toMatchObject({ reason: 'truncated' });
  });

  it('a ranged read with extra trailing data fails', async () => {
    const ct = await encrypt(pt, S);
    const r = segmentRange(0, S - 1, pt.length, S);
    await expect(decrypt(ct.subarray(0, r.cipherEnd + 2), { segmentSize: S, ...r })).rejects.toMatchObject({ reason: 'extended' });
  });
});

describe('stream hygiene', () => {
  it('copies the key: zeroing the caller key after creating the stream is safe', async () => {
    const k = randomBytes(32);
    const keep = Buffer.from(k);
    const enc = createEncryptStream(k, { segmentSize: 128 });
    k.fill(0);
    const ct = await run(enc, Buffer.from('hello world'));
    expect((await run(createDecryptStream(keep, { segmentSize: 128 }), ct)).toString()).toBe('hello world');
  });

  it('tagsDigest identifies the ciphertext: SHA-256 of all tags, 16 bytes', async () => {
    const S = 1024;
    const pt = randomBytes(3 * S + 5);
    const enc = createEncryptStream(KEY, { segmentSize: S });
    expect(() => enc.tagsDigest()).toThrow();
    const ct = await run(enc, pt);
    const h = createHash('sha256');
    for (let i = 0; i < 4; i++) h.update(ct.subarray(Math.min((i + 1) * (S + 16), ct.length) - 16, Math.min((i + 1) * (S + 16), ct.length)));
    expect(enc.tagsDigest().equals(h.digest().subarray(0, 16))).toBe(true);
    const other = createEncryptStream(randomBytes(32), { segmentSize: S });
    await run(other, pt);
    expect(other.tagsDigest().equals(enc.tagsDigest())).toBe(false);
  });

  it('counts plaintext bytes encrypted and decrypted', async () => {
    const bytes = async (direction: string) => (await registry.getSingleMetric('akko_encryption_bytes_total')!.get()).values.find((v) => v.labels.direction === direction)?.value ?? 0;
    const [e0, d0] = [await bytes('encrypt'), await bytes('decrypt')];
    const ct = await encrypt(randomBytes(5000), 1024);
    await decrypt(ct, { segmentSize: 1024 });
    expect(await bytes('encrypt')).toBe(e0 + 5000);
    expect(await bytes('decrypt')).toBe(d0 + 5000);
  });

  it('rejects bad keys and segment sizes', () => {
    expect(() => createEncryptStream(Buffer.alloc(16))).toThrow(RangeError);
    expect(() => createEncryptStream(KEY, { segmentSize: 8 })).toThrow(RangeError);
    expect(() => createDecryptStream(KEY, { firstSegment: 1 })).toThrow(RangeError);
  });
});

describe('SegmentOpener (the GET path: one reused read buffer)', () => {
  it('keeps no reference to a fed chunk: the buffer can be overwritten at once, for full and ranged reads', async () => {
    const S = 1024;
    const pt = randomBytes(S * 37 + 123);
    const ct = await encrypt(pt, S);
    const slab = Buffer.alloc(3000);
    for (const [start, end] of [[0, pt.length - 1], [S - 1, S * 5], [S * 36, pt.length - 1], [500, 500]] as const) {
      const r = segmentRange(start, end, pt.length, S);
      const out: Buffer[] = [];
      const opener = new SegmentOpener(KEY, { segmentSize: S, ...r }, (p) => out.push(p));
      for (let pos = r.cipherStart; pos <= r.cipherEnd; ) {
        // Slices of varying size, not aligned to segments, all through the same buffer.
        const n = Math.min(1 + ((pos * 7919) % slab.length), r.cipherEnd - pos + 1);
        ct.copy(slab, 0, pos, pos + n);
        opener.feed(slab.subarray(0, n));
        slab.fill(0xa5);
        pos += n;
      }
      opener.finish();
      opener.dispose();
      expect(Buffer.concat(out).equals(pt.subarray(start, end + 1)), `${start}-${end}`).toBe(true);
    }
  });

  it('refuses a short feed at finish and a flipped byte at feed', async () => {
    const S = 1024;
    const pt = randomBytes(S * 4);
    const ct = await encrypt(pt, S);
    const r = fullRange(pt.length, S);
    const short = new SegmentOpener(KEY, { segmentSize: S, ...r }, () => {});
    short.feed(ct.subarray(0, ct.length - 1));
    expect(() => short.finish()).toThrow(IntegrityError);
    const bad = Buffer.from(ct);
    bad[S + TAG_SIZE + 5]! ^= 1;
    const got: Buffer[] = [];
    const flipped = new SegmentOpener(KEY, { segmentSize: S, ...r }, (p) => got.push(p));
    expect(() => flipped.feed(bad)).toThrow(IntegrityError);
    expect(Buffer.concat(got).equals(pt.subarray(0, S))).toBe(true); // only the verified first segment
  });
});
