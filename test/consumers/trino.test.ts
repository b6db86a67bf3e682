// Trino's native S3 file system (trino-filesystem-s3), replayed on the wire: the JVM cannot be
// installed here, so each request is rebuilt with the method, path, query, headers and payload
// mode Trino sends.
//
// Client: Trino 47x (lib/trino-filesystem-s3) with AWS SDK for Java v2 2.3x, S3Client with the
// Apache HTTP client, RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation.WHEN_REQUIRED
// and LegacyMd5Plugin (S3FileSystemLoader.s3ClientFactory), s3.path-style-access=true, an http
// endpoint, s3.streaming.part-size=16MB, s3.exclusive-create=true (the defaults). Sources, in
// trinodb/trino lib/trino-filesystem-s3/src/main/java/io/trino/filesystem/s3/:
// - S3InputFile.length()/exists(): HeadObject.
// - S3Input.readTail: `Range: bytes=-N` (the Parquet/ORC footer); S3Input.readFully:
//   `Range: bytes=a-b` (column chunks, read concurrently by the page source).
// - S3InputStream.seekStream: a GET without Range at position 0, `bytes=N-` after a seek, and
//   in.abort() (the connection is dropped mid-body) for a seek farther than what is buffered.
// - S3OutputStream: one PutObject (RequestBody.fromByteBuffer → application/octet-stream) when the
//   data fits one part; else CreateMultipartUpload, UploadPart of 16 MiB parts, CompleteMultipartUpload,
//   AbortMultipartUpload on failure. putObject(exclusiveCreate): If-None-Match: * plus
//   x-amz-tagging TrinoCreationId=<uuid>; a 412 after an SDK retry is resolved with GetObjectTagging.
// - S3FileSystem.deleteFiles: DeleteObjects in batches of 250 with Quiet=true, errors read from the
//   response; deleteFile: DeleteObject; listFiles: ListObjectsV2 prefix=dir/ (no delimiter, no
//   max-keys) through the paginator; directoryExists: listFiles(..).hasNext().
// - aws/aws-sdk-java-v2 DefaultAwsV4HttpSigner, StreamingRequestInterceptor, LegacyMd5ExecutionInterceptor:
//   over http the body of PutObject/UploadPart is signed aws-chunked (128 KiB frames, no trailer under
//   WHEN_REQUIRED) after `Expect: 100-continue`; other requests carry the hex SHA-256 of their body;
//   DeleteObjects gets Content-MD5 (and the CRC32 the operation requires).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  bytes, completeXml, crc32b64, deleteXml, javaSdkHeaders, md5b64, md5hex, multipartEtag, outcome, send,
  xml, type WireRequest, type WireResponse,
} from '../helpers/wire.js';

const B = 'akko-iceberg';
const UA = 'Trino/475 aws-sdk-java/2.31.63 md/io#sync md/http#Apache ua/2.1 os/Linux lang/java#24';
let server: TestServer;

beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server?.destroy(); });

function trino(r: Omit<WireRequest, 'payload'> & { payload?: WireRequest['payload'] }): Promise<WireResponse> {
  return send(server, {
    payload: 'sha256', bucket: B, ...r, // region: the AKKO_S3_REGION the consumers get (akko-local)
    headers: { ...javaSdkHeaders(), ...(r.headers ?? {}) },
    unsignedHeaders: { 'user-agent': UA },
  });
}

/** S3OutputStream.putObject. */
function putObject(key: string, body: Buffer, headers: Record<string, string> = {}) {
  return trino({ method: 'PUT', key, body, payload: 'streaming-signed', expectContinue: body.length > 0, headers: { 'content-type': 'application/octet-stream', ...headers } });
}

function expectStatus(r: WireResponse, status: number) {
  expect(outcome(r), r.text).toBe(String(status));
}

describe('trino reads (S3InputFile, S3Input, S3InputStream)', () => {
  const size = 700_001;
  const data = bytes(size, 41);
  const key = 'warehouse/sales/data/20240101_000000_00001_abcde-part.parquet';

  beforeAll(async () => { expectStatus(await putObject(key, data), 200); });

  it('length(): HEAD gives Content-Length, ETag and Last-Modified', async () => {
    const r = await trino({ method: 'HEAD', key });
    expectStatus(r, 200);
    expect(r.headers['content-length']).toBe(String(size));
    expect(r.headers.etag).toBe(`"${md5hex(data)}"`);
    expect(Number.isNaN(Date.parse(String(r.headers['last-modified'])))).toBe(false);
    const missing = await trino({ method: 'HEAD', key: 'warehouse/sales/data/missing.parquet' });
    expect(missing.status).toBe(404);
  });

  it('readTail: `bytes=-N` answers the last N bytes with Content-Range', async () => {
    const r = await trino({ method: 'GET', key, headers: { range: 'bytes=-49152' } });
    expectStatus(r, 206);
    expect(r.headers['content-range']).toBe(`bytes ${size - 49152}-${size - 1}/${size}`);
    expect(r.headers['content-length']).toBe('49152');
    expect(r.body.equals(data.subarray(size - 49152))).toBe(true);
    // No whole-object checksum on a partial answer (the SDK would try to validate it).
    expect(Object.keys(r.headers).filter((h) => h.startsWith('x-amz-checksum-'))).toEqual([]);
  });

  it('readTail longer than the file (footer estimate on a small file) answers the whole file as 206', async () => {
    const small = Buffer.from('PAR1....small parquet....PAR1');
    expectStatus(await putObject('warehouse/sales/data/small.parquet', small), 200);
    const r = await trino({ method: 'GET', key: 'warehouse/sales/data/small.parquet', headers: { range: 'bytes=-49152' } });
    expectStatus(r, 206);
    expect(r.headers['content-range']).toBe(`bytes 0-${small.length - 1}/${small.length}`);
    expect(r.body.equals(small)).toBe(true);
  });

  it('readFully: concurrent `bytes=a-b` column-chunk reads', async () => {
    const ranges = [[4, 65_539], [65_540, 200_000], [200_001, 200_001], [size - 8, size - 1], [123_456, 654_321]] as const;
    const got = await Promise.all(ranges.map(([a, b]) => trino({ method: 'GET', key, headers: { range: `bytes=${a}-${b}` } })));
    got.forEach((r, i) => {
      const [a, b] = ranges[i]!;
      expectStatus(r, 206);
      expect(r.headers['content-range']).toBe(`bytes ${a}-${b}/${size}`);
      expect(r.body.equals(data.subarray(a, b + 1))).toBe(true);
    });
  });

  it('S3InputStream: GET without Range, abort mid-body on a far seek, reopen with `bytes=N-`', async () => {
    // The first GET is abandoned after its first bytes: in.abort() drops the connection.
    const first = await trino({ method: 'GET', key, abortAfterBytes: 1 });
    expect(first.status).toBe(200);
    expect(first.body.length).toBeLessThan(size);
    const at = 600_000;
    const r = await trino({ method: 'GET', key, headers: { range: `bytes=${at}-` } });
    expectStatus(r, 206);
    expect(r.headers['content-range']).toBe(`bytes ${at}-${size - 1}/${size}`);
    expect(r.body.equals(data.subarray(at))).toBe(true);
    // The server is still serving whole objects after the dropped connection.
    const whole = await trino({ method: 'GET', key });
    expectStatus(whole, 200);
    expect(whole.body.equals(data)).toBe(true);
  });

  it('a missing file is NoSuchKey (FileNotFoundException)', async () => {
    const r = await trino({ method: 'GET', key: 'warehouse/sales/data/gone.parquet', headers: { range: 'bytes=-8' } });
    expect(outcome(r)).toBe('404 NoSuchKey');
  });
});

describe('trino writes (S3OutputStream, S3OutputFile)', () => {
  it('a file that fits one part is a single PutObject (signed aws-chunked, Expect: 100-continue)', async () => {
    const data = bytes(300_000, 51);
    const r = await putObject('warehouse/sales/data/one-put.orc', data);
    expectStatus(r, 200);
    expect(r.continued).toBe(true);
    expect(r.headers.etag).toBe(`"${md5hex(data)}"`);
    const got = await trino({ method: 'GET', key: 'warehouse/sales/data/one-put.orc' });
    expect(got.body.equals(data)).toBe(true);
    expect(got.headers['content-type']).toBe('application/octet-stream');
  });

  it('createExclusive: If-None-Match: * with the TrinoCreationId tag; a second create gets 412 (FileAlreadyExistsException)', async () => {
    const key = 'warehouse/sales/metadata/00001-' + randomUUID() + '.metadata.json';
    const id = randomUUID();
    const r1 = await putObject(key, Buffer.from('{"format-version":2}'), { 'if-none-match': '*', 'x-amz-tagging': `TrinoCreationId=${id}` });
    expectStatus(r1, 200);
    const r2 = await putObject(key, Buffer.from('{"format-version":2,"other":true}'), { 'if-none-match': '*', 'x-amz-tagging': `TrinoCreationId=${randomUUID()}` });
    expect(outcome(r2)).toBe('412 PreconditionFailed');
    const got = await trino({ method: 'GET', key });
    expect(got.text).toBe('{"format-version":2}');
  });

  it('after a retried 412, GetObjectTagging tells whether the object is ours (isCreatedByUs)', async () => {
    const key = 'warehouse/sales/metadata/00002-' + randomUUID() + '.metadata.json';
    const id = randomUUID();
    expectStatus(await putObject(key, Buffer.from('{}'), { 'if-none-match': '*', 'x-amz-tagging': `TrinoCreationId=${id}` }), 200);
    const again = await trino({ method: 'PUT', key, body: Buffer.from('{}'), payload: 'streaming-signed', expectContinue: true, headers: { ...javaSdkHeaders(2), 'content-type': 'application/octet-stream', 'if-none-match': '*', 'x-amz-tagging': `TrinoCreationId=${id}` } });
    expect(outcome(again)).toBe('412 PreconditionFailed');
    const tags = await trino({ method: 'GET', key, query: [['tagging', null]] });
    expectStatus(tags, 200);
    const doc = xml(tags.text);
    expect(doc.$root).toBe('Tagging');
    expect(doc.TagSet.Tag).toEqual([{ Key: 'TrinoCreationId', Value: id }]);
  });

  it('a larger file: CreateMultipartUpload, 16 MiB UploadParts, CompleteMultipartUpload', async () => {
    const key = 'warehouse/sales/data/big-' + randomUUID() + '.parquet';
    const parts = [bytes(16 * 1024 * 1024, 61), bytes(777_777, 62)];
    const init = await trino({ method: 'POST', key, query: [['uploads', null]], body: Buffer.alloc(0) });
    expectStatus(init, 200);
    const uploadId = xml(init.text).UploadId;
    expect(uploadId).toBeTruthy();
    const etags: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const r = await trino({ method: 'PUT', key, query: [['partNumber', String(i + 1)], ['uploadId', uploadId]], body: parts[i], payload: 'streaming-signed', expectContinue: true });
      expectStatus(r, 200);
      expect(r.headers.etag).toBe(`"${md5hex(parts[i]!)}"`);
      etags.push(String(r.headers.etag));
    }
    const done = await trino({ method: 'POST', key, query: [['uploadId', uploadId]], body: completeXml(etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }))) });
    expectStatus(done, 200);
    expect(xml(done.text).ETag).toBe(multipartEtag(parts));
    const tail = await trino({ method: 'GET', key, headers: { range: 'bytes=-1000' } });
    expect(tail.body.equals(parts[1]!.subarray(-1000))).toBe(true);
    const span = await trino({ method: 'GET', key, headers: { range: `bytes=${16 * 1024 * 1024 - 10}-${16 * 1024 * 1024 + 9}` } });
    expect(span.body.equals(Buffer.concat([parts[0]!.subarray(-10), parts[1]!.subarray(0, 10)]))).toBe(true);
  });

  it('a failed write aborts its upload: AbortMultipartUpload is 204 and the key never appears', async () => {
    const key = 'warehouse/sales/data/aborted.parquet';
    const init = await trino({ method: 'POST', key, query: [['uploads', null]], body: Buffer.alloc(0) });
    expectStatus(init, 200);
    const uploadId = xml(init.text).UploadId;
    expectStatus(await trino({ method: 'PUT', key, query: [['partNumber', '1'], ['uploadId', uploadId]], body: bytes(1000), payload: 'streaming-signed', expectContinue: true }), 200);
    const abort = await trino({ method: 'DELETE', key, query: [['uploadId', uploadId]] });
    expect(abort.status).toBe(204);
    expect((await trino({ method: 'HEAD', key })).status).toBe(404);
    const late = await trino({ method: 'POST', key, query: [['uploadId', uploadId]], body: completeXml([{ PartNumber: 1, ETag: '"x"' }]) });
    expect(outcome(late)).toBe('404 NoSuchUpload');
  });
});

describe('trino listing and deletes (S3FileSystem)', () => {
  const prefix = 'warehouse/orders/data/';
  const keys = Array.from({ length: 251 }, (_, i) => `${prefix}part-${String(i).padStart(5, '0')}.parquet`);

  beforeAll(async () => {
    for (let i = 0; i < keys.length; i += 25) await Promise.all(keys.slice(i, i + 25).map((k) => putObject(k, Buffer.from(k))));
  });

  it('listFiles: ListObjectsV2 prefix=dir/ without delimiter or max-keys returns every file in one page', async () => {
    const r = await trino({ method: 'GET', query: [['list-type', '2'], ['prefix', prefix]] });
    expectStatus(r, 200);
    const doc = xml(r.text);
    expect(doc.IsTruncated).toBe('false');
    expect(doc.KeyCount).toBe('251');
    expect(doc.MaxKeys).toBe('1000');
    expect(doc.Contents.map((c: { Key: string }) => c.Key)).toEqual(keys);
    expect(doc.Contents[0].Size).toBe(String(keys[0]!.length));
    expect(doc.Contents[0].ETag).toBe(`"${md5hex(keys[0]!)}"`);
    expect(Number.isNaN(Date.parse(doc.Contents[0].LastModified))).toBe(false);
  });

  it('directoryExists: a listing of an absent directory is empty, not an error', async () => {
    const r = await trino({ method: 'GET', query: [['list-type', '2'], ['prefix', 'warehouse/orders/nothing-here/']] });
    expectStatus(r, 200);
    expect(xml(r.text).KeyCount).toBe('0');
  });

  it('deleteFiles: DeleteObjects in batches of 250, Quiet, with Content-MD5 and CRC32', async () => {
    for (let i = 0; i < keys.length; i += 250) {
      const batch = keys.slice(i, i + 250);
      const body = deleteXml(batch, true);
      const r = await trino({ method: 'POST', query: [['delete', null]], body, headers: { 'content-md5': md5b64(body), 'x-amz-checksum-crc32': crc32b64(body) } });
      expectStatus(r, 200);
      const doc = xml(r.text);
      expect(doc.$root).toBe('DeleteResult');
      expect(doc.Error).toBeUndefined();
      expect(doc.Deleted).toBeUndefined();
    }
    const after = await trino({ method: 'GET', query: [['list-type', '2'], ['prefix', prefix]] });
    expect(xml(after.text).KeyCount).toBe('0');
  });

  it('deleteFile: DeleteObject is 204, also for a key that is not there', async () => {
    expectStatus(await putObject('warehouse/orders/one', Buffer.from('1')), 200);
    expect((await trino({ method: 'DELETE', key: 'warehouse/orders/one' })).status).toBe(204);
    expect((await trino({ method: 'DELETE', key: 'warehouse/orders/one' })).status).toBe(204);
  });
});
