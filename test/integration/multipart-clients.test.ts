// Multipart through Debian's own clients: the AWS CLI (`aws s3 cp` switches to multipart at its
// 8 MiB default threshold and downloads large objects with ranged GETs) and boto3's s3transfer
// (upload_file / download_file with a TransferConfig).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEnv, requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';

const MiB = 1024 * 1024;
const AWS = '/usr/bin/aws';
const PY = '/usr/bin/python3';
const hasAws = requireTool(AWS);
const hasBoto = requireTool(PY) && requireTool('/usr/lib/python3/dist-packages/boto3');
let server: TestServer;
let work: string;

beforeAll(async () => {
  server = await startServer();
  work = mkdtempSync(join(tmpdir(), 'akko-mp-clients-'));
});
afterAll(async () => {
  await server?.destroy();
  rmSync(work, { recursive: true, force: true });
});

function multipartEtag(data: Buffer, partSize: number): string {
  const md5s: Buffer[] = [];
  for (let i = 0; i < data.length; i += partSize) md5s.push(createHash('md5').update(data.subarray(i, i + partSize)).digest());
  return `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${md5s.length}"`;
}

describe.runIf(hasAws)('aws cli', () => {
  const aws = (...args: string[]) => run(AWS, ['--endpoint-url', server.s3, ...args], { env: awsEnv(server) });

  it('aws s3 cp of a 20 MiB file goes up in 8 MiB parts and comes back byte-identical', async () => {
    const data = randomBytes(20 * MiB);
    const src = join(work, 'twenty.bin');
    writeFileSync(src, data);
    ok(await aws('s3', 'cp', src, 's3://akko-rag/cli/twenty.bin'), 'cp up');
    const head = JSON.parse(ok(await aws('s3api', 'head-object', '--bucket', 'akko-rag', '--key', 'cli/twenty.bin'), 'head').stdout);
    // Three parts of the CLI's default 8 MiB chunk size: the upload really was multipart.
    expect(head.ETag).toBe(multipartEtag(data, 8 * MiB));
    expect(head.ContentLength).toBe(data.length);
    const uploads = JSON.parse(ok(await aws('s3api', 'list-multipart-uploads', '--bucket', 'akko-rag'), 'list uploads').stdout || '{}');
    expect(uploads.Uploads ?? []).toEqual([]);
    const dst = join(work, 'twenty.back');
    ok(await aws('s3', 'cp', 's3://akko-rag/cli/twenty.bin', dst), 'cp down');
    expect(readFileSync(dst).equals(data)).toBe(true);
  });

  it('s3api create-multipart-upload, upload-part, list-parts, abort-multipart-upload', async () => {
    const part = join(work, 'part.bin');
    writeFileSync(part, 'one part');
    const c = JSON.parse(ok(await aws('s3api', 'create-multipart-upload', '--bucket', 'akko-rag', '--key', 'cli/manual'), 'create').stdout);
    const up = JSON.parse(ok(await aws('s3api', 'upload-part', '--bucket', 'akko-rag', '--key', 'cli/manual', '--upload-id', c.UploadId, '--part-number', '1', '--body', part), 'upload-part').stdout);
    expect(up.ETag).toBe(`"${createHash('md5').update('one part').digest('hex')}"`);
    const parts = JSON.parse(ok(await aws('s3api', 'list-parts', '--bucket', 'akko-rag', '--key', 'cli/manual', '--upload-id', c.UploadId), 'list-parts').stdout);
    expect(parts.Parts.map((p: { PartNumber: number; Size: number }) => [p.PartNumber, p.Size])).toEqual([[1, 8]]);
    ok(await aws('s3api', 'abort-multipart-upload', '--bucket', 'akko-rag', '--key', 'cli/manual', '--upload-id', c.UploadId), 'abort');
    const gone = await aws('s3api', 'list-parts', '--bucket', 'akko-rag', '--key', 'cli/manual', '--upload-id', c.UploadId);
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toContain('NoSuchUpload');
  });
});

describe.runIf(hasBoto)('boto3', () => {
  function py(script: string) {
    const prelude = `
import boto3, botocore, hashlib, json, os, sys, tempfile
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], region_name='us-east-1',
                  config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
`;
    return run(PY, ['-c', prelude + script], { env: awsEnv(server, { ENDPOINT: server.s3 }) });
  }

  it('upload_file in 5 MiB parts and download_file with parallel ranged GETs', async () => {
    const r = ok(await py(`
MiB = 1024 * 1024
d = tempfile.mkdtemp()
src = os.path.join(d, 'src'); dst = os.path.join(d, 'dst')
data = os.urandom(13 * MiB + 12345)
open(src, 'wb').write(data)
cfg = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4)
s3.upload_file(src, 'akko-mlflow', 'boto/multipart.bin', Config=cfg)
head = s3.head_object(Bucket='akko-mlflow', Key='boto/multipart.bin')
md5s = b''.join(hashlib.md5(data[i:i + 5 * MiB]).digest() for i in range(0, len(data), 5 * MiB))
assert head['ETag'] == '"%s-3"' % hashlib.md5(md5s).hexdigest(), head['ETag']
assert head['ContentLength'] == len(data)
part = s3.get_object(Bucket='akko-mlflow', Key='boto/multipart.bin', PartNumber=2)
assert part['PartsCount'] == 3 and part['Body'].read() == data[5 * MiB:10 * MiB]
s3.download_file('akko-mlflow', 'boto/multipart.bin', dst, Config=TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=2 * MiB, max_concurrency=4))
assert open(dst, 'rb').read() == data, 'bytes differ'
assert s3.list_multipart_uploads(Bucket='akko-mlflow').get('Uploads', []) == []
print('OK')
`), 'boto3 multipart');
    expect(r.stdout.trim()).toBe('OK');
  });

  it('gets the multipart error codes', async () => {
    const r = ok(await py(`
def code(f):
    try:
        f(); return None
    except botocore.exceptions.ClientError as e:
        return (e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'])
up = s3.create_multipart_upload(Bucket='akko-rag', Key='boto/errors')
uid = up['UploadId']
p1 = s3.upload_part(Bucket='akko-rag', Key='boto/errors', UploadId=uid, PartNumber=1, Body=b'a')
p2 = s3.upload_part(Bucket='akko-rag', Key='boto/errors', UploadId=uid, PartNumber=2, Body=b'b')
parts = lambda *ps: {'Parts': [{'PartNumber': n, 'ETag': e} for n, e in ps]}
print(json.dumps([
  code(lambda: s3.complete_multipart_upload(Bucket='akko-rag', Key='boto/errors', UploadId='0' * 44, MultipartUpload=parts((1, p1['ETag'])))),
  code(lambda: s3.complete_multipart_upload(Bucket='akko-rag', Key='boto/errors', UploadId=uid, MultipartUpload=parts((1, p2['ETag'])))),
  code(lambda: s3.complete_multipart_upload(Bucket='akko-rag', Key='boto/errors', UploadId=uid, MultipartUpload=parts((2, p2['ETag']), (1, p1['ETag'])))),
  code(lambda: s3.complete_multipart_upload(Bucket='akko-rag', Key='boto/errors', UploadId=uid, MultipartUpload=parts((1, p1['ETag']), (2, p2['ETag'])))),
  code(lambda: s3.upload_part(Bucket='akko-rag', Key='boto/errors', UploadId=uid, PartNumber=10001, Body=b'x')),
  code(lambda: s3.abort_multipart_upload(Bucket='akko-rag', Key='boto/errors', UploadId=uid)),
  code(lambda: s3.abort_multipart_upload(Bucket='akko-rag', Key='boto/errors', UploadId=uid)),
]))
`), 'boto3 errors');
    expect(JSON.parse(r.stdout)).toEqual([
      ['NoSuchUpload', 404],
      ['InvalidPart', 400],
      ['InvalidPartOrder', 400],
      ['EntityTooSmall', 400],
      ['InvalidArgument', 400],
      null,
      ['NoSuchUpload', 404],
    ]);
  });
});
