// Multipart uploads over real sockets with @aws-sdk/client-s3 (explicit commands, at its default
// checksums) and @aws-sdk/lib-storage: checksums (COMPOSITE and FULL_OBJECT, computed here
// independently), UploadPartCopy with ranges, part GETs, listings and their pages, every error
// code with its status, retried Completes, conditional Completes, the stale-upload sweep and
// DeleteBucket with uploads in progress.
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { Upload } from '@aws-sdk/lib-storage';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
const B = 'mp-sdk';
let server: TestServer;
let s3: S3Client;

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  await s3.send(new CreateBucketCommand({ Bucket: B }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

async function s3Error(p: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { name: e.name, status: e.$metadata.httpStatusCode };
    throw e;
  }
  throw new Error('expected an S3 error');
}

async function body(key: string, extra: Partial<ConstructorParameters<typeof GetObjectCommand>[0]> = {}, client = s3) {
  const r = await client.send(new GetObjectCommand({ Bucket: B, Key: key, ...extra }));
  return { r, data: Buffer.from(await r.Body!.transformToByteArray()) };
}

// ---- independent reference checksums (not the server's code) ----

const md5 = (b: Uint8Array) => createHash('md5').update(b).digest();
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** Bitwise CRC-32C (Castagnoli, reflected 0x82F63B78), big-endian bytes. */
function crc32cRef(data: Uint8Array): Buffer {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[i] = c >>> 0;
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = table[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((crc ^ 0xffffffff) >>> 0);
  return out;
}

function crc32Ref(data: Uint8Array): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(zlib.crc32(data));
  return out;
}

async function crc64nvmeRef(data: Uint8Array): Promise<string> {
  const c = new Crc64Nvme();
  c.update(data);
  return Buffer.from(await c.digest()).toString('base64');
}

function multipartEtag(parts: Buffer[]): string {
  return `"${md5(Buffer.concat(parts.map(md5))).toString('hex')}-${parts.length}"`;
}

function split(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

async function uploadParts(key: string, uploadId: string, parts: Buffer[], extra: Partial<ConstructorParameters<typeof UploadPartCommand>[0]> = {}, client = s3) {
  const done: CompletedPart[] = [];
  for (let i = 0; i < parts.length; i++) {
    const r = await client.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: uploadId, PartNumber: i + 1, Body: parts[i], ...extra }));
    done.push({ PartNumber: i + 1, ETag: r.ETag, ChecksumCRC32: r.ChecksumCRC32, ChecksumCRC32C: r.ChecksumCRC32C, ChecksumSHA256: r.ChecksumSHA256, ChecksumSHA1: r.ChecksumSHA1, ChecksumCRC64NVME: r.ChecksumCRC64NVME });
  }
  return done;
}

describe('lib-storage Upload', () => {
  const data = randomBytes(3 * 5 * MiB + 123_457);
  const parts = split(data, 5 * MiB);

  beforeAll(async () => {
    const up = new Upload({ client: s3, params: { Bucket: B, Key: 'lib/storage.bin', Body: data, ContentType: 'application/x-lib' }, partSize: 5 * MiB, queueSize: 4 });
    await up.done();
  });

  it('stores 3 × 5 MiB + tail as four parts, byte for byte, with the multipart ETag', async () => {
    expect(parts).toHaveLength(4);
    const { r, data: got } = await body('lib/storage.bin');
    expect(got.equals(data)).toBe(true);
    expect(r.ETag).toBe(multipartEtag(parts));
    expect(r.ContentType).toBe('application/x-lib');
    expect(r.ContentLength).toBe(data.length);
  });

  it('keeps the COMPOSITE CRC32 the SDK asked for: CRC32 of the parts\' CRC32s, "-4"', async () => {
    const expected = `${crc32Ref(Buffer.concat(parts.map(crc32Ref))).toString('base64')}-4`;
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'lib/storage.bin', ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumCRC32).toBe(expected);
    expect(head.ChecksumType).toBe('COMPOSITE');
    expect(head.PartsCount).toBeUndefined(); // only with ?partNumber (AWS)
    expect((await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'lib/storage.bin', PartNumber: 1 }))).PartsCount).toBe(4);
    const plain = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'lib/storage.bin' }));
    expect(plain.ChecksumCRC32).toBeUndefined();
  });

  it('GET and HEAD ?partNumber=N answer that part with 206 and its Content-Range', async () => {
    const { r, data: p2 } = await body('lib/storage.bin', { PartNumber: 2 });
    expect(r.$metadata.httpStatusCode).toBe(206);
    expect(p2.equals(parts[1]!)).toBe(true);
    expect(r.ContentRange).toBe(`bytes ${5 * MiB}-${10 * MiB - 1}/${data.length}`);
    expect(r.PartsCount).toBe(4);
    expect(r.ETag).toBe(multipartEtag(parts));
    const { data: p4 } = await body('lib/storage.bin', { PartNumber: 4 });
    expect(p4.equals(parts[3]!)).toBe(true);
    const h = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'lib/storage.bin', PartNumber: 3 }));
    expect([h.$metadata.httpStatusCode, h.ContentLength, h.ContentRange]).toEqual([206, 5 * MiB, `bytes ${10 * MiB}-${15 * MiB - 1}/${data.length}`]);
    expect(await s3Error(s3.send(new GetObjectCommand({ Bucket: B, Key: 'lib/storage.bin', PartNumber: 5 })))).toEqual({ name: 'InvalidPartNumber', status: 416 });
    expect(await s3Error(s3.send(new GetObjectCommand({ Bucket: B, Key: 'lib/storage.bin', PartNumber: 2, Range: 'bytes=0-1' })))).toEqual({ name: 'InvalidRequest', status: 400 });
  });

  it('a ranged GET across part boundaries returns the right bytes', async () => {
    const start = 5 * MiB - 1000;
    const end = 10 * MiB + 1000;
    const { r, data: got } = await body('lib/storage.bin', { Range: `bytes=${start}-${end}` });
    expect(r.$metadata.httpStatusCode).toBe(206);
    expect(got.equals(data.subarray(start, end + 1))).toBe(true);
  });

  it('an object PUT in one piece has exactly one part', async () => {
    await s3.send(new PutObjectCommand({ Bucket: B, Key: 'single', Body: 'hello' }));
    const { r, data: got } = await body('single', { PartNumber: 1 });
    expect([r.$metadata.httpStatusCode, got.toString()]).toEqual([200, 'hello']);
    expect(await s3Error(s3.send(new GetObjectCommand({ Bucket: B, Key: 'single', PartNumber: 2 })))).toEqual({ name: 'InvalidPartNumber', status: 416 });
  });
});

describe('checksums with explicit commands', () => {
  it('no algorithm named: the object gets CRC64NVME FULL_OBJECT, combined from the parts, which the SDK then verifies on GET', async () => {
    const data = randomBytes(2 * 5 * MiB + 777);
    const parts = split(data, 5 * MiB);
    const key = 'default/crc64';
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
    expect(c.ChecksumAlgorithm).toBeUndefined();
    // The SDK sends a CRC32 trailer with every part by default; the server keeps CRC64NVME as well.
    const done = await uploadParts(key, c.UploadId!, parts);
    expect(done.every((p) => p.ChecksumCRC32 !== undefined)).toBe(true);
    const r = await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: done } }));
    const expected = await crc64nvmeRef(data);
    expect(r.ChecksumCRC64NVME).toBe(expected);
    expect(r.ChecksumType).toBe('FULL_OBJECT');
    expect(r.ETag).toBe(multipartEtag(parts));
    expect(r.Location).toBe(`${server.s3}/${B}/default/crc64`);
    // With checksum mode the SDK checks the whole body against the full-object CRC64NVME.
    const { r: got, data: back } = await body(key, { ChecksumMode: 'ENABLED' });
    expect(got.ChecksumCRC64NVME).toBe(expected);
    expect(back.equals(data)).toBe(true);
  });

  it('parts sent without any checksum still yield the full-object CRC64NVME', async () => {
    const bare = new S3Client({ endpoint: server.s3, region: server.region, forcePathStyle: true, credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey }, requestChecksumCalculation: 'WHEN_REQUIRED' });
    try {
      const data = randomBytes(5 * MiB + 10);
      const key = 'default/bare';
      const c = await bare.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
      const done = await uploadParts(key, c.UploadId!, split(data, 5 * MiB), {}, bare);
      expect(done[0]!.ChecksumCRC32).toBeUndefined();
      const r = await bare.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: done.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) } }));
      expect(r.ChecksumCRC64NVME).toBe(await crc64nvmeRef(data));
    } finally {
      bare.destroy();
    }
  });

  it('FULL_OBJECT CRC32C: the combined CRC is the CRC32C of the whole object; a wrong one is BadDigest', async () => {
    const data = randomBytes(2 * 5 * MiB + 4321);
    const parts = split(data, 5 * MiB);
    const whole = crc32cRef(data).toString('base64');
    const key = 'full/crc32c';
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key, ChecksumAlgorithm: 'CRC32C', ChecksumType: 'FULL_OBJECT' }));
    expect([c.ChecksumAlgorithm, c.ChecksumType]).toEqual(['CRC32C', 'FULL_OBJECT']);
    const done = await uploadParts(key, c.UploadId!, parts, { ChecksumAlgorithm: 'CRC32C' });
    expect(done.map((p) => p.ChecksumCRC32C)).toEqual(parts.map((p) => crc32cRef(p).toString('base64')));
    const wrong = crc32cRef(Buffer.from('something else')).toString('base64');
    expect(await s3Error(s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, ChecksumCRC32C: wrong, ChecksumType: 'FULL_OBJECT', MultipartUpload: { Parts: done } })))).toEqual({ name: 'BadDigest', status: 400 });
    expect(await s3Error(s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, ChecksumType: 'COMPOSITE', MultipartUpload: { Parts: done } })))).toEqual({ name: 'BadDigest', status: 400 });
    const r = await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, ChecksumCRC32C: whole, ChecksumType: 'FULL_OBJECT', MultipartUpload: { Parts: done } }));
    expect([r.ChecksumCRC32C, r.ChecksumType]).toEqual([whole, 'FULL_OBJECT']);
    const { r: got, data: back } = await body(key, { ChecksumMode: 'ENABLED' });
    expect([got.ChecksumCRC32C, got.ChecksumType]).toEqual([whole, 'FULL_OBJECT']);
    expect(back.equals(data)).toBe(true);
  });

  it('COMPOSITE SHA256: SHA256 of the concatenated part digests, "-N"; every part must carry its checksum', async () => {
    const data = randomBytes(5 * MiB + 99);
    const parts = split(data, 5 * MiB);
    const expected = `${sha256(Buffer.concat(parts.map(sha256))).toString('base64')}-2`;
    const key = 'composite/sha256';
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key, ChecksumAlgorithm: 'SHA256' }));
    expect([c.ChecksumAlgorithm, c.ChecksumType]).toEqual(['SHA256', 'COMPOSITE']);
    // A part with another algorithm's checksum, or none, does not fit a COMPOSITE SHA256 upload.
    // (Small bodies: an error answered before a large body is read can reach the SDK as EPIPE, see dispatch.)
    expect(await s3Error(s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: c.UploadId, PartNumber: 1, Body: 'x', ChecksumAlgorithm: 'CRC32' })))).toEqual({ name: 'InvalidRequest', status: 400 });
    const bare = new S3Client({ endpoint: server.s3, region: server.region, forcePathStyle: true, credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey }, requestChecksumCalculation: 'WHEN_REQUIRED' });
    expect(await s3Error(bare.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: c.UploadId, PartNumber: 1, Body: 'x' })))).toEqual({ name: 'InvalidRequest', status: 400 });
    bare.destroy();
    const done = await uploadParts(key, c.UploadId!, parts, { ChecksumAlgorithm: 'SHA256' });
    expect(done[0]!.ChecksumSHA256).toBe(sha256(parts[0]!).toString('base64'));
    const missing = done.map(({ PartNumber, ETag }) => ({ PartNumber, ETag }));
    expect(await s3Error(s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: missing } })))).toEqual({ name: 'InvalidRequest', status: 400 });
    const swapped = done.map((p, i) => ({ ...p, ChecksumSHA256: done[(i + 1) % 2]!.ChecksumSHA256 }));
    expect(await s3Error(s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: swapped } })))).toEqual({ name: 'InvalidPart', status: 400 });
    const r = await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, ChecksumSHA256: expected, MultipartUpload: { Parts: done } }));
    expect([r.ChecksumSHA256, r.ChecksumType]).toEqual([expected, 'COMPOSITE']);
    const head = await s3.send(new HeadObjectCommand({ Bucket: B, Key: key, ChecksumMode: 'ENABLED' }));
    expect(head.ChecksumSHA256).toBe(expected);
  });

  it('refuses checksum settings S3 refuses', async () => {
    expect(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'x', ChecksumAlgorithm: 'SHA256', ChecksumType: 'FULL_OBJECT' })))).toEqual({ name: 'InvalidRequest', status: 400 });
    expect(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'x', ChecksumAlgorithm: 'CRC64NVME', ChecksumType: 'COMPOSITE' })))).toEqual({ name: 'InvalidRequest', status: 400 });
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'x', ChecksumAlgorithm: 'CRC64NVME' }));
    expect(c.ChecksumType).toBe('FULL_OBJECT');
    await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'x', UploadId: c.UploadId }));
  });
});

describe('encryption at rest', () => {
  it('parts go through the object write path: sealed like any PUT, never plaintext on disk', async () => {
    const marker = Buffer.from('AKKO-PLAINTEXT-MARKER-0123456789-');
    const data = Buffer.concat(Array(Math.ceil((5 * MiB + 100) / marker.length)).fill(marker)).subarray(0, 5 * MiB + 100);
    const key = 'sealed/parts';
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
    expect(c.ServerSideEncryption).toBe('aws:kms');
    const done = await uploadParts(key, c.UploadId!, split(data, 5 * MiB));
    const r = await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: done } }));
    expect(r.ServerSideEncryption).toBe('aws:kms');
    const blobsDir = join(server.dataDir, 'blobs');
    for (const fan of readdirSync(blobsDir)) {
      for (const f of readdirSync(join(blobsDir, fan))) expect(readFileSync(join(blobsDir, fan, f)).includes(marker)).toBe(false);
    }
    const { r: got, data: back } = await body(key, { PartNumber: 2 });
    expect(got.ServerSideEncryption).toBe('aws:kms');
    expect(back.equals(data.subarray(5 * MiB))).toBe(true);
  });
});

describe('UploadPartCopy', () => {
  it('assembles an object from ranges of another (the s3a rename pattern), across the source\'s own parts', async () => {
    const src = randomBytes(12 * MiB + 5);
    await new Upload({ client: s3, params: { Bucket: B, Key: 'copy/src', Body: src }, partSize: 5 * MiB }).done();
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'copy/dst' }));
    const ranges = [[0, 6 * MiB - 1], [6 * MiB, 12 * MiB - 1], [12 * MiB, src.length - 1]] as const;
    const parts: CompletedPart[] = [];
    for (let i = 0; i < ranges.length; i++) {
      const [a, b] = ranges[i]!;
      const r = await s3.send(new UploadPartCopyCommand({ Bucket: B, Key: 'copy/dst', UploadId: c.UploadId, PartNumber: i + 1, CopySource: `${B}/copy/src`, CopySourceRange: `bytes=${a}-${b}` }));
      expect(r.CopyPartResult!.ETag).toBe(`"${md5(src.subarray(a, b + 1)).toString('hex')}"`);
      expect(r.CopyPartResult!.LastModified).toBeInstanceOf(Date);
      parts.push({ PartNumber: i + 1, ETag: r.CopyPartResult!.ETag });
    }
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'copy/dst', UploadId: c.UploadId, MultipartUpload: { Parts: parts } }));
    const { data } = await body('copy/dst', { ChecksumMode: 'ENABLED' });
    expect(data.equals(src)).toBe(true);
  });

  it('copies a whole source without a range, checks x-amz-copy-source-if-*, and refuses bad ranges', async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: B, Key: 'copy/small', Body: 'small source' }));
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'copy/whole' }));
    const base = { Bucket: B, Key: 'copy/whole', UploadId: c.UploadId, PartNumber: 1, CopySource: `${B}/copy/small` };
    const r = await s3.send(new UploadPartCopyCommand({ ...base, CopySourceIfMatch: put.ETag }));
    expect(await s3Error(s3.send(new UploadPartCopyCommand({ ...base, CopySourceIfMatch: '"nope"' })))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await s3Error(s3.send(new UploadPartCopyCommand({ ...base, CopySourceIfNoneMatch: put.ETag })))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await s3Error(s3.send(new UploadPartCopyCommand({ ...base, CopySourceRange: 'bytes=0-' })))).toEqual({ name: 'InvalidArgument', status: 400 });
    expect(await s3Error(s3.send(new UploadPartCopyCommand({ ...base, CopySourceRange: 'bytes=5-2' })))).toEqual({ name: 'InvalidArgument', status: 400 });
    expect(await s3Error(s3.send(new UploadPartCopyCommand({ ...base, CopySourceRange: 'bytes=0-12' })))).toEqual({ name: 'InvalidArgument', status: 400 });
    expect(await s3Error(s3.send(new UploadPartCopyCommand({ ...base, CopySource: `${B}/copy/missing` })))).toEqual({ name: 'NoSuchKey', status: 404 });
    await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'copy/whole', UploadId: c.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: r.CopyPartResult!.ETag }] } }));
    expect((await body('copy/whole')).data.toString()).toBe('small source');
  });
});

describe('listings', () => {
  it('ListParts pages by part number', async () => {
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'list/parts' }));
    for (const n of [1, 2, 3, 5, 8]) await s3.send(new UploadPartCommand({ Bucket: B, Key: 'list/parts', UploadId: c.UploadId, PartNumber: n, Body: `part ${n}` }));
    const seen: number[] = [];
    let marker: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await s3.send(new ListPartsCommand({ Bucket: B, Key: 'list/parts', UploadId: c.UploadId, MaxParts: 2, PartNumberMarker: marker }));
      expect(r.MaxParts).toBe(2);
      expect(r.Parts!.length).toBeLessThanOrEqual(2);
      for (const p of r.Parts!) {
        expect(p.ETag).toBe(`"${md5(Buffer.from(`part ${p.PartNumber}`)).toString('hex')}"`);
        expect(p.Size).toBe(`part ${p.PartNumber}`.length);
        expect(p.LastModified).toBeInstanceOf(Date);
      }
      seen.push(...r.Parts!.map((p) => p.PartNumber!));
      if (!r.IsTruncated) break;
      marker = r.NextPartNumberMarker;
    }
    expect(seen).toEqual([1, 2, 3, 5, 8]);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: 'list/parts', UploadId: c.UploadId }));
  });

  it('ListMultipartUploads pages through keys and upload ids, with prefix and delimiter', async () => {
    const bucket = 'mp-list';
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const created: { key: string; id: string }[] = [];
    for (const key of ['a/1', 'a/1', 'a/2', 'b', 'b', 'b', 'c/d/e']) {
      const r = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }));
      created.push({ key, id: r.UploadId! });
    }
    const seen: { key: string; id: string }[] = [];
    let km: string | undefined;
    let im: string | undefined;
    for (let page = 0; page < 10; page++) {
      const r = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, MaxUploads: 2, KeyMarker: km, UploadIdMarker: im }));
      expect(r.MaxUploads).toBe(2);
      seen.push(...(r.Uploads ?? []).map((u) => ({ key: u.Key!, id: u.UploadId! })));
      for (const u of r.Uploads ?? []) expect(u.Initiated).toBeInstanceOf(Date);
      if (!r.IsTruncated) break;
      km = r.NextKeyMarker;
      im = r.NextUploadIdMarker;
    }
    // Key order, then initiation order within a key.
    expect(seen).toEqual(created);
    const d = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Delimiter: '/' }));
    expect(d.CommonPrefixes!.map((p) => p.Prefix)).toEqual(['a/', 'c/']);
    expect(d.Uploads!.map((u) => u.Key)).toEqual(['b', 'b', 'b']);
    const p = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: 'a/', Delimiter: '/' }));
    expect(p.Uploads!.map((u) => u.Key)).toEqual(['a/1', 'a/1', 'a/2']);
    expect(p.Prefix).toBe('a/');
    // DeleteBucket is not stopped by uploads in progress: they go with the bucket (as in AWS S3).
    await s3.send(new DeleteBucketCommand({ Bucket: bucket }));
    expect(await s3Error(s3.send(new HeadBucketCommand({ Bucket: bucket })))).toMatchObject({ status: 404 });
    expect(await s3Error(s3.send(new ListPartsCommand({ Bucket: bucket, Key: 'b', UploadId: created[3]!.id })))).toEqual({ name: 'NoSuchBucket', status: 404 });
  });
});

describe('errors and retries', () => {
  it('answers every multipart error code with its status', async () => {
    const key = 'err/obj';
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
    const id = c.UploadId!;
    const small = await s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: id, PartNumber: 1, Body: 'tiny' }));
    const last = await s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: id, PartNumber: 2, Body: 'last' }));
    const complete = (parts: CompletedPart[], uploadId = id) => s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    const bogus = '0'.repeat(44);

    expect(await s3Error(s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: id, PartNumber: 0, Body: 'x' })))).toEqual({ name: 'InvalidArgument', status: 400 });
    expect(await s3Error(s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: id, PartNumber: 10001, Body: 'x' })))).toEqual({ name: 'InvalidArgument', status: 400 });
    expect(await s3Error(s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: bogus, PartNumber: 1, Body: 'x' })))).toEqual({ name: 'NoSuchUpload', status: 404 });
    expect(await s3Error(s3.send(new UploadPartCommand({ Bucket: B, Key: 'err/other-key', UploadId: id, PartNumber: 1, Body: 'x' })))).toEqual({ name: 'NoSuchUpload', status: 404 });
    expect(await s3Error(s3.send(new ListPartsCommand({ Bucket: B, Key: key, UploadId: bogus })))).toEqual({ name: 'NoSuchUpload', status: 404 });
    expect(await s3Error(s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: key, UploadId: bogus })))).toEqual({ name: 'NoSuchUpload', status: 404 });
    expect(await s3Error(complete([{ PartNumber: 1, ETag: small.ETag }], bogus))).toEqual({ name: 'NoSuchUpload', status: 404 });
    expect(await s3Error(complete([{ PartNumber: 3, ETag: small.ETag }]))).toEqual({ name: 'InvalidPart', status: 400 });
    expect(await s3Error(complete([{ PartNumber: 1, ETag: last.ETag }]))).toEqual({ name: 'InvalidPart', status: 400 });
    expect(await s3Error(complete([{ PartNumber: 2, ETag: last.ETag }, { PartNumber: 1, ETag: small.ETag }]))).toEqual({ name: 'InvalidPartOrder', status: 400 });
    expect(await s3Error(complete([{ PartNumber: 1, ETag: small.ETag }, { PartNumber: 2, ETag: last.ETag }]))).toEqual({ name: 'EntityTooSmall', status: 400 });
    expect(await s3Error(complete([]))).toEqual({ name: 'MalformedXML', status: 400 });
    expect(await s3Error(s3.send(new CreateMultipartUploadCommand({ Bucket: 'no-such-bucket-mp', Key: key })))).toEqual({ name: 'NoSuchBucket', status: 404 });
    // None of that consumed the upload.
    const parts = await s3.send(new ListPartsCommand({ Bucket: B, Key: key, UploadId: id }));
    expect(parts.Parts!.map((p) => p.PartNumber)).toEqual([1, 2]);
    await s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: key, UploadId: id }));
    expect(await s3Error(s3.send(new ListPartsCommand({ Bucket: B, Key: key, UploadId: id })))).toEqual({ name: 'NoSuchUpload', status: 404 });
  });

  it('a retried Complete answers 200 with the same result; a re-uploaded part replaces the earlier one', async () => {
    const key = 'retry/obj';
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
    await s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: c.UploadId, PartNumber: 1, Body: 'first version' }));
    const p = await s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: c.UploadId, PartNumber: 1, Body: 'second version' }));
    const req = { Bucket: B, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32 }] } };
    const first = await s3.send(new CompleteMultipartUploadCommand({ ...req, IfNoneMatch: '*' }));
    const again = await s3.send(new CompleteMultipartUploadCommand({ ...req, IfNoneMatch: '*' }));
    expect(again.$metadata.httpStatusCode).toBe(200);
    expect([again.ETag, again.ChecksumCRC64NVME, again.Key]).toEqual([first.ETag, first.ChecksumCRC64NVME, key]);
    expect((await body(key)).data.toString()).toBe('second version');
    // Abort after completion: the upload no longer exists.
    expect(await s3Error(s3.send(new AbortMultipartUploadCommand({ Bucket: B, Key: key, UploadId: c.UploadId })))).toEqual({ name: 'NoSuchUpload', status: 404 });
  });

  it('If-None-Match: * on Complete refuses an existing key with 412; If-Match compares the current ETag', async () => {
    const key = 'cond/obj';
    const put = await s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: 'existing' }));
    const c = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: key }));
    const p = await s3.send(new UploadPartCommand({ Bucket: B, Key: key, UploadId: c.UploadId, PartNumber: 1, Body: 'replacement' }));
    const req = { Bucket: B, Key: key, UploadId: c.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: p.ETag }] } };
    expect(await s3Error(s3.send(new CompleteMultipartUploadCommand({ ...req, IfNoneMatch: '*' })))).toEqual({ name: 'PreconditionFailed', status: 412 });
    expect(await s3Error(s3.send(new CompleteMultipartUploadCommand({ ...req, IfMatch: '"0123"' })))).toEqual({ name: 'PreconditionFailed', status: 412 });
    await s3.send(new CompleteMultipartUploadCommand({ ...req, IfMatch: put.ETag }));
    expect((await body(key)).data.toString()).toBe('replacement');
  });
});

describe('stale uploads', () => {
  let young: TestServer;
  let client: S3Client;
  beforeAll(async () => {
    young = await startServer({ env: { AKKO_MULTIPART_MAX_AGE_SECONDS: '1' } });
    client = sdkClient(young);
  });
  afterAll(async () => {
    client?.destroy();
    await young?.destroy();
  });

  it('are aborted by the server\'s periodic sweep once older than AKKO_MULTIPART_MAX_AGE_SECONDS', async () => {
    const c = await client.send(new CreateMultipartUploadCommand({ Bucket: 'akko-rag', Key: 'stale' }));
    await client.send(new UploadPartCommand({ Bucket: 'akko-rag', Key: 'stale', UploadId: c.UploadId, PartNumber: 1, Body: 'x' }));
    const deadline = Date.now() + 10_000;
    let uploads = 1;
    while (Date.now() < deadline) {
      uploads = (await client.send(new ListMultipartUploadsCommand({ Bucket: 'akko-rag' }))).Uploads?.length ?? 0;
      if (uploads === 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(uploads).toBe(0);
    expect(await s3Error(client.send(new UploadPartCommand({ Bucket: 'akko-rag', Key: 'stale', UploadId: c.UploadId, PartNumber: 2, Body: 'y' })))).toEqual({ name: 'NoSuchUpload', status: 404 });
    expect(young.stderr.join('\n')).toMatch(/aborted 1 upload\(s\) older than 1s/);
  });
});
