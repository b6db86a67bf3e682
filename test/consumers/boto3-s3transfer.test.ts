// boto3's s3transfer (akko-rag and MLflow move artifacts with upload_file/download_file), run
// for real with Debian's /usr/bin/python3.
//
// Client: Debian 12's python3-boto3 1.26.27 / python3-botocore 1.29.27 / python3-s3transfer 0.6.0
// (the first test prints what /usr/bin/python3 imports), at their defaults: SigV4 with the hex
// SHA-256 of each body over http and Content-MD5 on PutObject/UploadPart (botocore
// conditionally_calculate_md5); a newer botocore (1.36+) would add CRC32 checksums instead.
// Patterns, from boto/s3transfer s3transfer/upload.py (UploadSubmissionTask:
// CreateMultipartUpload, UploadPart per multipart_chunksize, CompleteMultipartUpload, above
// multipart_threshold), s3transfer/download.py (DownloadSubmissionTask: HeadObject for the size, then
// GetObject with `Range: bytes=a-b` per chunk and an open-ended `bytes=a-` for the last one
// (s3transfer/utils.py calculate_range_parameter), max_concurrency of them at once, written to a
// temp file that is renamed at the end) and boto3/s3/transfer.py (TransferConfig).
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEnv, requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';

const PY = '/usr/bin/python3';
const hasPython = requireTool(PY);

/**
 * A second interpreter with a current boto3 (botocore >= 1.36: CRC32 flexible checksums, aws-chunked
 * trailers), when this machine has one: AKKO_MODERN_PYTHON, or the python3 first on PATH. Optional.
 */
function modernPython(): { exe: string; version: string } | undefined {
  for (const cand of [process.env.AKKO_MODERN_PYTHON, 'python3']) {
    if (!cand) continue;
    const r = spawnSync(cand, ['-c', 'import sys, botocore; print(sys.executable); print(botocore.__version__)'], { encoding: 'utf8' });
    if (r.status !== 0) continue;
    const [exe, version] = r.stdout.trim().split('\n');
    const [major, minor] = (version ?? '').split('.').map(Number);
    if (exe && exe !== PY && (major! > 1 || (major === 1 && minor! >= 36))) return { exe, version: version! };
  }
  return undefined;
}
const modern = modernPython();
const interpreters = [...(hasPython ? [{ exe: PY, label: 'Debian python3-boto3' }] : []), ...(modern ? [{ exe: modern.exe, label: `botocore ${modern.version}` }] : [])];
let server: TestServer;

beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server?.destroy(); });

const PRELUDE = `
import boto3, botocore, hashlib, json, os, sys, tempfile
from botocore.config import Config
from boto3.s3.transfer import TransferConfig
MiB = 1024 * 1024
s3 = boto3.client('s3', endpoint_url=os.environ['ENDPOINT'], region_name='us-east-1',
                  config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
# Every request as it goes on the wire: method, path and query, Range.
sent = []
def record(request, **kwargs):
    rng = request.headers.get('Range')
    sent.append({'method': request.method, 'url': request.url.split('?', 1)[1] if '?' in request.url else '',
                 'range': rng.decode() if isinstance(rng, bytes) else rng, 'op': kwargs.get('event_name', '').split('.')[-1]})
s3.meta.events.register('before-send.s3', record)
cfg = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=5 * MiB, max_concurrency=4, use_threads=True)
work = tempfile.mkdtemp()
def sha(path):
    return hashlib.sha256(open(path, 'rb').read()).hexdigest()
`;

function pyWith(exe: string, script: string) {
  return run(exe, ['-c', PRELUDE + script], { env: awsEnv(server, { ENDPOINT: server.s3 }), timeoutMs: 60_000 });
}

interface Sent { method: string; url: string; range: string | null; op: string }

// Without any interpreter (only possible outside CI, where requireTool already warned) the file still has a suite.
if (interpreters.length === 0) describe('boto3 s3transfer', () => { it.skip('needs /usr/bin/python3 with boto3', () => {}); });

describe.each(interpreters)('boto3 s3transfer ($label)', ({ exe }) => {
  const py = (script: string) => pyWith(exe, script);

  it('download_file above the threshold: HeadObject, then concurrent `bytes=a-b` GETs, byte-identical file', async () => {
    const r = ok(await py(`
import boto3, s3transfer
data = os.urandom(12 * MiB + 3)
s3.put_object(Bucket='akko-mlflow', Key='runs/1/model.bin', Body=data)
sent.clear()
dst = os.path.join(work, 'model.bin')
s3.download_file('akko-mlflow', 'runs/1/model.bin', dst, Config=cfg)
assert open(dst, 'rb').read() == data, 'downloaded bytes differ'
print(json.dumps({'versions': [boto3.__version__, botocore.__version__, s3transfer.__version__], 'sent': sent}))
`), 'download_file');
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { versions: string[]; sent: Sent[] };
    console.log(`boto3/botocore/s3transfer ${out.versions.join(' / ')}`);
    expect(out.sent[0]!.op).toBe('HeadObject');
    const gets = out.sent.filter((s) => s.op === 'GetObject');
    const size = 12 * 1024 * 1024 + 3;
    const chunk = 5 * 1024 * 1024;
    // s3transfer's calculate_range_parameter leaves the last range open-ended.
    expect(gets.map((g) => g.range).sort()).toEqual([
      `bytes=0-${chunk - 1}`, `bytes=${chunk}-${2 * chunk - 1}`, `bytes=${2 * chunk}-`,
    ].sort());
    expect(size).toBeGreaterThan(2 * chunk);
  });

  it('upload_file above the threshold: multipart with 5 MiB parts at concurrency 4, then download_file back', async () => {
    const r = ok(await py(`
src = os.path.join(work, 'src.bin')
data = os.urandom(17 * MiB + 11)
open(src, 'wb').write(data)
s3.upload_file(src, 'akko-mlflow', 'runs/2/artifacts/weights.bin', Config=cfg, ExtraArgs={'Metadata': {'run-id': '2'}, 'ContentType': 'application/x-weights'})
ops = [s['op'] for s in sent]
head = s3.head_object(Bucket='akko-mlflow', Key='runs/2/artifacts/weights.bin')
assert head['ContentLength'] == len(data), head
assert head['ETag'].endswith('-4"'), head['ETag']
assert head['Metadata'] == {'run-id': '2'}, head['Metadata']
assert head['ContentType'] == 'application/x-weights', head['ContentType']
part = s3.head_object(Bucket='akko-mlflow', Key='runs/2/artifacts/weights.bin', PartNumber=1)
assert part['PartsCount'] == 4, part
assert part['ContentLength'] == 5 * MiB, part
dst = os.path.join(work, 'back.bin')
s3.download_file('akko-mlflow', 'runs/2/artifacts/weights.bin', dst, Config=cfg)
assert sha(dst) == sha(src), 'round trip differs'
print(json.dumps(ops))
`), 'upload_file');
    const ops = JSON.parse(r.stdout.trim().split('\n').pop()!) as string[];
    expect(ops[0]).toBe('CreateMultipartUpload');
    expect(ops.filter((o) => o === 'UploadPart')).toHaveLength(4);
    expect(ops.at(-1)).toBe('CompleteMultipartUpload');
  });

  it('upload_fileobj and download_fileobj stream through the same machinery', async () => {
    ok(await py(`
import io
data = os.urandom(9 * MiB + 1)
s3.upload_fileobj(io.BytesIO(data), 'akko-rag', 'index/shard-0.faiss', Config=cfg)
out = io.BytesIO()
s3.download_fileobj('akko-rag', 'index/shard-0.faiss', out, Config=cfg)
assert out.getvalue() == data, 'fileobj round trip differs'
small = b'small enough for one PutObject'
s3.upload_fileobj(io.BytesIO(small), 'akko-rag', 'index/meta.json', Config=cfg)
assert s3.get_object(Bucket='akko-rag', Key='index/meta.json')['Body'].read() == small
print('OK')
`), 'fileobj');
  });

  it('download_file of a missing key fails with a 404 ClientError and leaves no file behind', async () => {
    const r = ok(await py(`
dst = os.path.join(work, 'missing.bin')
try:
    s3.download_file('akko-mlflow', 'runs/none/model.bin', dst, Config=cfg)
    raise SystemExit('download of a missing key succeeded')
except botocore.exceptions.ClientError as e:
    print(json.dumps([e.response['Error']['Code'], os.path.exists(dst), sorted(os.listdir(work))]))
`), 'missing');
    const [code, exists, left] = JSON.parse(r.stdout.trim()) as [string, boolean, string[]];
    expect(code).toBe('404');
    expect(exists).toBe(false);
    expect(left).toEqual([]);
  });
});
