// Debian's AWS CLI: aws s3 cp/ls/sync/rm and s3api, signing with us-east-1 as users often do.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEnv, requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';

const AWS = '/usr/bin/aws';
const hasAws = requireTool(AWS);
let server: TestServer;
let work: string;

function aws(...args: string[]) {
  return run(AWS, ['--endpoint-url', server.s3, ...args], { env: awsEnv(server) });
}

beforeAll(async () => {
  server = await startServer();
  work = mkdtempSync(join(tmpdir(), 'akko-awscli-'));
});
afterAll(async () => {
  await server?.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe.runIf(hasAws)('aws cli', () => {
  it('mb, cp up and down, ls, rm', async () => {
    ok(await aws('s3', 'mb', 's3://cli-bucket'), 'mb');
    const src = join(work, 'file.bin');
    const data = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(src, data);
    ok(await aws('s3', 'cp', src, 's3://cli-bucket/dir/file.bin'), 'cp up');
    const ls = ok(await aws('s3', 'ls', 's3://cli-bucket/dir/'), 'ls');
    expect(ls.stdout).toMatch(new RegExp(`${data.length} file.bin`));
    const dst = join(work, 'back.bin');
    ok(await aws('s3', 'cp', 's3://cli-bucket/dir/file.bin', dst), 'cp down');
    expect(readFileSync(dst).equals(data)).toBe(true);
    ok(await aws('s3', 'rm', 's3://cli-bucket/dir/file.bin'), 'rm');
    // `aws s3 ls` exits 1 when nothing matches.
    const empty = await aws('s3', 'ls', 's3://cli-bucket/dir/');
    expect([empty.code, empty.stdout]).toEqual([1, '']);
  });

  it('syncs a tree up and back down, and a second sync copies nothing', async () => {
    const up = join(work, 'tree');
    for (const p of ['a.txt', 'sub/b.txt', 'sub/deeper/c.txt', 'with space.txt']) {
      mkdirSync(join(up, p, '..'), { recursive: true });
      writeFileSync(join(up, p), `content of ${p}`);
    }
    ok(await aws('s3', 'sync', up, 's3://akko-airflow-logs/tree'), 'sync up');
    const again = ok(await aws('s3', 'sync', up, 's3://akko-airflow-logs/tree'), 'sync again');
    expect(again.stdout).toBe('');
    const down = join(work, 'down');
    ok(await aws('s3', 'sync', 's3://akko-airflow-logs/tree', down), 'sync down');
    for (const p of ['a.txt', 'sub/b.txt', 'sub/deeper/c.txt', 'with space.txt']) {
      expect(readFileSync(join(down, p), 'utf8')).toBe(`content of ${p}`);
    }
    const ls = ok(await aws('s3', 'ls', '--recursive', 's3://akko-airflow-logs/tree/'), 'ls -r');
    expect(ls.stdout.trim().split('\n')).toHaveLength(4);
  });

  it('s3api put-object, head-object, list-objects-v2, get-bucket-location, delete-objects', async () => {
    const f = join(work, 'small.txt');
    writeFileSync(f, 'small');
    const put = JSON.parse(ok(await aws('s3api', 'put-object', '--bucket', 'akko-rag', '--key', 'api/small.txt', '--body', f, '--metadata', 'origin=cli'), 'put').stdout);
    expect(put.ETag).toBe(`"${createHash('md5').update('small').digest('hex')}"`);
    const head = JSON.parse(ok(await aws('s3api', 'head-object', '--bucket', 'akko-rag', '--key', 'api/small.txt'), 'head').stdout);
    expect(head.ContentLength).toBe(5);
    expect(head.Metadata).toEqual({ origin: 'cli' });
    expect(head.ETag).toBe(put.ETag);
    const list = JSON.parse(ok(await aws('s3api', 'list-objects-v2', '--bucket', 'akko-rag', '--prefix', 'api/'), 'list').stdout);
    expect(list.Contents.map((c: { Key: string }) => c.Key)).toEqual(['api/small.txt']);
    const loc = JSON.parse(ok(await aws('s3api', 'get-bucket-location', '--bucket', 'akko-rag'), 'location').stdout);
    expect(loc.LocationConstraint).toBe('akko-local');
    const del = JSON.parse(ok(await aws('s3api', 'delete-objects', '--bucket', 'akko-rag', '--delete', '{"Objects":[{"Key":"api/small.txt"}]}'), 'delete-objects').stdout);
    expect(del.Deleted).toEqual([{ Key: 'api/small.txt' }]);
    const missing = await aws('s3api', 'get-object', '--bucket', 'akko-rag', '--key', 'api/small.txt', join(work, 'x'));
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('NoSuchKey');
  });
});
