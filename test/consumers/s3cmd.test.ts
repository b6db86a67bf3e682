// s3cmd put/get/ls/del with Debian's s3cmd, run for real (operators' scripts use it).
//
// Client: /usr/bin/s3cmd, Debian 12's s3cmd 2.3.0, configured by a config file with host_base /
// host_bucket (no %(bucket)s: path-style), use_https=False, signature_v2=False, at its defaults
// otherwise (multipart above multipart_chunk_size_mb=15; the test lowers it to 5 for one file).
// Patterns, from s3tools/s3cmd S3/S3.py (list_all_buckets: GET /; bucket_list: ListObjects V1 with
// prefix/delimiter=/ and marker paging; object_put: PutObject with x-amz-meta-s3cmd-attrs holding
// the md5 and file attributes, or S3/MultiPart.py: CreateMultipartUpload, UploadPart, Complete;
// object_get: GET, then the MD5 of the file is checked against the ETag or the s3cmd-attrs md5;
// object_delete: DeleteObject; del --recursive: DeleteObjects with Content-MD5, 1000 keys per batch;
// get_bucket_location: GET ?location before bucket operations) and S3/Config.py.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { bytes } from '../helpers/wire.js';

const S3CMD = '/usr/bin/s3cmd';
const hasS3cmd = requireTool(S3CMD);
const B = 'akko-rag';
let server: TestServer;
let work: string;
let cfg: string;

function s3cmd(...args: string[]) {
  return run(S3CMD, ['-c', cfg, ...args], { env: { PATH: process.env.PATH, HOME: work }, timeoutMs: 60_000 });
}

/** The s3:// URLs an `s3cmd ls` printed (objects and DIR prefixes). */
function listed(stdout: string): string[] {
  return stdout.split('\n').map((l) => /(s3:\/\/\S.*)$/.exec(l.trim())?.[1]).filter((u): u is string => !!u).sort();
}

beforeAll(async () => {
  server = await startServer();
  work = mkdtempSync(join(tmpdir(), 'akko-s3cmd-'));
  cfg = join(work, 's3cfg');
  const host = new URL(server.s3).host;
  writeFileSync(cfg, [
    '[default]',
    `access_key = ${server.accessKey}`,
    `secret_key = ${server.secretKey}`,
    `host_base = ${host}`,
    `host_bucket = ${host}`,
    'use_https = False',
    'signature_v2 = False',
    'bucket_location = us-east-1',
    '',
  ].join('\n'));
});
afterAll(async () => {
  await server?.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe.runIf(hasS3cmd)('s3cmd', () => {
  it('ls lists the buckets', async () => {
    const r = ok(await s3cmd('ls'), 'ls');
    for (const b of ['akko-iceberg', 'akko-spark-logs', 'akko-mlflow', 'akko-rag', 'akko-aden', 'akko-airflow-logs']) {
      expect(r.stdout).toMatch(new RegExp(`^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}\\s+s3://${b}$`, 'm'));
    }
  });

  it('put, ls, get (MD5 checked), del of single files', async () => {
    const f = join(work, 'doc one.txt');
    writeFileSync(f, 'retrieval augmented\n'.repeat(1000));
    ok(await s3cmd('put', f, `s3://${B}/docs/`), 'put');
    ok(await s3cmd('put', '--mime-type=application/json', f, `s3://${B}/docs/meta+info.json`), 'put with key');
    const ls = ok(await s3cmd('ls', `s3://${B}/docs/`), 'ls');
    expect(listed(ls.stdout)).toEqual([`s3://${B}/docs/doc one.txt`, `s3://${B}/docs/meta+info.json`]);
    expect(ls.stdout).toMatch(/\s20000\s+s3:\/\/akko-rag\/docs\/doc one\.txt/);
    const back = join(work, 'back.txt');
    const get = ok(await s3cmd('get', `s3://${B}/docs/doc one.txt`, back), 'get');
    expect(get.stderr).not.toMatch(/MD5|WARNING/);
    expect(readFileSync(back, 'utf8')).toBe(readFileSync(f, 'utf8'));
    const info = ok(await s3cmd('info', `s3://${B}/docs/meta+info.json`), 'info');
    expect(info.stdout).toMatch(/MIME type:\s+application\/json/);
    ok(await s3cmd('del', `s3://${B}/docs/doc one.txt`), 'del');
    expect(listed(ok(await s3cmd('ls', `s3://${B}/docs/`), 'ls after del').stdout)).toEqual([`s3://${B}/docs/meta+info.json`]);
    const missing = await s3cmd('get', `s3://${B}/docs/doc one.txt`, join(work, 'nope'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/404|NoSuchKey|does not exist/);
  });

  it('put --recursive of a tree, ls of prefixes and ls --recursive, del --recursive', async () => {
    const tree = join(work, 'tree');
    const files = ['a.txt', 'sub/b.txt', 'sub/deeper/c.txt', 'with space/d.txt'];
    for (const p of files) {
      mkdirSync(join(tree, p, '..'), { recursive: true });
      writeFileSync(join(tree, p), `content of ${p}`);
    }
    ok(await s3cmd('put', '--recursive', tree + '/', `s3://${B}/tree/`), 'put -r');
    const top = ok(await s3cmd('ls', `s3://${B}/tree/`), 'ls');
    expect(listed(top.stdout)).toEqual([`s3://${B}/tree/a.txt`, `s3://${B}/tree/sub/`, `s3://${B}/tree/with space/`]);
    expect(top.stdout).toMatch(/DIR\s+s3:\/\/akko-rag\/tree\/sub\//);
    const all = ok(await s3cmd('ls', '--recursive', `s3://${B}/tree/`), 'ls -r');
    expect(listed(all.stdout)).toEqual(files.map((p) => `s3://${B}/tree/${p}`).sort());
    const down = join(work, 'treedown');
    mkdirSync(down);
    ok(await s3cmd('get', '--recursive', `s3://${B}/tree/`, down + '/'), 'get -r');
    for (const p of files) expect(readFileSync(join(down, p), 'utf8')).toBe(`content of ${p}`);
    ok(await s3cmd('del', '--recursive', '--force', `s3://${B}/tree/`), 'del -r');
    expect(ok(await s3cmd('ls', '--recursive', `s3://${B}/tree/`), 'ls after del -r').stdout.trim()).toBe('');
  });

  it('a file above the multipart chunk size goes up in parts and comes back intact', async () => {
    const big = bytes(6 * 1024 * 1024 + 7, 4);
    const f = join(work, 'big.bin');
    writeFileSync(f, big);
    const put = ok(await s3cmd('put', '--progress', '--multipart-chunk-size-mb=5', f, `s3://${B}/big/big.bin`), 'put multipart');
    expect(put.stdout).toMatch(/part 2 of 2/);
    const back = join(work, 'big.back');
    const get = ok(await s3cmd('get', `s3://${B}/big/big.bin`, back), 'get multipart');
    expect(get.stderr).not.toMatch(/MD5|WARNING/);
    expect(readFileSync(back).equals(big)).toBe(true);
  });
});
