// Apache Iceberg's S3FileIO (what Iceberg tables on the AKKO platform are read and written
// through, from Spark, Trino's Iceberg REST clients and Polaris), replayed on the wire: the JVM
// cannot be installed here.
//
// Client: iceberg-aws 1.9/1.10 with AWS SDK for Java v2 2.3x at the SDK's checksum defaults
// (RequestChecksumCalculation and ResponseChecksumValidation WHEN_SUPPORTED: CRC32 trailers on
// uploads, x-amz-checksum-mode: ENABLED on GetObject) and client.legacy-md5-plugin-enabled=false,
// s3.path-style-access=true, an http endpoint. Sources, in apache/iceberg
// aws/src/main/java/org/apache/iceberg/aws/:
// - s3/S3InputStream.java: openStream() always sends `Range: bytes=<pos>-` (also at 0), readFully
//   `bytes=a-b`, readTail `bytes=-N`, abortStream() reads one byte and aborts.
// - s3/S3OutputFile.create(): exists() (HeadObject) then the write; createOrOverwrite() writes.
// - s3/S3OutputStream.java: one PutObject (RequestBody.fromContentProvider, application/octet-stream)
//   below s3.multipart.threshold (1.5 x s3.multipart.part-size-bytes, 32 MiB by default, 5 MiB
//   minimum); else CreateMultipartUpload and UploadParts submitted to a thread pool (so they arrive
//   out of order), CompleteMultipartUpload with the parts sorted, AbortMultipartUpload on failure;
//   Content-MD5 on each part and on the PutObject when s3.checksum-enabled=true.
// - s3/S3FileIO.deleteBatch: DeleteObjects of s3.delete.batch-size (250) keys, Quiet unset, and
//   response.errors() turned into failures; listPrefix: ListObjectsV2 prefix= through the paginator.
// - AwsClientProperties.applyLegacyMd5Plugin (off by default).
// - aws/aws-sdk-java-v2 DefaultAwsV4HttpSigner: over http PutObject/UploadPart are signed aws-chunked
//   with a trailer (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, x-amz-trailer: x-amz-checksum-crc32);
//   behind a TLS-terminating ingress (https) the same body is STREAMING-UNSIGNED-PAYLOAD-TRAILER.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  bytes, completeXml, crc32b64, deleteXml, javaSdkHeaders, md5b64, md5hex, multipartEtag, outcome, send,
  xml, type WireRequest, type WireResponse,
} from '../helpers/wire.js';

const B = 'akko-iceberg';
const UA = 'aws-sdk-java/2.31.1 md/io#sync md/http#Apache ua/2.1 os/Linux lang/java#17 ft/iceberg';
const TABLE = 'db/events';
let server: TestServer;

beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server?.destroy(); });

function iceberg(r: Omit<WireRequest, 'payload'> & { payload?: WireRequest['payload'] }): Promise<WireResponse> {
  return send(server, {
    payload: 'sha256', bucket: B, ...r,
    headers: { ...javaSdkHeaders(), ...(r.headers ?? {}) },
    unsignedHeaders: { 'user-agent': UA },
  });
}

/** S3OutputStream.completeUploads → PutObject with the SDK's CRC32 trailer. */
function putObject(key: string, body: Buffer, opts: { https?: boolean; md5?: boolean; trailerValue?: string } = {}) {
  return iceberg({
    method: 'PUT', key, body, payload: opts.https ? 'streaming-unsigned-trailer' : 'streaming-signed-trailer', trailer: 'crc32',
    trailerValue: opts.trailerValue, expectContinue: body.length > 0,
    headers: { 'content-type': 'application/octet-stream', 'x-amz-sdk-checksum-algorithm': 'CRC32', ...(opts.md5 ? { 'content-md5': md5b64(body) } : {}) },
  });
}

/** S3InputStream's GETs carry the SDK's response-validation header. */
function getRange(key: string, range: string, extra: Partial<WireRequest> = {}) {
  return iceberg({ method: 'GET', key, headers: { range, 'x-amz-checksum-mode': 'ENABLED' }, ...extra });
}

function expectStatus(r: WireResponse, status: number) {
  expect(outcome(r), r.text).toBe(String(status));
}

/** What the SDK's response checksum validation needs: no checksum, or the right one for the bytes received. */
function expectValidatable(r: WireResponse) {
  const sums = Object.keys(r.headers).filter((h) => h.startsWith('x-amz-checksum-') && h !== 'x-amz-checksum-type');
  for (const h of sums) {
    const v = String(r.headers[h]);
    if (/-\d+$/.test(v)) continue; // composite (multipart) checksums are skipped by the SDK
    if (h === 'x-amz-checksum-crc32') expect(v, 'CRC32 of the bytes received').toBe(crc32b64(r.body));
  }
}

describe('iceberg writes (S3OutputFile, S3OutputStream)', () => {
  it('create(): HEAD says 404, then one PutObject with a signed aws-chunked body and a CRC32 trailer', async () => {
    const key = `${TABLE}/metadata/00000-${randomUUID()}.metadata.json`;
    expect((await iceberg({ method: 'HEAD', key })).status).toBe(404);
    const body = Buffer.from(JSON.stringify({ 'format-version': 2, 'table-uuid': randomUUID(), location: `s3://${B}/${TABLE}` }));
    const r = await putObject(key, body);
    expectStatus(r, 200);
    expect(r.continued).toBe(true);
    expect(r.headers.etag).toBe(`"${md5hex(body)}"`);
    expect(r.headers['x-amz-checksum-crc32']).toBe(crc32b64(body));
    // A second create() finds it and throws AlreadyExistsException: HEAD must now say 200.
    const head = await iceberg({ method: 'HEAD', key });
    expectStatus(head, 200);
    expect(head.headers['content-length']).toBe(String(body.length));
  });

  it('behind a TLS-terminating ingress the same PutObject is STREAMING-UNSIGNED-PAYLOAD-TRAILER', async () => {
    const key = `${TABLE}/data/https-${randomUUID()}.parquet`;
    const body = bytes(400_000, 71);
    const r = await putObject(key, body, { https: true });
    expectStatus(r, 200);
    expect(r.headers['x-amz-checksum-crc32']).toBe(crc32b64(body));
    const got = await getRange(key, 'bytes=0-');
    expect(got.body.equals(body)).toBe(true);
  });

  it('s3.checksum-enabled=true adds Content-MD5 beside the CRC32 trailer; both are checked', async () => {
    const key = `${TABLE}/data/md5-${randomUUID()}.parquet`;
    const body = bytes(200_000, 72);
    expectStatus(await putObject(key, body, { md5: true }), 200);
    const wrong = await iceberg({
      method: 'PUT', key: `${TABLE}/data/md5-wrong.parquet`, body, payload: 'streaming-signed-trailer', trailer: 'crc32', expectContinue: true,
      headers: { 'content-type': 'application/octet-stream', 'x-amz-sdk-checksum-algorithm': 'CRC32', 'content-md5': md5b64('not the body') },
    });
    expect(outcome(wrong)).toBe('400 BadDigest');
  });

  it('a body whose CRC32 trailer does not match is refused and not stored', async () => {
    const key = `${TABLE}/data/corrupt.parquet`;
    const r = await putObject(key, bytes(300_000, 73), { trailerValue: crc32b64('something else') });
    expect(outcome(r)).toBe('400 BadDigest');
    expect((await iceberg({ method: 'HEAD', key })).status).toBe(404);
  });

  it('a large file: CreateMultipartUpload, parts uploaded concurrently with CRC32 trailers + Content-MD5, Complete sorted', async () => {
    const key = `${TABLE}/data/00000-0-${randomUUID()}.parquet`;
    const PART = 5 * 1024 * 1024; // s3.multipart.part-size-bytes at its minimum
    const parts = [bytes(PART, 81), bytes(PART, 82), bytes(1_234_567, 83)];
    const init = await iceberg({ method: 'POST', key, query: [['uploads', null]], body: Buffer.alloc(0) });
    expectStatus(init, 200);
    const uploadId = xml(init.text).UploadId;
    // The executor finishes them in any order; start the last part first.
    const order = [2, 0, 1];
    const results = new Map<number, WireResponse>();
    await Promise.all(order.map(async (i) => {
      const r = await iceberg({
        method: 'PUT', key, query: [['partNumber', String(i + 1)], ['uploadId', uploadId]], body: parts[i],
        payload: 'streaming-signed-trailer', trailer: 'crc32', expectContinue: true,
        headers: { 'content-md5': md5b64(parts[i]!), 'x-amz-sdk-checksum-algorithm': 'CRC32' },
      });
      results.set(i, r);
    }));
    for (let i = 0; i < parts.length; i++) {
      const r = results.get(i)!;
      expectStatus(r, 200);
      expect(r.headers.etag).toBe(`"${md5hex(parts[i]!)}"`);
      expect(r.headers['x-amz-checksum-crc32']).toBe(crc32b64(parts[i]!));
    }
    const done = await iceberg({ method: 'POST', key, query: [['uploadId', uploadId]], body: completeXml(parts.map((_, i) => ({ PartNumber: i + 1, ETag: String(results.get(i)!.headers.etag) }))) });
    expectStatus(done, 200);
    expect(xml(done.text).ETag).toBe(multipartEtag(parts));
    const head = await iceberg({ method: 'HEAD', key });
    expect(head.headers['content-length']).toBe(String(parts.reduce((n, p) => n + p.length, 0)));
    const part2 = await iceberg({ method: 'GET', key, query: [['partNumber', '2']] });
    expect(part2.status).toBe(206);
    expect(part2.headers['x-amz-mp-parts-count']).toBe('3');
    expect(part2.body.equals(parts[1]!)).toBe(true);
    const footer = await getRange(key, 'bytes=-8');
    expect(footer.body.equals(parts[2]!.subarray(-8))).toBe(true);
    expectValidatable(footer);
  });

  it('an aborted write (close after a failure): AbortMultipartUpload, then the parts are gone', async () => {
    const key = `${TABLE}/data/abandoned.parquet`;
    const init = await iceberg({ method: 'POST', key, query: [['uploads', null]], body: Buffer.alloc(0) });
    expectStatus(init, 200);
    const uploadId = xml(init.text).UploadId;
    expectStatus(await iceberg({ method: 'PUT', key, query: [['partNumber', '1'], ['uploadId', uploadId]], body: bytes(5000), payload: 'streaming-signed-trailer', trailer: 'crc32', expectContinue: true, headers: { 'x-amz-sdk-checksum-algorithm': 'CRC32' } }), 200);
    expect((await iceberg({ method: 'DELETE', key, query: [['uploadId', uploadId]] })).status).toBe(204);
    const again = await iceberg({ method: 'PUT', key, query: [['partNumber', '2'], ['uploadId', uploadId]], body: bytes(10), payload: 'streaming-signed-trailer', trailer: 'crc32', headers: { 'x-amz-sdk-checksum-algorithm': 'CRC32' } });
    expect(outcome(again)).toBe('404 NoSuchUpload');
  });
});

describe('iceberg reads (S3InputFile, S3InputStream)', () => {
  const key = `${TABLE}/data/00001-1-read.parquet`;
  const data = bytes(900_000, 91);

  beforeAll(async () => { expectStatus(await putObject(key, data), 200); });

  it('newStream(): `bytes=0-` answers 206 with the whole file and a validatable checksum', async () => {
    const r = await getRange(key, 'bytes=0-');
    expectStatus(r, 206);
    expect(r.headers['content-range']).toBe(`bytes 0-${data.length - 1}/${data.length}`);
    expect(r.body.equals(data)).toBe(true);
    expectValidatable(r);
  });

  it('a GET without Range with checksum mode returns the stored CRC32 the SDK validates', async () => {
    const r = await iceberg({ method: 'GET', key, headers: { 'x-amz-checksum-mode': 'ENABLED' } });
    expectStatus(r, 200);
    expect(r.headers['x-amz-checksum-crc32']).toBe(crc32b64(data));
  });

  it('seek(): a new stream from `bytes=N-`; the old one is aborted after a read', async () => {
    const first = await getRange(key, 'bytes=0-', { abortAfterBytes: 1 });
    expect(first.status).toBe(206);
    const r = await getRange(key, 'bytes=850000-');
    expectStatus(r, 206);
    expect(r.headers['content-range']).toBe(`bytes 850000-${data.length - 1}/${data.length}`);
    expect(r.body.equals(data.subarray(850_000))).toBe(true);
    expectValidatable(r);
  });

  it('readTail / readFully: the Parquet footer (`bytes=-8`, then `bytes=-N`) and a column chunk (`bytes=a-b`)', async () => {
    const magic = await getRange(key, 'bytes=-8');
    expectStatus(magic, 206);
    expect(magic.headers['content-range']).toBe(`bytes ${data.length - 8}-${data.length - 1}/${data.length}`);
    expect(magic.body.equals(data.subarray(-8))).toBe(true);
    expectValidatable(magic);
    const footer = await getRange(key, 'bytes=-20000');
    expect(footer.body.equals(data.subarray(-20000))).toBe(true);
    const chunk = await getRange(key, 'bytes=4-100003');
    expect(chunk.headers['content-length']).toBe('100000');
    expect(chunk.body.equals(data.subarray(4, 100_004))).toBe(true);
    expectValidatable(chunk);
  });

  it('a missing file is 404 NoSuchKey (NotFoundException)', async () => {
    expect(outcome(await getRange(`${TABLE}/data/gone.parquet`, 'bytes=0-'))).toBe('404 NoSuchKey');
  });
});

describe('iceberg deletes and listing (S3FileIO)', () => {
  const prefix = `${TABLE}/data/expire/`;
  const keys = Array.from({ length: 260 }, (_, i) => `${prefix}${String(i).padStart(5, '0')}-${i % 7}.parquet`);

  beforeAll(async () => {
    for (let i = 0; i < keys.length; i += 26) await Promise.all(keys.slice(i, i + 26).map((k) => putObject(k, Buffer.from(k))));
  });

  it('listPrefix: ListObjectsV2 prefix= (no delimiter) lists every file', async () => {
    const r = await iceberg({ method: 'GET', query: [['list-type', '2'], ['prefix', prefix]] });
    expectStatus(r, 200);
    const doc = xml(r.text);
    expect(doc.Contents.map((c: { Key: string }) => c.Key)).toEqual(keys);
    expect(doc.Contents.every((c: { Size: string }, i: number) => c.Size === String(keys[i]!.length))).toBe(true);
  });

  it('deleteFiles: DeleteObjects of 250 keys with the SDK CRC32 (no Content-MD5), Quiet unset: every key reported', async () => {
    const batches = [keys.slice(0, 250), [...keys.slice(250), `${prefix}never-written.parquet`]];
    for (const batch of batches) {
      const body = deleteXml(batch);
      const r = await iceberg({ method: 'POST', query: [['delete', null]], body, headers: { 'x-amz-checksum-crc32': crc32b64(body), 'x-amz-sdk-checksum-algorithm': 'CRC32' } });
      expectStatus(r, 200);
      const doc = xml(r.text);
      expect(doc.Error).toBeUndefined();
      expect((doc.Deleted ?? []).map((d: { Key: string }) => d.Key).sort()).toEqual([...batch].sort());
    }
    const after = await iceberg({ method: 'GET', query: [['list-type', '2'], ['prefix', prefix]] });
    expect(xml(after.text).KeyCount).toBe('0');
  });

  it('a DeleteObjects whose CRC32 does not match the body is refused', async () => {
    const body = deleteXml([`${prefix}x`]);
    const r = await iceberg({ method: 'POST', query: [['delete', null]], body, headers: { 'x-amz-checksum-crc32': crc32b64('other'), 'x-amz-sdk-checksum-algorithm': 'CRC32' } });
    expect(outcome(r)).toBe('400 BadDigest');
  });
});
