// Debian's python3-boto3, the client akko-rag and MLflow use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEnv, requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PY = '/usr/bin/python3';
const hasBoto = requireTool(PY) && requireTool('/usr/lib/python3/dist-packages/boto3');
let server: TestServer;

beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server?.destroy(); });

function py(script: string, region = 'us-east-1') {
  const prelude = `
import boto3, botocore, hashlib, io, json, os, sys
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], region_name='${region}',
                  config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
`;
  return run(PY, ['-c', prelude + script], { env: awsEnv(server, { ENDPOINT: server.s3 }) });
}

describe.runIf(hasBoto)('boto3', () => {
  it('puts, gets, heads, lists and deletes, signing as us-east-1', async () => {
    const r = ok(await py(`
data = os.urandom(1_000_003)
put = s3.put_object(Bucket='akko-rag', Key='boto/obj', Body=data, Metadata={'k': 'v'}, ContentType='application/x-boto')
got = s3.get_object(Bucket='akko-rag', Key='boto/obj')
body = got['Body'].read()
assert body == data, 'bytes differ'
assert got['ETag'] == put['ETag'] == '"%s"' % hashlib.md5(data).hexdigest()
assert got['Metadata'] == {'k': 'v'}, got['Metadata']
assert got['ContentType'] == 'application/x-boto'
rng = s3.get_object(Bucket='akko-rag', Key='boto/obj', Range='bytes=-10')['Body'].read()
assert rng == data[-10:]
lst = s3.list_objects_v2(Bucket='akko-rag', Prefix='boto/')
assert [o['Key'] for o in lst['Contents']] == ['boto/obj']
s3.delete_object(Bucket='akko-rag', Key='boto/obj')
try:
    s3.head_object(Bucket='akko-rag', Key='boto/obj')
    raise SystemExit('head after delete succeeded')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == '404', e.response
print('OK')
`), 'boto3');
    expect(r.stdout.trim()).toBe('OK');
  });

  it('upload_file and download_file through s3transfer, and the bucket location', async () => {
    const r = ok(await py(`
import tempfile
d = tempfile.mkdtemp()
src = os.path.join(d, 'src'); dst = os.path.join(d, 'dst')
data = os.urandom(2 * 1024 * 1024 + 5)
open(src, 'wb').write(data)
s3.upload_file(src, 'akko-mlflow', 'artifacts/model.bin')
s3.download_file('akko-mlflow', 'artifacts/model.bin', dst)
assert open(dst, 'rb').read() == data
assert s3.get_bucket_location(Bucket='akko-mlflow')['LocationConstraint'] == 'akko-local'
print('OK')
`), 'boto3 transfer');
    expect(r.stdout.trim()).toBe('OK');
  });

  it('gets the S3 error codes', async () => {
    const r = ok(await py(`
def code(f):
    try:
        f(); return None
    except botocore.exceptions.ClientError as e:
        return (e.response['Error']['Code'], e.response['ResponseMetadata']['HTTPStatusCode'])
print(json.dumps([
  code(lambda: s3.get_object(Bucket='akko-rag', Key='nope')),
  code(lambda: s3.list_objects_v2(Bucket='no-such-bucket-1')),
  code(lambda: s3.create_bucket(Bucket='akko-rag')),
]))
`), 'boto3 errors');
    expect(JSON.parse(r.stdout)).toEqual([['NoSuchKey', 404], ['NoSuchBucket', 404], ['BucketAlreadyOwnedByYou', 409]]);
  });
});
