// Hadoop s3a (what Spark on the AKKO platform uses), replayed on the wire: the JVM cannot be
// installed here, so each request is rebuilt with the method, path, query, headers and payload
// mode the connector sends.
//
// Client: hadoop-aws 3.4.2 / 3.5.0 with AWS SDK for Java v2 2.35.x (HADOOP-19654), at its
// defaults against an http endpoint with fs.s3a.path.style.access=true. Sources:
// - apache/hadoop hadoop-tools/hadoop-aws/src/main/java/org/apache/hadoop/fs/s3a/impl/RequestFactoryImpl.java
//   newPutObjectRequestBuilder (If-None-Match: * when isNoObjectOverwrite, If-Match for the etag
//   overwrite flag), newDirectoryMarkerRequest (zero-byte `dir/`, Content-Type
//   application/x-directory), newCopyObjectRequestBuilder (x-amz-metadata-directive: REPLACE with
//   the source's metadata cloned), newListObjectsV2RequestBuilder (prefix, delimiter, max-keys; no
//   encoding-type), newBulkDeleteRequestBuilder (Quiet true), newCompleteMultipartUploadRequestBuilder
//   (If-None-Match: * on create-no-overwrite).
// - S3AFileSystem.s3GetFileStatus: HEAD key, then LIST prefix=key/ delimiter=/ max-keys=2 ("list size
//   is dir marker + at least one entry"); hadoop-aws 3.3.0 also probed HEAD key/ (StatusProbeEnum.DirMarker).
// - site/markdown/tools/hadoop-aws/third_party_stores.md and directory_markers.md: fs.s3a.bucket.probe=0
//   (no probe at initialize; getS3Region does HeadBucket and reads x-amz-bucket-region),
//   fs.s3a.directory.marker.retention=keep, fs.s3a.create.conditional.enabled=true,
//   fs.s3a.request.md5.header=true (LegacyMd5Plugin → Content-MD5 on DeleteObjects),
//   fs.s3a.checksum.generation=false (RequestChecksumCalculation.WHEN_REQUIRED: no trailers on
//   uploads), fs.s3a.change.detection.mode=server / source=etag (If-Match on GET,
//   x-amz-copy-source-if-match on COPY), fs.s3a.paging.maximum=5000.
// - hadoop 3.3.x (SDK v1): AmazonS3Client.listObjects* always adds encoding-type=url and URL-decodes.
// - aws/aws-sdk-java-v2 http-auth-aws DefaultAwsV4HttpSigner (payload signed over http, 128 KiB
//   aws-chunked frames for PutObject/UploadPart), StreamingRequestInterceptor (Expect: 100-continue),
//   CreateMultipartUploadRequestInterceptor (empty body, Content-Length: 0), LegacyMd5ExecutionInterceptor.
// - The S3A async client (S3TransferManager, multipartEnabled) copies objects above
//   fs.s3a.multipart.threshold with CreateMultipartUpload + UploadPartCopy (x-amz-copy-source-range)
//   + CompleteMultipartUpload; the test uses 5 MiB parts instead of the 64 MiB default to stay fast.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import {
  bytes, completeXml, crc32b64, deleteXml, javaSdkHeaders, md5b64, md5hex, multipartEtag, outcome, send,
  uriEncode, xml, type WireRequest, type WireResponse,
} from '../helpers/wire.js';

const B = 'akko-spark-logs';
const REGION = 'us-east-1'; // what most Spark configs put in fs.s3a.endpoint.region
const UA = 'Hadoop 3.5.0, aws-sdk-java/2.35.4 md/io#sync md/http#Apache ua/2.1 os/Linux lang/java#17';
let server: TestServer;

beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server?.destroy(); });

/** One request as the s3a connector's sync client sends it over http. */
function s3a(r: Omit<WireRequest, 'payload'> & { payload?: WireRequest['payload'] }): Promise<WireResponse> {
  return send(server, {
    payload: 'sha256', region: REGION, bucket: B, ...r,
    headers: { ...javaSdkHeaders(), ...(r.headers ?? {}) },
    unsignedHeaders: { 'user-agent': UA },
  });
}

/** PutObject: signed aws-chunked body (WHEN_REQUIRED: no trailer), Expect: 100-continue when non-empty. */
function putFile(key: string, body: Buffer, headers: Record<string, string> = {}) {
  return s3a({
    method: 'PUT', key, body, payload: 'streaming-signed', expectContinue: body.length > 0,
    headers: { 'content-type': 'application/octet-stream', ...headers },
  });
}

const headObject = (key: string, headers: Record<string, string> = {}) => s3a({ method: 'HEAD', key, headers });

/** S3AFileSystem.s3GetFileStatus's directory probe. */
const listProbe = (dirKey: string) => s3a({ method: 'GET', query: [['list-type', '2'], ['delimiter', '/'], ['max-keys', '2'], ['prefix', dirKey]] });

function expectOk(r: WireResponse, status = 200) {
  expect(outcome(r), r.text).toBe(String(status));
}

describe('s3a initialize (fs.s3a.bucket.probe=0)', () => {
  it('HeadBucket answers 200 with x-amz-bucket-region, as getS3Region reads it', async () => {
    const r = await s3a({ method: 'HEAD' });
    expectOk(r);
    expect(r.headers['x-amz-bucket-region']).toBe('akko-local');
    expect(r.headers['x-amz-request-id']).toBeTruthy();
  });

  it('HeadBucket of a missing bucket is a bare 404 (UnknownStoreException)', async () => {
    const r = await s3a({ method: 'HEAD', bucket: 'no-such-spark-bucket' });
    expect(r.status).toBe(404);
    expect(r.body.length).toBe(0);
  });

  it('hadoop-aws 3.3.0 (fs.s3a.bucket.probe=2 then; SDK v1 doesBucketExistV2): GetBucketAcl answers 200, 404 when missing', async () => {
    // AmazonS3Client.doesBucketExistV2 calls getBucketAcl: 200/301/403 mean "exists", 404 "missing",
    // anything else fails FileSystem.initialize.
    const r = await s3a({ method: 'GET', query: [['acl', null]] });
    expect(outcome(r), r.text).toBe('200');
    const doc = xml(r.text);
    expect(doc.$root).toBe('AccessControlPolicy');
    expect(doc.Owner).toBeTruthy();
    const missing = await s3a({ method: 'GET', bucket: 'no-such-spark-bucket', query: [['acl', null]] });
    expect(outcome(missing)).toBe('404 NoSuchBucket');
  });

  it('GetBucketLocation names the server region', async () => {
    const r = await s3a({ method: 'GET', query: [['location', null]] });
    expectOk(r);
    const doc = xml(r.text);
    expect(doc.$root).toBe('LocationConstraint');
  });
});

describe('s3a directories (markers kept)', () => {
  it('mkdirs PUTs a zero-byte `dir/` marker as an empty signed aws-chunked body', async () => {
    const r = await s3a({ method: 'PUT', key: 'mk/tbl/', body: Buffer.alloc(0), payload: 'streaming-signed', headers: { 'content-type': 'application/x-directory' } });
    expectOk(r);
    expect(r.continued).toBe(false);
    expect(r.headers.etag).toBe('"d41d8cd98f00b204e9800998ecf8427e"');
    const h = await headObject('mk/tbl/');
    expectOk(h);
    expect(h.headers['content-length']).toBe('0');
    expect(h.headers['content-type']).toBe('application/x-directory');
  });

  it('getFileStatus of an empty directory: HEAD key is 404, LIST prefix=key/ max-keys=2 finds only the marker', async () => {
    await s3a({ method: 'PUT', key: 'probe/empty/', body: Buffer.alloc(0), payload: 'streaming-signed', headers: { 'content-type': 'application/x-directory' } });
    const head = await headObject('probe/empty');
    expect(head.status).toBe(404);
    expect(head.body.length).toBe(0);
    const list = await listProbe('probe/empty/');
    expectOk(list);
    const doc = xml(list.text);
    expect(doc.KeyCount).toBe('1');
    expect(doc.MaxKeys).toBe('2');
    expect(doc.Delimiter).toBe('/');
    expect(doc.IsTruncated).toBe('false');
    expect(doc.Contents.map((c: { Key: string; Size: string }) => [c.Key, c.Size])).toEqual([['probe/empty/', '0']]);
    expect(doc.CommonPrefixes).toBeUndefined();
    expect(doc.EncodingType).toBeUndefined();
  });

  it('hadoop-aws 3.3.0 probe: HEAD key/ finds the marker directly', async () => {
    await s3a({ method: 'PUT', key: 'probe/old/', body: Buffer.alloc(0), payload: 'streaming-signed', headers: { 'content-type': 'application/x-directory' } });
    const r = await headObject('probe/old/');
    expectOk(r);
    expect(r.headers['content-length']).toBe('0');
  });

  it('getFileStatus of a non-empty directory: the marker and one child (2 entries), or a common prefix', async () => {
    await s3a({ method: 'PUT', key: 'probe/full/', body: Buffer.alloc(0), payload: 'streaming-signed', headers: { 'content-type': 'application/x-directory' } });
    expectOk(await putFile('probe/full/part-00000.parquet', bytes(1000)));
    expectOk(await putFile('probe/full/part-00001.parquet', bytes(1000, 2)));
    expectOk(await putFile('probe/nomarker/sub/part-00000.parquet', bytes(10)));
    const full = xml((await listProbe('probe/full/')).text);
    expect(full.Contents.map((c: { Key: string }) => c.Key)).toEqual(['probe/full/', 'probe/full/part-00000.parquet']);
    expect(full.KeyCount).toBe('2');
    expect(full.IsTruncated).toBe('true');
    const implicit = xml((await listProbe('probe/nomarker/')).text);
    expect(implicit.Contents).toBeUndefined();
    expect(implicit.CommonPrefixes.map((p: { Prefix: string }) => p.Prefix)).toEqual(['probe/nomarker/sub/']);
    expect(implicit.KeyCount).toBe('1');
    const missing = xml((await listProbe('probe/nothing/')).text);
    expect([missing.KeyCount, missing.Contents, missing.CommonPrefixes]).toEqual(['0', undefined, undefined]);
  });

  it('listStatus pages with delimiter=/ and max-keys=5000 and continuation tokens', async () => {
    for (let i = 0; i < 5; i++) expectOk(await putFile(`ls/t/part-${i}.parquet`, bytes(10, i + 1)));
    expectOk(await putFile('ls/t/_SUCCESS', Buffer.alloc(0)));
    expectOk(await putFile('ls/t/year=2024/part-0.parquet', bytes(5)));
    const all = xml((await s3a({ method: 'GET', query: [['list-type', '2'], ['delimiter', '/'], ['max-keys', '5000'], ['prefix', 'ls/t/']] })).text);
    expect(all.Contents.map((c: { Key: string }) => c.Key)).toEqual(['ls/t/_SUCCESS', ...[0, 1, 2, 3, 4].map((i) => `ls/t/part-${i}.parquet`)]);
    expect(all.CommonPrefixes.map((p: { Prefix: string }) => p.Prefix)).toEqual(['ls/t/year=2024/']);
    // fs.s3a.paging.maximum set low: the listing iterator follows NextContinuationToken.
    const seen: string[] = [];
    let token: string | undefined;
    for (let page = 0; page < 10; page++) {
      const q: [string, string][] = [['list-type', '2'], ['delimiter', '/'], ['max-keys', '2'], ['prefix', 'ls/t/']];
      if (token) q.splice(1, 0, ['continuation-token', token]);
      const doc = xml((await s3a({ method: 'GET', query: q })).text);
      seen.push(...(doc.Contents ?? []).map((c: { Key: string }) => c.Key), ...(doc.CommonPrefixes ?? []).map((p: { Prefix: string }) => p.Prefix));
      if (doc.IsTruncated !== 'true') break;
      token = doc.NextContinuationToken;
      expect(token).toBeTruthy();
    }
    expect(seen).toEqual([...all.Contents.map((c: { Key: string }) => c.Key), 'ls/t/year=2024/']);
  });

  it('hadoop 3.3.x (SDK v1) lists with encoding-type=url and URL-decodes keys, prefixes and the delimiter (client behaviour wins: the AWS docs only say "URL-encoded", but the SDKs decode with java.net.URLDecoder, so + is a space and a literal + must come back as %2B)', async () => {
    // Spark writes Hive-escaped partition values: a literal `%3A` in the key, plus spaces and `+`.
    const keys = ['enc/ts=2024-01-01 00%3A00%3A00/part-0.parquet', 'enc/a+b c.csv'];
    for (const k of keys) expectOk(await putFile(k, bytes(3)));
    const r = await s3a({ method: 'GET', query: [['list-type', '2'], ['delimiter', '/'], ['encoding-type', 'url'], ['max-keys', '5000'], ['prefix', 'enc/']] });
    expectOk(r);
    const doc = xml(r.text);
    expect(doc.EncodingType).toBe('url');
    // java.net.URLDecoder (what both SDKs use) turns + into a space.
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    expect(decode(doc.Prefix)).toBe('enc/');
    expect(decode(doc.Delimiter)).toBe('/');
    expect(doc.Contents.map((c: { Key: string }) => decode(c.Key))).toEqual(['enc/a+b c.csv']);
    expect(doc.CommonPrefixes.map((p: { Prefix: string }) => decode(p.Prefix))).toEqual(['enc/ts=2024-01-01 00%3A00%3A00/']);
    // The raw key with its literal %3A round-trips as a path segment.
    const head = await headObject(keys[0]!);
    expectOk(head);
    expect(head.headers['content-length']).toBe('3');
  });
});

describe('s3a create and read', () => {
  it('create(overwrite=false) is a PUT with If-None-Match: *; a second one gets 412 and changes nothing', async () => {
    const first = bytes(300_000, 7);
    const r1 = await putFile('cond/part-00000.parquet', first, { 'if-none-match': '*' });
    expectOk(r1);
    expect(r1.continued).toBe(true);
    expect(r1.headers.etag).toBe(`"${md5hex(first)}"`);
    const r2 = await putFile('cond/part-00000.parquet', bytes(1000, 8), { 'if-none-match': '*' });
    expect(outcome(r2)).toBe('412 PreconditionFailed');
    const head = await headObject('cond/part-00000.parquet');
    expect(head.headers.etag).toBe(r1.headers.etag);
    expect(head.headers['content-length']).toBe(String(first.length));
  });

  it('create with the etag-overwrite flag is a PUT with If-Match: 200 for the current etag, 412 for a stale one', async () => {
    const v1 = await putFile('cond/commit.json', Buffer.from('{"v":1}'));
    expectOk(v1);
    const v2 = await putFile('cond/commit.json', Buffer.from('{"v":2}'), { 'if-match': String(v1.headers.etag) });
    expectOk(v2);
    const stale = await putFile('cond/commit.json', Buffer.from('{"v":3}'), { 'if-match': String(v1.headers.etag) });
    expect(outcome(stale)).toBe('412 PreconditionFailed');
    const missing = await putFile('cond/never.json', Buffer.from('{}'), { 'if-match': String(v1.headers.etag) });
    expect(missing.status).toBe(404);
  });

  it('open + read: HEAD, then ranged GETs with If-Match (change detection); a changed file is a 412', async () => {
    const data = bytes(1_000_000, 9);
    expectOk(await putFile('read/f.parquet', data));
    const head = await headObject('read/f.parquet');
    expectOk(head);
    const etag = String(head.headers.etag);
    expect(new Date(String(head.headers['last-modified'])).getTime()).toBeGreaterThan(0);
    // Sequential read: the whole remaining file as one range.
    const seq = await s3a({ method: 'GET', key: 'read/f.parquet', headers: { range: `bytes=0-${data.length - 1}`, 'if-match': etag } });
    expect(seq.status).toBe(206);
    expect(seq.headers['content-range']).toBe(`bytes 0-${data.length - 1}/${data.length}`);
    expect(seq.headers.etag).toBe(etag);
    expect(seq.body.equals(data)).toBe(true);
    // Random IO (parquet footer, then column chunks): readahead-sized ranges.
    const footer = await s3a({ method: 'GET', key: 'read/f.parquet', headers: { range: `bytes=${data.length - 65536}-${data.length - 1}`, 'if-match': etag } });
    expect(footer.status).toBe(206);
    expect(footer.body.equals(data.subarray(data.length - 65536))).toBe(true);
    const mid = await s3a({ method: 'GET', key: 'read/f.parquet', headers: { range: 'bytes=4-32771', 'if-match': etag } });
    expect(mid.headers['content-range']).toBe(`bytes 4-32771/${data.length}`);
    expect(mid.headers['content-length']).toBe('32768');
    expect(mid.body.equals(data.subarray(4, 32772))).toBe(true);
    // Overwritten under the reader: the next GET with the old etag fails (RemoteFileChangedException).
    expectOk(await putFile('read/f.parquet', bytes(10, 10)));
    const changed = await s3a({ method: 'GET', key: 'read/f.parquet', headers: { range: 'bytes=0-9', 'if-match': etag } });
    expect(outcome(changed)).toBe('412 PreconditionFailed');
  });

  it('reading past the end is a 416 InvalidRange (EOFException)', async () => {
    expectOk(await putFile('read/small', Buffer.from('0123456789')));
    const r = await s3a({ method: 'GET', key: 'read/small', headers: { range: 'bytes=10-20' } });
    expect(outcome(r)).toBe('416 InvalidRange');
  });
});

describe('s3a rename and delete', () => {
  it('rename(file): HEAD source, probe destination, COPY with REPLACE + copy-source-if-match, DELETE source', async () => {
    const data = bytes(50_000, 11);
    expectOk(await putFile('mv/src dir/part-0.csv', data, { 'content-type': 'text/csv', 'x-amz-meta-origin': 'spark' }));
    const src = await headObject('mv/src dir/part-0.csv');
    expectOk(src);
    expect((await headObject('mv/dst/part-0.csv')).status).toBe(404);
    expect(xml((await listProbe('mv/dst/part-0.csv/')).text).KeyCount).toBe('0');
    const copy = await s3a({
      method: 'PUT', key: 'mv/dst/part-0.csv',
      headers: {
        'x-amz-copy-source': `${B}/${uriEncode('mv/src dir/part-0.csv', true)}`,
        'x-amz-metadata-directive': 'REPLACE',
        'content-type': String(src.headers['content-type']),
        'x-amz-meta-origin': String(src.headers['x-amz-meta-origin']),
        'x-amz-copy-source-if-match': String(src.headers.etag),
      },
    });
    expectOk(copy);
    const result = xml(copy.text);
    expect(result.$root).toBe('CopyObjectResult');
    expect(result.ETag).toMatch(/^"[0-9a-f]{32}"$/);
    const dst = await headObject('mv/dst/part-0.csv');
    expect(dst.headers.etag).toBe(result.ETag);
    expect(dst.headers['content-type']).toBe('text/csv');
    expect(dst.headers['x-amz-meta-origin']).toBe('spark');
    expect(dst.headers['content-length']).toBe(String(data.length));
    const del = await s3a({ method: 'DELETE', key: 'mv/src dir/part-0.csv' });
    expect(del.status).toBe(204);
    expect((await headObject('mv/src dir/part-0.csv')).status).toBe(404);
  });

  it('a copy whose source changed since the HEAD fails with 412 (copy-source-if-match)', async () => {
    expectOk(await putFile('mv/changing', Buffer.from('one')));
    const r = await s3a({
      method: 'PUT', key: 'mv/changing-copy',
      headers: { 'x-amz-copy-source': `${B}/mv/changing`, 'x-amz-metadata-directive': 'REPLACE', 'x-amz-copy-source-if-match': '"00000000000000000000000000000000"' },
    });
    expect(outcome(r)).toBe('412 PreconditionFailed');
  });

  it('rename(dir)/delete(dir): recursive LIST, then DeleteObjects (Quiet, Content-MD5 + CRC32) of files and markers', async () => {
    const keys = ['rmdir/t/', 'rmdir/t/a.parquet', 'rmdir/t/year=1/', 'rmdir/t/year=1/b.parquet'];
    for (const k of keys) expectOk(k.endsWith('/') ? await s3a({ method: 'PUT', key: k, body: Buffer.alloc(0), payload: 'streaming-signed', headers: { 'content-type': 'application/x-directory' } }) : await putFile(k, bytes(100)));
    const list = xml((await s3a({ method: 'GET', query: [['list-type', '2'], ['max-keys', '5000'], ['prefix', 'rmdir/t/']] })).text);
    const listed = list.Contents.map((c: { Key: string }) => c.Key);
    expect(listed).toEqual([...keys].sort());
    const body = deleteXml([...listed, 'rmdir/t/never-existed'], true);
    const r = await s3a({
      method: 'POST', query: [['delete', null]], body,
      headers: { 'content-type': 'application/xml', 'content-md5': md5b64(body), 'x-amz-checksum-crc32': crc32b64(body) },
    });
    expectOk(r);
    const doc = xml(r.text);
    expect(doc.$root).toBe('DeleteResult');
    // Quiet: nothing listed, and no errors (a missing key counts as deleted).
    expect(doc.Deleted).toBeUndefined();
    expect(doc.Error).toBeUndefined();
    const after = xml((await s3a({ method: 'GET', query: [['list-type', '2'], ['max-keys', '5000'], ['prefix', 'rmdir/']] })).text);
    expect(after.KeyCount).toBe('0');
  });

  it('a DeleteObjects whose Content-MD5 does not match the body is refused with BadDigest', async () => {
    const body = deleteXml(['rmdir/x'], true);
    const r = await s3a({ method: 'POST', query: [['delete', null]], body, headers: { 'content-md5': md5b64('something else') } });
    expect(outcome(r)).toBe('400 BadDigest');
  });
});

describe('s3a multipart (block output stream and large-file rename)', () => {
  const PART = 5 * 1024 * 1024;

  async function createUpload(key: string, headers: Record<string, string> = {}): Promise<string> {
    const r = await s3a({ method: 'POST', key, query: [['uploads', null]], body: Buffer.alloc(0), headers });
    expect(outcome(r), r.text).toBe('200');
    const doc = xml(r.text);
    expect(doc.$root).toBe('InitiateMultipartUploadResult');
    expect(doc.Key).toBe(key);
    expect(doc.UploadId).toBeTruthy();
    return doc.UploadId;
  }

  it('S3ABlockOutputStream: CreateMultipartUpload, UploadPart (signed aws-chunked, Expect), Complete with If-None-Match: *', async () => {
    const key = 'mpu/big.parquet';
    const parts = [bytes(PART, 21), bytes(123_457, 22)];
    const uploadId = await createUpload(key);
    const etags: string[] = [];
    for (let i = 0; i < parts.length; i++) {
      const r = await s3a({
        method: 'PUT', key, query: [['partNumber', String(i + 1)], ['uploadId', uploadId]], body: parts[i],
        payload: 'streaming-signed', expectContinue: true,
      });
      expect(outcome(r), r.text).toBe('200');
      expect(r.continued).toBe(true);
      expect(r.headers.etag).toBe(`"${md5hex(parts[i]!)}"`);
      etags.push(String(r.headers.etag));
    }
    const body = completeXml(etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })));
    const done = await s3a({ method: 'POST', key, query: [['uploadId', uploadId]], body, headers: { 'if-none-match': '*' } });
    expect(outcome(done), done.text).toBe('200');
    const doc = xml(done.text);
    expect(doc.$root).toBe('CompleteMultipartUploadResult');
    expect(doc.ETag).toBe(multipartEtag(parts));
    const head = await s3a({ method: 'HEAD', key, query: [['partNumber', '1']] });
    expect(head.status).toBe(206);
    expect(head.headers['x-amz-mp-parts-count']).toBe('2');
    expect(head.headers['content-length']).toBe(String(PART));
    const whole = await s3a({ method: 'GET', key });
    expect(whole.body.equals(Buffer.concat(parts))).toBe(true);
  });

  it('completing a create-no-overwrite upload over an existing file gets 412', async () => {
    const key = 'mpu/exists.parquet';
    expectOk(await putFile(key, Buffer.from('already here')));
    const uploadId = await createUpload(key);
    const part = await s3a({ method: 'PUT', key, query: [['partNumber', '1'], ['uploadId', uploadId]], body: bytes(1000), payload: 'streaming-signed', expectContinue: true });
    expectOk(part);
    const done = await s3a({ method: 'POST', key, query: [['uploadId', uploadId]], body: completeXml([{ PartNumber: 1, ETag: String(part.headers.etag) }]), headers: { 'if-none-match': '*' } });
    expect(outcome(done)).toBe('412 PreconditionFailed');
    const head = await headObject(key);
    expect(head.headers['content-length']).toBe('12');
    // S3ABlockOutputStream aborts the upload after the failure.
    const abort = await s3a({ method: 'DELETE', key, query: [['uploadId', uploadId]] });
    expect(abort.status).toBe(204);
  });

  it('rename of a large file: HEAD, CreateMultipartUpload with the metadata, UploadPartCopy with x-amz-copy-source-range', async () => {
    const src = 'mpcopy/src.parquet';
    const data = bytes(PART + 4099, 31);
    expectOk(await putFile(src, data, { 'content-type': 'application/x-parquet', 'x-amz-meta-writer': 'spark' }));
    const head = await headObject(src);
    const etag = String(head.headers.etag);
    const dst = 'mpcopy/dst.parquet';
    const uploadId = await createUpload(dst, { 'content-type': 'application/x-parquet', 'x-amz-meta-writer': 'spark' });
    const ranges = [[0, PART - 1], [PART, data.length - 1]] as const;
    const parts: { PartNumber: number; ETag: string }[] = [];
    for (let i = 0; i < ranges.length; i++) {
      const [a, b] = ranges[i]!;
      const r = await s3a({
        method: 'PUT', key: dst, query: [['partNumber', String(i + 1)], ['uploadId', uploadId]],
        headers: { 'x-amz-copy-source': `${B}/${src}`, 'x-amz-copy-source-range': `bytes=${a}-${b}`, 'x-amz-copy-source-if-match': etag },
      });
      expect(outcome(r), r.text).toBe('200');
      const doc = xml(r.text);
      expect(doc.$root).toBe('CopyPartResult');
      expect(doc.ETag).toBe(`"${md5hex(data.subarray(a, b + 1))}"`);
      parts.push({ PartNumber: i + 1, ETag: doc.ETag });
    }
    const done = await s3a({ method: 'POST', key: dst, query: [['uploadId', uploadId]], body: completeXml(parts) });
    expect(outcome(done), done.text).toBe('200');
    const got = await s3a({ method: 'GET', key: dst });
    expect(got.body.equals(data)).toBe(true);
    expect(got.headers['content-type']).toBe('application/x-parquet');
    expect(got.headers['x-amz-meta-writer']).toBe('spark');
    expect(got.headers.etag).toBe(multipartEtag([data.subarray(0, PART), data.subarray(PART)]));
  });
});
