import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { describe, expect, it } from 'vitest';
import {
  BodyDigester,
  CHECKSUM_ALGORITHMS,
  CRC_IMPLEMENTATIONS,
  type ChecksumAlgorithm,
  type ExpectedChecksums,
  checksumHeader,
  checksumsToCompute,
  combineCrc,
  combineCrcBase64,
  computeChecksum,
  crc32,
  crc32c,
  crc32cTable,
  crc64nvme,
  crc64nvmeTable,
  createChecksummer,
  decodeBase64Digest,
  isValidChecksumValue,
  parseChecksumAlgorithm,
  parseChecksumHeaders,
  trailerNames,
  verifyChecksums,
} from '../../src/s3/checksums.js';
import { S3Error } from '../../src/s3/errors.js';

const CHECK = Buffer.from('123456789');

// "123456789" in S3 wire form, as AWS returns it (values used by AWS-compatibility suites run
// against S3 itself).
const S3_CHECK: Record<ChecksumAlgorithm, string> = {
  crc32: 'y/Q5Jg==',
  crc32c: '4waSgw==',
  crc64nvme: 'rosUhgp5mIg=',
  sha1: '98O8HYCOBHMq32eZZczDTKeuNEE=',
  sha256: 'FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=',
};
// Same length, decodes to 4/8/20/32 bytes, but non-canonical last character: AWS rejects them.
const S3_NONCANONICAL: Record<ChecksumAlgorithm, string> = {
  crc32: 'y/Q5Jh==',
  crc32c: '4waSgx==',
  crc64nvme: 'rosUhgp5mIh=',
  sha1: '98O8HYCOBHMq32eZZczDTKeuNEF=',
  sha256: 'FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiV=',
};

// Independent bit-at-a-time references.
function refCrc32(poly: number, data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
function refCrc64(data: Uint8Array): bigint {
  let c = 0xffffffffffffffffn;
  for (const b of data) {
    c ^= BigInt(b);
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ 0x9a6c9329ac4bc9b5n : c >> 1n;
  }
  return c ^ 0xffffffffffffffffn;
}

function s3Error(fn: () => unknown): S3Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof S3Error) return e;
    throw e;
  }
  throw new Error('expected an S3Error');
}

describe('CRC implementations', () => {
  it('use the fast implementations on this platform', () => {
    expect(CRC_IMPLEMENTATIONS).toEqual({
      crc32: '@node-rs/crc32',
      crc32c: '@node-rs/crc32',
      crc64nvme: 'wasm-2x-slicing-by-16',
    });
  });

  it('match the catalogue check values for "123456789"', () => {
    expect(crc32(CHECK)).toBe(0xcbf43926);
    expect(crc32c(CHECK)).toBe(0xe3069283);
    expect(crc32cTable(CHECK)).toBe(0xe3069283);
    expect(crc64nvme(CHECK)).toBe(0xae8b14860a799888n);
    expect(crc64nvmeTable(CHECK)).toBe(0xae8b14860a799888n);
  });

  it('give the empty-input values', () => {
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc64nvme(new Uint8Array(0))).toBe(0n);
    expect(computeChecksum('crc64nvme', Buffer.alloc(0))).toBe('AAAAAAAAAAA=');
    expect(computeChecksum('sha256', Buffer.alloc(0))).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=');
  });

  it('produce the S3 wire values (base64, big-endian)', () => {
    for (const a of CHECKSUM_ALGORITHMS) expect(computeChecksum(a, CHECK), a).toBe(S3_CHECK[a]);
  });

  const data = randomBytes(3 * 65536 + 1234);
  // lengths around the WASM lane (2 × 4096), step (16) and copy-buffer (65536) boundaries,
  // at unaligned offsets
  const lengths = [1, 7, 8, 15, 16, 17, 31, 33, 255, 4095, 4096, 8191, 8192, 8193, 12305, 16384, 24577, 65535, 65536, 65537, 131073, 3 * 65536 + 1];

  it('crc64nvme (wasm) equals a bitwise reference', () => {
    for (const len of [0, 1, 9, 16, 17, 100, 8191, 8192, 8209, 16400]) {
      const b = data.subarray(3, 3 + len);
      expect(crc64nvme(b), `len ${len}`).toBe(refCrc64(b));
    }
  });

  it('crc64nvme wasm and table paths agree on many lengths and offsets', () => {
    for (const len of lengths) {
      for (const off of [0, 1, 5]) {
        const b = data.subarray(off, off + len);
        expect(crc64nvme(b), `len ${len} off ${off}`).toBe(crc64nvmeTable(b));
      }
    }
  });

  it('crc64nvme equals @aws-sdk/crc64-nvme on 1 MiB of random data', async () => {
    const big = randomBytes(1 << 20);
    const aws = new Crc64Nvme();
    aws.update(big);
    const ref = Buffer.from(await aws.digest()).readBigUInt64BE(0);
    expect(crc64nvme(big)).toBe(ref);
    expect(crc64nvmeTable(big)).toBe(ref);
  });

  it('crc32c native and table agree with a bitwise reference', () => {
    for (const len of [0, 1, 7, 8, 9, 1000, 65537]) {
      const b = data.subarray(1, 1 + len);
      const want = refCrc32(0x82f63b78, b);
      expect(crc32c(b), `len ${len}`).toBe(want);
      expect(crc32cTable(b), `len ${len}`).toBe(want);
      expect(crc32(b), `len ${len}`).toBe(refCrc32(0xedb88320, b));
    }
  });

  it('chain with a previous value like zlib.crc32', () => {
    const a = data.subarray(0, 10001);
    const b = data.subarray(10001, 30000);
    const ab = data.subarray(0, 30000);
    expect(crc32(b, crc32(a))).toBe(crc32(ab));
    expect(crc32c(b, crc32c(a))).toBe(crc32c(ab));
    expect(crc32cTable(b, crc32cTable(a))).toBe(crc32c(ab));
    expect(crc64nvme(b, crc64nvme(a))).toBe(crc64nvme(ab));
    expect(crc64nvmeTable(b, crc64nvmeTable(a))).toBe(crc64nvme(ab));
  });

  it('createChecksummer fed in pieces equals one shot', () => {
    const whole = data.subarray(0, 100_000);
    for (const a of CHECKSUM_ALGORITHMS) {
      const c = createChecksummer(a);
      for (let off = 0, n = 1; off < whole.length; off += n, n = (n * 7 + 3) % 9000 + 1) {
        c.update(whole.subarray(off, off + n));
      }
      expect(c.digest().toString('base64'), a).toBe(computeChecksum(a, whole));
    }
    expect(computeChecksum('sha1', whole)).toBe(createHash('sha1').update(whole).digest('base64'));
  });
});

describe('combineCrc', () => {
  const data = randomBytes(3 * 1024 * 1024 + 77);
  const splits = [0, 1, 7, 4096, 65536 + 3, 1024 * 1024, data.length - 1, data.length];

  it('crc32 / crc32c combine equals direct computation', () => {
    for (const [name, fn] of [['crc32', crc32], ['crc32c', crc32c]] as const) {
      const whole = fn(data);
      for (const s of splits) {
        const a = data.subarray(0, s);
        const b = data.subarray(s);
        expect(combineCrc(name, fn(a), fn(b), b.length), `${name} split ${s}`).toBe(whole);
      }
    }
  });

  it('crc64nvme combine equals direct computation', () => {
    const whole = crc64nvme(data);
    for (const s of splits) {
      const a = data.subarray(0, s);
      const b = data.subarray(s);
      expect(combineCrc('crc64nvme', crc64nvme(a), crc64nvme(b), b.length), `split ${s}`).toBe(whole);
    }
  });

  it('folds many parts like a FULL_OBJECT multipart checksum', () => {
    const partSize = 300_001;
    for (const a of ['crc32', 'crc32c', 'crc64nvme'] as const) {
      let acc: string | undefined;
      for (let off = 0; off < data.length; off += partSize) {
        const part = data.subarray(off, off + partSize);
        const v = computeChecksum(a, part);
        acc = acc === undefined ? v : combineCrcBase64(a, acc, v, part.length);
      }
      expect(acc, a).toBe(computeChecksum(a, data));
    }
  });

  it('is associative for lengths beyond 2^32 (5 GiB parts)', () => {
    const la = 5 * 2 ** 30 + 3;
    const lb = 2 ** 32 + 12345;
    for (const a of ['crc32', 'crc32c'] as const) {
      const [x, y, z] = [0x12345678, 0x9abcdef0, 0x0badf00d];
      expect(combineCrc(a, combineCrc(a, x, y, la), z, lb)).toBe(combineCrc(a, x, combineCrc(a, y, z, lb), la + lb));
    }
    const [x, y, z] = [0x0123456789abcdefn, 0xfedcba9876543210n, 0x0badf00ddeadbeefn];
    expect(combineCrc('crc64nvme', combineCrc('crc64nvme', x, y, la), z, lb)).toBe(
      combineCrc('crc64nvme', x, combineCrc('crc64nvme', y, z, lb), la + lb),
    );
  });

  it('with an empty B returns crc(A)', () => {
    expect(combineCrc('crc32', 0xdeadbeef, 0, 0)).toBe(0xdeadbeef);
    expect(combineCrc('crc64nvme', 0xae8b14860a799888n, 0n, 0)).toBe(0xae8b14860a799888n);
  });

  it('rejects bad lengths and values', () => {
    expect(() => combineCrc('crc32', 1, 2, -1)).toThrow(RangeError);
    expect(() => combineCrcBase64('crc32', 'nope', S3_CHECK.crc32, 9)).toThrow(TypeError);
  });
});

describe('BodyDigester', () => {
  const body = randomBytes(777_777);

  async function run(opts: ConstructorParameters<typeof BodyDigester>[0], input: Buffer = body) {
    const pieces: Buffer[] = [];
    // odd-sized pieces: 1, 10, 9, 1000, 4099, ... bytes
    for (let off = 0, n = 1; off < input.length; off += n, n = (n * 13 + 7) % 20011 + 1) {
      pieces.push(input.subarray(off, off + n));
    }
    const out: Buffer[] = [];
    const digester = new BodyDigester(opts);
    await pipeline(
      Readable.from(pieces),
      digester,
      new Writable({
        write(chunk: Buffer, _e, cb) {
          out.push(chunk);
          cb();
        },
      }),
    );
    return { digester, passed: Buffer.concat(out) };
  }

  it('passes bytes through unchanged and counts them', async () => {
    const { digester, passed } = await run({ algorithms: ['crc32'] });
    expect(passed.equals(body)).toBe(true);
    expect(digester.bytes).toBe(body.length);
  });

  it('computes the same digests streaming in odd pieces as one shot', async () => {
    for (const a of CHECKSUM_ALGORITHMS) {
      const { digester } = await run({ algorithms: [a], sha256Hex: true });
      const d = digester.digests();
      expect(d.checksums, a).toEqual({ [a]: computeChecksum(a, body) });
      expect(d.md5?.equals(createHash('md5').update(body).digest()), a).toBe(true);
      expect(d.sha256Hex, a).toBe(createHash('sha256').update(body).digest('hex'));
    }
  });

  it('computes CRC64NVME by default when the client sent no checksum', async () => {
    const { digester } = await run({ algorithms: [] });
    const d = digester.digests();
    expect(d.checksums).toEqual({ crc64nvme: computeChecksum('crc64nvme', body) });
    expect(d.sha256Hex).toBeUndefined();
    expect(checksumsToCompute({})).toEqual(['crc64nvme']);
    expect(checksumsToCompute({ algorithm: 'sha1', from: 'trailer' })).toEqual(['sha1']);
  });

  it('honours md5: false and defaultAlgorithm: null', async () => {
    const { digester } = await run({ algorithms: [], md5: false, defaultAlgorithm: null });
    expect(digester.digests()).toEqual({ checksums: {} });
  });

  it('computes several algorithms at once, sharing SHA256', async () => {
    const { digester } = await run({ algorithms: ['sha256', 'crc32c', 'crc32c'], sha256Hex: true });
    const d = digester.digests();
    expect(d.checksums).toEqual({ sha256: computeChecksum('sha256', body), crc32c: computeChecksum('crc32c', body) });
    expect(Buffer.from(d.sha256Hex!, 'hex').toString('base64')).toBe(d.checksums.sha256);
  });

  it('handles an empty body', async () => {
    const { digester } = await run({ algorithms: ['crc32'] }, Buffer.alloc(0));
    const d = digester.digests();
    expect(d.checksums.crc32).toBe('AAAAAA==');
    expect(d.md5?.toString('hex')).toBe('d41d8cd98f00b204e9800998ecf8427e');
    expect(digester.bytes).toBe(0);
  });

  it('refuses data after the digests were taken', async () => {
    const d = new BodyDigester({ algorithms: ['crc32'] });
    d.digests();
    const failed = new Promise<Error>((resolve) => d.once('error', resolve));
    d.write(Buffer.from('x'));
    expect((await failed).message).toMatch(/after digests/);
  });
});

describe('parseChecksumHeaders', () => {
  const invalid = (headers: Record<string, string | string[] | undefined>, trailers: string[] = []) =>
    s3Error(() => parseChecksumHeaders(headers, trailers));

  it('accepts a valid checksum header, case-insensitive announced algorithm', () => {
    for (const a of CHECKSUM_ALGORITHMS) {
      expect(parseChecksumHeaders({ [checksumHeader(a)]: S3_CHECK[a], 'x-amz-sdk-checksum-algorithm': a.toUpperCase() }, [])).toEqual({
        algorithm: a,
        value: S3_CHECK[a],
        from: 'header',
      });
    }
  });

  it('accepts a checksum announced in x-amz-trailer', () => {
    expect(parseChecksumHeaders({ 'x-amz-sdk-checksum-algorithm': 'CRC64NVME' }, [' x-amz-checksum-crc64nvme', ''])).toEqual({
      algorithm: 'crc64nvme',
      from: 'trailer',
    });
  });

  it('returns nothing when nothing is sent and ignores x-amz-checksum-type / -mode', () => {
    expect(parseChecksumHeaders({ 'x-amz-checksum-type': 'FULL_OBJECT', 'x-amz-checksum-mode': 'ENABLED', 'content-type': 'a/b' }, [])).toEqual({});
  });

  it('returns a valid Content-MD5', () => {
    const md5 = createHash('md5').update(CHECK).digest('base64');
    expect(parseChecksumHeaders({ 'content-md5': md5 }, [])).toEqual({ md5 });
  });

  it('rejects several checksum headers, even with a mismatching announced algorithm', () => {
    for (const h of [
      { 'x-amz-checksum-crc32': S3_CHECK.crc32, 'x-amz-checksum-sha1': S3_CHECK.sha1 },
      { 'x-amz-checksum-crc32': S3_CHECK.crc32, 'x-amz-checksum-crc32c': S3_CHECK.crc32c, 'x-amz-sdk-checksum-algorithm': 'sha256' },
      { 'x-amz-checksum-crc32': [S3_CHECK.crc32, S3_CHECK.crc32] },
    ]) {
      const e = invalid(h);
      expect(e.code).toBe('InvalidRequest');
      expect(e.status).toBe(400);
      expect(e.message).toBe('Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
    }
  });

  it('rejects several checksum trailers (and header + several trailers) with the long message', () => {
    const long = 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.';
    expect(invalid({}, ['x-amz-checksum-crc32', 'x-amz-checksum-crc32']).message).toBe(long);
    expect(invalid({ 'x-amz-checksum-crc32': S3_CHECK.crc32 }, ['x-amz-checksum-crc32', 'x-amz-checksum-crc32c']).message).toBe(long);
    expect(invalid({ 'x-amz-checksum-crc32': S3_CHECK.crc32, 'x-amz-checksum-sha256': S3_CHECK.sha256 }, ['x-amz-checksum-crc32']).message).toBe(long);
  });

  it('rejects one header plus one trailer with the short message', () => {
    for (const t of ['x-amz-checksum-crc32', 'x-amz-checksum-crc32c']) {
      const e = invalid({ 'x-amz-checksum-crc32': S3_CHECK.crc32, 'x-amz-sdk-checksum-algorithm': 'crc32' }, [t]);
      expect(e.code).toBe('InvalidRequest');
      expect(e.message).toBe('Expecting a single x-amz-checksum- header');
    }
  });

  it('rejects an unknown x-amz-checksum-* header and an unsupported trailer', () => {
    const e = invalid({ 'x-amz-checksum-bad': S3_CHECK.crc32 });
    expect(e.code).toBe('InvalidRequest');
    expect(e.message).toBe('The algorithm type you specified in x-amz-checksum- header is invalid.');
    const t = invalid({}, ['x-amz-meta-foo']);
    expect(t.code).toBe('InvalidRequest');
    expect(t.message).toBe('The value specified in the x-amz-trailer header is not supported');
  });

  it('rejects malformed values the way S3 does', () => {
    for (const v of ['short===', 'shrt', 'toolong=', '^^^^^^==', 'y^/^Q5^J^g==', 'bad', '', 'y/Q5Jg', S3_CHECK.crc64nvme]) {
      const e = invalid({ 'x-amz-checksum-crc32': v });
      expect(e.code, v).toBe('InvalidRequest');
      expect(e.message, v).toBe('Value for x-amz-checksum-crc32 header is invalid.');
    }
    for (const a of CHECKSUM_ALGORITHMS) {
      expect(invalid({ [checksumHeader(a)]: S3_NONCANONICAL[a] }).message).toBe(`Value for x-amz-checksum-${a} header is invalid.`);
    }
  });

  it('rejects an announced algorithm with no checksum header or trailer', () => {
    const e = invalid({ 'x-amz-sdk-checksum-algorithm': 'CRC32' });
    expect(e.code).toBe('InvalidRequest');
    expect(e.message).toBe('x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.');
    expect(invalid({ 'x-amz-checksum-algorithm': 'CRC32' }).message).toBe(
      'x-amz-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.',
    );
  });

  it('rejects an announced algorithm that differs from the one sent', () => {
    const e = invalid({ 'x-amz-sdk-checksum-algorithm': 'CRC32C', 'x-amz-checksum-crc32': S3_CHECK.crc32 });
    expect(e.code).toBe('InvalidRequest');
    expect(e.message).toBe('Value for x-amz-sdk-checksum-algorithm header is invalid.');
    expect(invalid({ 'x-amz-sdk-checksum-algorithm': 'nope' }, ['x-amz-checksum-sha1']).message).toBe(
      'Value for x-amz-sdk-checksum-algorithm header is invalid.',
    );
  });

  it('rejects an invalid Content-MD5 with InvalidDigest', () => {
    const fifteen = Buffer.alloc(15, 1).toString('base64');
    const nonCanonical = '1B2M2Y8AsgTpgAmY7PhCfh=='; // md5('') is 1B2M2Y8AsgTpgAmY7PhCfg==
    for (const v of ['invalid', '', fifteen, nonCanonical, 'd41d8cd98f00b204e9800998ecf8427e']) {
      const e = invalid({ 'content-md5': v });
      expect(e.code, v).toBe('InvalidDigest');
      expect(e.status).toBe(400);
      expect(e.message).toBe('The Content-MD5 you specified was invalid.');
      expect(e.fields['Content-MD5']).toBe(v);
    }
  });

  it('reads the x-amz-trailer list', () => {
    expect(trailerNames({ 'x-amz-trailer': 'X-Amz-Checksum-CRC32 , x-amz-checksum-sha1,' })).toEqual(['x-amz-checksum-crc32', 'x-amz-checksum-sha1']);
    expect(trailerNames({})).toEqual([]);
    const h = { 'x-amz-trailer': 'x-amz-checksum-crc32, x-amz-checksum-crc32' };
    expect(invalid(h, trailerNames(h)).message).toBe('Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.');
  });

  it('helpers: algorithm names and value validation', () => {
    expect(parseChecksumAlgorithm(' CRC64NVME ')).toBe('crc64nvme');
    expect(parseChecksumAlgorithm('md5')).toBeUndefined();
    expect(isValidChecksumValue('crc32', 'y/Q5Jg==')).toBe(true);
    expect(isValidChecksumValue('crc32', 'y/Q5Jh==')).toBe(false);
    expect(decodeBase64Digest('rosUhgp5mIg=', 8)?.toString('hex')).toBe('ae8b14860a799888');
  });
});

describe('verifyChecksums', () => {
  const body = Buffer.from('the body of a PUT');
  const other = Buffer.from('something else');

  function digests(algorithms: ChecksumAlgorithm[], sha256Hex = false) {
    const d = new BodyDigester({ algorithms, sha256Hex });
    d.end(body);
    return d.digests();
  }

  it('accepts matching Content-MD5 and header checksums', () => {
    for (const a of CHECKSUM_ALGORITHMS) {
      const expected: ExpectedChecksums = {
        md5: createHash('md5').update(body).digest('base64'),
        algorithm: a,
        value: computeChecksum(a, body),
        from: 'header',
      };
      expect(() => verifyChecksums(expected, digests([a]))).not.toThrow();
    }
  });

  it('BadDigest for a Content-MD5 mismatch, with ExpectedDigest in hex', () => {
    const wrong = createHash('md5').update(other).digest();
    const e = s3Error(() => verifyChecksums({ md5: wrong.toString('base64') }, digests(['crc64nvme'])));
    expect(e.code).toBe('BadDigest');
    expect(e.status).toBe(400);
    expect(e.message).toBe('The Content-MD5 you specified did not match what we received.');
    expect(e.fields).toEqual({
      ExpectedDigest: wrong.toString('hex'),
      CalculatedDigest: createHash('md5').update(body).digest('base64'),
    });
  });

  it('BadDigest naming the algorithm for a checksum mismatch', () => {
    for (const a of CHECKSUM_ALGORITHMS) {
      const e = s3Error(() => verifyChecksums({ algorithm: a, value: computeChecksum(a, other), from: 'header' }, digests([a])));
      expect(e.code, a).toBe('BadDigest');
      expect(e.message).toBe(`The ${a.toUpperCase()} you specified did not match the calculated checksum.`);
    }
  });

  it('checks a trailer value: match, mismatch, malformed, missing', () => {
    const expected: ExpectedChecksums = { algorithm: 'crc32c', from: 'trailer' };
    const d = digests(['crc32c']);
    expect(() => verifyChecksums(expected, d, { trailers: { 'x-amz-checksum-crc32c': computeChecksum('crc32c', body) } })).not.toThrow();
    expect(s3Error(() => verifyChecksums(expected, d, { trailers: { 'x-amz-checksum-crc32c': computeChecksum('crc32c', other) } })).message).toBe(
      'The CRC32C you specified did not match the calculated checksum.',
    );
    const bad = s3Error(() => verifyChecksums(expected, d, { trailers: { 'x-amz-checksum-crc32c': 'abc' } }));
    expect(bad.code).toBe('InvalidRequest');
    expect(bad.message).toBe('Value for x-amz-checksum-crc32c trailing header is invalid.');
    expect(s3Error(() => verifyChecksums(expected, d, { trailers: {} })).code).toBe('MalformedTrailerError');
  });

  it('x-amz-content-sha256 mismatch wins over Content-MD5, which wins over the checksum', () => {
    const d = digests(['crc32'], true);
    const wrongMd5 = createHash('md5').update(other).digest('base64');
    const wrongCrc: ExpectedChecksums = { algorithm: 'crc32', value: computeChecksum('crc32', other), from: 'header' };
    const sha = s3Error(() =>
      verifyChecksums({ ...wrongCrc, md5: wrongMd5 }, d, { contentSha256: createHash('sha256').update(other).digest('hex') }),
    );
    expect(sha.code).toBe('XAmzContentSHA256Mismatch');
    expect(sha.fields.S3ComputedContentSHA256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(s3Error(() => verifyChecksums({ ...wrongCrc, md5: wrongMd5 }, d)).message).toMatch(/Content-MD5/);
    const goodSha = createHash('sha256').update(body).digest('hex').toUpperCase();
    expect(() => verifyChecksums({}, d, { contentSha256: goodSha })).not.toThrow();
  });
});
