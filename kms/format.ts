// The object format (spec and test vectors: kms/FORMAT.md): plaintext cut into fixed-size
// segments, each sealed with AES-256-GCM under the per-object key. Ciphertext is
// segment₀‖tag₀‖segment₁‖tag₁‖…, so every offset is computable and a range read decrypts only
// the segments it touches.
import { createCipheriv, createDecipheriv, createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from './errors.js';
import { cryptoBytes } from './metrics.js';

export const FORMAT_VERSION = 1;
export const TAG_SIZE = 16;
export const NONCE_SIZE = 12;
export const KEY_SIZE = 32;
/** Measured in bench/crypto.ts: see FORMAT.md "Segment size". */
export const DEFAULT_SEGMENT_SIZE = 64 * 1024;
export const MIN_SEGMENT_SIZE = 16;
export const MAX_SEGMENT_SIZE = 16 * 1024 * 1024;
/** The index lives in 32 bits of the nonce; beyond it a nonce would repeat. */
export const MAX_SEGMENTS = 2 ** 32;

const AAD_MAGIC = 0x414b5347; // "AKSG"

function checkSegmentSize(s: number): number {
  if (!Number.isInteger(s) || s < MIN_SEGMENT_SIZE || s > MAX_SEGMENT_SIZE) {
    throw new RangeError(`segment size must be an integer in [${MIN_SEGMENT_SIZE}, ${MAX_SEGMENT_SIZE}], got ${s}`);
  }
  return s;
}

function checkKey(key: Buffer): void {
  if (key.length !== KEY_SIZE) throw new RangeError(`object key must be ${KEY_SIZE} bytes, got ${key.length}`);
}

/** 7 zero bytes ‖ index (uint32 BE) ‖ last flag. Written into `out` to avoid an allocation per segment. */
export function segmentNonce(index: number, last: boolean, out: Buffer = Buffer.alloc(NONCE_SIZE)): Buffer {
  out.fill(0, 0, 7);
  out.writeUInt32BE(index, 7);
  out[11] = last ? 1 : 0;
  return out;
}

/** "AKSG" ‖ version ‖ last flag ‖ 0x0000 ‖ segment size (uint32 BE) ‖ index (uint32 BE). */
export function segmentAad(segmentSize: number, index: number, last: boolean, out: Buffer = Buffer.alloc(16)): Buffer {
  out.writeUInt32BE(AAD_MAGIC, 0);
  out[4] = FORMAT_VERSION;
  out[5] = last ? 1 : 0;
  out[6] = 0;
  out[7] = 0;
  out.writeUInt32BE(segmentSize, 8);
  out.writeUInt32BE(index, 12);
  return out;
}

/** Segments of a plaintext: an empty plaintext still has one (empty, flagged) segment. */
export function segmentCount(plainSize: number, segmentSize = DEFAULT_SEGMENT_SIZE): number {
  checkSegmentSize(segmentSize);
  if (!Number.isSafeInteger(plainSize) || plainSize < 0) throw new RangeError(`invalid plaintext size ${plainSize}`);
  return plainSize === 0 ? 1 : Math.ceil(plainSize / segmentSize);
}

export function ciphertextSize(plainSize: number, segmentSize = DEFAULT_SEGMENT_SIZE): number {
  return plainSize + segmentCount(plainSize, segmentSize) * TAG_SIZE;
}

/** Inverse of ciphertextSize; a blob size no plaintext maps to is an IntegrityError. */
export function plaintextSize(cipherSize: number, segmentSize = DEFAULT_SEGMENT_SIZE): number {
  checkSegmentSize(segmentSize);
  const full = segmentSize + TAG_SIZE;
  const n = Math.ceil(cipherSize / full);
  const rest = cipherSize - (n - 1) * full;
  if (cipherSize < TAG_SIZE || rest < TAG_SIZE || (rest === TAG_SIZE && n > 1)) {
    throw new IntegrityError('truncated', `ciphertext size ${cipherSize} is not valid for segment size ${segmentSize}`);
  }
  return cipherSize - n * TAG_SIZE;
}

export interface SegmentRange {
  firstSegment: number;
  lastSegment: number;
  totalSegments: number;
  /** First ciphertext byte to read. */
  cipherStart: number;
  /** Last ciphertext byte to read, inclusive (as fs.createReadStream's `end`). */
  cipherEnd: number;
  /** Plaintext bytes to drop from the first decrypted segment. */
  skipFirst: number;
  /** Plaintext bytes the range yields. */
  length: number;
}

/**
 * Ciphertext to read for plaintext bytes [plainStart, plainEnd] (inclusive, as an HTTP Range)
 * of an object of plainSize bytes. The result can be passed to createDecryptStream as is.
 */
export function segmentRange(plainStart: number, plainEnd: number, plainSize: number, segmentSize = DEFAULT_SEGMENT_SIZE): SegmentRange {
  const totalSegments = segmentCount(plainSize, segmentSize);
  if (plainSize === 0) {
    if (plainStart !== 0 || plainEnd !== -1) throw new RangeError('an empty object has only the empty range (0, -1)');
    return { firstSegment: 0, lastSegment: 0, totalSegments, cipherStart: 0, cipherEnd: TAG_SIZE - 1, skipFirst: 0, length: 0 };
  }
  if (!Number.isSafeInteger(plainStart) || !Number.isSafeInteger(plainEnd) || plainStart < 0 || plainEnd < plainStart || plainEnd >= plainSize) {
    throw new RangeError(`range ${plainStart}-${plainEnd} is outside 0-${plainSize - 1}`);
  }
  const full = segmentSize + TAG_SIZE;
  const firstSegment = Math.floor(plainStart / segmentSize);
  const lastSegment = Math.floor(plainEnd / segmentSize);
  const lastPlain = Math.min(segmentSize, plainSize - lastSegment * segmentSize);
  return {
    firstSegment,
    lastSegment,
    totalSegments,
    cipherStart: firstSegment * full,
    cipherEnd: lastSegment * full + lastPlain + TAG_SIZE - 1,
    skipFirst: plainStart - firstSegment * segmentSize,
    length: plainEnd - plainStart + 1,
  };
}

/** The whole object as a range (also valid for an empty object). */
export function fullRange(plainSize: number, segmentSize = DEFAULT_SEGMENT_SIZE): SegmentRange {
  return segmentRange(0, plainSize - 1, plainSize, segmentSize);
}

/** Seals one segment; returns ciphertext and tag separately so a stream can push both without a copy. */
export function sealSegment(key: Buffer, segmentSize: number, index: number, last: boolean, plaintext: Buffer, scratch?: { nonce: Buffer; aad: Buffer }): [Buffer, Buffer] {
  const c = createCipheriv('aes-256-gcm', key, segmentNonce(index, last, scratch?.nonce), { authTagLength: TAG_SIZE });
  c.setAAD(segmentAad(segmentSize, index, last, scratch?.aad));
  const ct = c.update(plaintext);
  c.final();
  return [ct, c.getAuthTag()];
}

/** Opens one sealed segment (ciphertext ‖ tag); any mismatch is an IntegrityError naming the segment. */
export function openSegment(key: Buffer, segmentSize: number, index: number, last: boolean, sealed: Buffer, scratch?: { nonce: Buffer; aad: Buffer }): Buffer {
  if (sealed.length < TAG_SIZE) throw new IntegrityError('truncated', `segment ${index} is shorter than its tag`, index);
  const d = createDecipheriv('aes-256-gcm', key, segmentNonce(index, last, scratch?.nonce), { authTagLength: TAG_SIZE });
  d.setAAD(segmentAad(segmentSize, index, last, scratch?.aad));
  d.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  const pt = d.update(sealed.subarray(0, sealed.length - TAG_SIZE));
  try {
    d.final();
  } catch {
    throw new IntegrityError('tag', `segment ${index}${last ? ' (last)' : ''} failed authentication`, index);
  }
  return pt;
}

export interface EncryptOptions {
  segmentSize?: number;
}

/**
 * Plaintext in, format out. Input is gathered into one reusable segment buffer (no per-chunk
 * concat); whole segments inside a large chunk are sealed straight from the chunk. A full
 * segment is held until the next byte or the end, because only then is its last flag known.
 */
export function createEncryptStream(objectKey: Buffer, opts: EncryptOptions = {}): EncryptStream {
  return new EncryptStream(objectKey, checkSegmentSize(opts.segmentSize ?? DEFAULT_SEGMENT_SIZE));
}

export class EncryptStream extends Transform {
  private readonly key: Buffer;
  private readonly buf: Buffer;
  private used = 0;
  private fill = 0;
  private index = 0;
  private bytes = 0;
  private readonly scratch = { nonce: Buffer.alloc(NONCE_SIZE), aad: Buffer.alloc(16) };
  private readonly tags: Hash = createHash('sha256');
  private digest?: Buffer;

  constructor(
    objectKey: Buffer,
    private readonly size: number,
  ) {
    super({ readableHighWaterMark: size + TAG_SIZE, writableHighWaterMark: size });
    checkKey(objectKey);
    // Our own copy, so the caller may zero its key right after creating the stream.
    this.key = Buffer.alloc(KEY_SIZE);
    objectKey.copy(this.key);
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  private seal(plain: Buffer, last: boolean): void {
    if (this.index >= MAX_SEGMENTS) throw new RangeError('object has too many segments for its segment size');
    const [ct, tag] = sealSegment(this.key, this.size, this.index++, last, plain, this.scratch);
    this.tags.update(tag);
    this.bytes += plain.length;
    if (ct.length) this.push(ct);
    this.push(tag);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      const S = this.size;
      let off = 0;
      while (off < chunk.length) {
        if (this.fill === S) {
          this.seal(this.buf, false);
          this.fill = 0;
        }
        if (this.fill === 0 && chunk.length - off > S) {
          this.seal(chunk.subarray(off, off + S), false);
          off += S;
          continue;
        }
        const n = Math.min(S - this.fill, chunk.length - off);
        chunk.copy(this.buf, this.fill, off, off + n);
        this.fill += n;
        this.used = Math.max(this.used, this.fill);
        off += n;
      }
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  /**
   * 16 bytes that identify this ciphertext (SHA-256 of all segment tags, truncated), free to
   * compute: a candidate ETag for encrypted objects instead of a full-body MD5 (DESIGN §5).
   * Available after the stream has ended.
   */
  tagsDigest(): Buffer {
    if (!this.digest) throw new Error('tagsDigest() is available after the stream has ended');
    return this.digest;
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.seal(this.buf.subarray(0, this.fill), true);
      this.digest = this.tags.digest().subarray(0, 16);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    // Counted once per stream (not per chunk), also when the body was cut short.
    if (this.bytes) cryptoBytes.inc({ direction: 'encrypt' }, this.bytes);
    this.bytes = 0;
    this.key.fill(0);
    this.buf.fill(0, 0, this.used);
    cb(err);
  }
}

export interface DecryptOptions extends Partial<SegmentRange> {
  segmentSize?: number;
}

/**
 * Format in, plaintext out; every tag is verified before any byte of its segment is released.
 * With totalSegments known (from segmentRange / fullRange), segment i must carry the last
 * flag iff i = totalSegments-1 and exactly firstSegment..lastSegment must arrive. Without it
 * the whole stream is expected and the flagged segment must be the one the stream ends with.
 */
export function createDecryptStream(objectKey: Buffer, opts: DecryptOptions = {}): Transform {
  return new DecryptStream(objectKey, opts);
}

/**
 * The decryption itself, synchronous: `feed` takes ciphertext in any slicing and hands each
 * verified plaintext segment (a fresh buffer) to `emit` before it returns, and keeps no
 * reference to the chunk it was given, so a reader can refill one buffer for the next slice.
 * `finish` checks that nothing is missing; `dispose` zeroes the key and the carry-over buffer.
 */
export class SegmentOpener {
  private readonly key: Buffer;
  private readonly size: number;
  private readonly full: number;
  private readonly buf: Buffer;
  private used = 0;
  private fill = 0;
  private index: number;
  private readonly lastSegment: number;
  private readonly total: number | undefined;
  private skip: number;
  private remaining: number;
  private done = false;
  private bytes = 0;
  private readonly scratch = { nonce: Buffer.alloc(NONCE_SIZE), aad: Buffer.alloc(16) };

  constructor(
    objectKey: Buffer,
    o: DecryptOptions,
    private readonly emit: (plaintext: Buffer) => void,
  ) {
    this.size = checkSegmentSize(o.segmentSize ?? DEFAULT_SEGMENT_SIZE);
    checkKey(objectKey);
    // Our own copy, so the caller may zero its key right after creating the opener.
    this.key = Buffer.alloc(KEY_SIZE);
    objectKey.copy(this.key);
    this.full = this.size + TAG_SIZE;
    this.total = o.totalSegments;
    this.index = o.firstSegment ?? 0;
    this.lastSegment = o.lastSegment ?? (this.total === undefined ? Infinity : this.total - 1);
    this.skip = o.skipFirst ?? 0;
    this.remaining = o.length ?? Infinity;
    if (this.total !== undefined && !(this.index <= this.lastSegment && this.lastSegment < this.total)) {
      throw new RangeError(`invalid segment range ${this.index}-${this.lastSegment} of ${this.total}`);
    }
    if (this.total === undefined && this.index !== 0) throw new RangeError('a ranged decrypt needs totalSegments');
    this.buf = Buffer.allocUnsafeSlow(this.full);
  }

  private open(sealed: Buffer, last: boolean): void {
    if (this.done) throw new IntegrityError('extended', `data after segment ${this.index - 1}`, this.index);
    let pt = openSegment(this.key, this.size, this.index, last, sealed, this.scratch);
    this.index++;
    this.bytes += pt.length;
    if (last || this.index > this.lastSegment) this.done = true;
    if (this.skip) {
      pt = pt.subarray(Math.min(this.skip, pt.length));
      this.skip = 0;
    }
    if (pt.length > this.remaining) pt = pt.subarray(0, this.remaining);
    this.remaining -= pt.length;
    if (pt.length) this.emit(pt);
  }

  /** Known layout: the last flag follows from the index. Unknown: a full segment followed by more data is not last. */
  private isLast(): boolean {
    return this.total !== undefined && this.index === this.total - 1;
  }

  feed(chunk: Buffer): void {
    const F = this.full;
    let off = 0;
    while (off < chunk.length) {
      if (this.done) throw new IntegrityError('extended', `data after segment ${this.index - 1}`, this.index);
      if (this.fill === F) {
        this.open(this.buf, this.isLast());
        this.fill = 0;
        continue;
      }
      if (this.fill === 0 && chunk.length - off > F) {
        this.open(chunk.subarray(off, off + F), this.isLast());
        off += F;
        continue;
      }
      const n = Math.min(F - this.fill, chunk.length - off);
      chunk.copy(this.buf, this.fill, off, off + n);
      this.fill += n;
      this.used = Math.max(this.used, this.fill);
      off += n;
    }
    // With a known layout a full segment need not wait for the next chunk.
    if (this.fill === F && this.total !== undefined) {
      this.open(this.buf, this.isLast());
      this.fill = 0;
    }
  }

  finish(): void {
    if (this.fill > 0) {
      if (this.total !== undefined && !this.isLast()) {
        throw new IntegrityError('truncated', `segment ${this.index} is cut short`, this.index);
      }
      this.open(this.buf.subarray(0, this.fill), true);
      this.fill = 0;
    }
    if (!this.done) throw new IntegrityError('truncated', `ciphertext ends before segment ${this.index}`, this.index);
    if (this.remaining !== Infinity && this.remaining !== 0) {
      throw new IntegrityError('truncated', `range is ${this.remaining} bytes short`, this.index);
    }
  }

  dispose(): void {
    // Counted once per object read (not per chunk), also when the read was cut short.
    if (this.bytes) cryptoBytes.inc({ direction: 'decrypt' }, this.bytes);
    this.bytes = 0;
    this.key.fill(0);
    this.buf.fill(0, 0, this.used);
    this.used = 0;
  }
}

class DecryptStream extends Transform {
  private readonly opener: SegmentOpener;

  constructor(objectKey: Buffer, o: DecryptOptions) {
    const size = checkSegmentSize(o.segmentSize ?? DEFAULT_SEGMENT_SIZE);
    super({ readableHighWaterMark: size, writableHighWaterMark: size + TAG_SIZE });
    this.opener = new SegmentOpener(objectKey, o, (pt) => this.push(pt));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.opener.feed(chunk);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.opener.finish();
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _destroy(err: Error | null, cb: (error: Error | null) => void): void {
    this.opener.dispose();
    cb(err);
  }
}
