// `aws s3 sync` both ways with Debian's AWS CLI (operators and Airflow jobs mirror log and model
// trees with it), run for real.
//
// Client: /usr/bin/aws, Debian 12's awscli 2.9.19 (aws-cli/2.9.19 Python/3.11.2 source/x86_64.debian.12),
// at its defaults: multipart_threshold and multipart_chunksize 8 MiB,
// max_concurrent_requests 10. Patterns, from aws/aws-cli awscli/customizations/s3/:
// - subcommands.py SyncCommand and filegenerator.py: the destination is listed with ListObjectsV2
//   (encoding-type=url, keys URL-decoded), the source walked; comparator.py decides per file.
// - syncstrategy/sizeonly.py / exacttimestamps.py / delete.py: a file is copied when its size
//   differs or, going up, when the local mtime is newer than the object's LastModified; going down,
//   when the object's LastModified is newer than the local mtime; a download sets the local mtime
//   to LastModified; --delete removes what the source lacks (DeleteObject per key).
// - s3handler.py / s3transfer: PutObject, or multipart above 8 MiB; downloads as ranged GETs.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsEnv, requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { bytes } from '../helpers/wire.js';

const AWS = '/usr/bin/aws';
const hasAws = requireTool(AWS);
const B = 'akko-airflow-logs';
let server: TestServer;
let work: string;

function aws(...args: string[]) {
  return run(AWS, ['--endpoint-url', server.s3, ...args], { env: awsEnv(server), timeoutMs: 60_000 });
}

/**
 * The actions `aws s3 sync` printed, sorted, as "verb target": the s3:// URL for uploads, downloads
 * and remote deletes, `local:<name>` for a local delete.
 */
function actions(stdout: string): string[] {
  const out: string[] = [];
  for (const raw of stdout.split(/\r|\n/)) {
    const l = raw.trim();
    let m: RegExpExecArray | null;
    if ((m = /^upload: .* to (s3:\/\/.+)$/.exec(l))) out.push(`upload ${m[1]}`);
    else if ((m = /^download: (s3:\/\/.+) to .*$/.exec(l))) out.push(`download ${m[1]}`);
    else if ((m = /^delete: (s3:\/\/.+)$/.exec(l))) out.push(`delete ${m[1]}`);
    else if ((m = /^delete: (.+)$/.exec(l))) out.push(`delete local:${m[1]!.split('/').pop()}`);
  }
  return out.sort();
}

function writeTree(root: string, files: Record<string, string | Buffer>) {
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), c);
  }
}

beforeAll(async () => {
  server = await startServer();
  work = mkdtempSync(join(tmpdir(), 'akko-sync-'));
});
afterAll(async () => {
  await server?.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe.runIf(hasAws)('aws s3 sync', () => {
  it('syncs a tree up; a second sync copies nothing; a change and a newer mtime are copied; --delete removes', async () => {
    const up = join(work, 'up');
    const files = {
      'dag_id=etl/run_id=manual__2024-01-01T00:00:00+00:00/task_id=load/attempt=1.log': 'log line\n'.repeat(100),
      'dag_id=etl/a+b c.log': 'plus and space',
      'dag_id=etl/ünïcode.log': 'unicode',
      'dag_id=etl/empty.log': '',
      'top.txt': 'top',
    };
    writeTree(up, files);
    const first = ok(await aws('s3', 'sync', up, `s3://${B}/sync1`), 'sync up');
    expect(actions(first.stdout).filter((a) => a.startsWith('upload'))).toHaveLength(Object.keys(files).length);
    const again = ok(await aws('s3', 'sync', up, `s3://${B}/sync1`), 'sync again');
    expect(again.stdout.trim()).toBe('');

    // A size change is copied; so is a same-size file whose mtime is newer than LastModified.
    writeFileSync(join(up, 'top.txt'), 'top, longer now');
    // Touched a second after its upload (whole seconds, so the re-upload's LastModified is not older).
    await new Promise((r) => setTimeout(r, 1100));
    const touched = Math.floor(Date.now() / 1000);
    utimesSync(join(up, 'dag_id=etl/a+b c.log'), touched, touched);
    const changed = ok(await aws('s3', 'sync', up, `s3://${B}/sync1`), 'sync changed');
    expect(actions(changed.stdout)).toEqual([`upload s3://${B}/sync1/dag_id=etl/a+b c.log`, `upload s3://${B}/sync1/top.txt`].sort());

    rmSync(join(up, 'dag_id=etl/ünïcode.log'));
    const withoutDelete = ok(await aws('s3', 'sync', up, `s3://${B}/sync1`), 'sync without --delete');
    expect(withoutDelete.stdout.trim()).toBe('');
    const deleted = ok(await aws('s3', 'sync', '--delete', up, `s3://${B}/sync1`), 'sync --delete');
    expect(actions(deleted.stdout)).toEqual([`delete s3://${B}/sync1/dag_id=etl/ünïcode.log`]);
    const ls = ok(await aws('s3', 'ls', '--recursive', `s3://${B}/sync1/`), 'ls');
    const keys = ls.stdout.trim().split('\n').map((l) => l.replace(/^\S+\s+\S+\s+\d+\s+/, '')).sort();
    expect(keys).toEqual(Object.keys(files).filter((k) => !k.includes('ünïcode')).map((k) => `sync1/${k}`).sort());
  });

  it('syncs a prefix down; a second sync (and a sync back up) copies nothing; --delete removes local extras', async () => {
    const src = join(work, 'src');
    const files = { 'models/m1/weights.bin': bytes(300_000, 3), 'models/m1/config.json': '{"a":1}', 'models/readme with space.md': '# hi', 'x+y.txt': 'plus' };
    writeTree(src, files);
    ok(await aws('s3', 'sync', src, `s3://${B}/sync2`), 'seed');
    const down = join(work, 'down');
    const first = ok(await aws('s3', 'sync', `s3://${B}/sync2`, down), 'sync down');
    expect(actions(first.stdout).filter((a) => a.startsWith('download'))).toHaveLength(Object.keys(files).length);
    for (const [p, c] of Object.entries(files)) expect(readFileSync(join(down, p)).equals(Buffer.from(c))).toBe(true);
    // The CLI set each file's mtime to the object's LastModified.
    const lastModified = statSync(join(down, 'x+y.txt')).mtimeMs;
    expect(Math.abs(lastModified - Date.now())).toBeLessThan(10 * 60_000);
    expect(ok(await aws('s3', 'sync', `s3://${B}/sync2`, down), 'sync down again').stdout.trim()).toBe('');
    expect(ok(await aws('s3', 'sync', down, `s3://${B}/sync2`), 'sync back up').stdout.trim()).toBe('');

    writeFileSync(join(down, 'local-only.tmp'), 'extra');
    const del = ok(await aws('s3', 'sync', '--delete', `s3://${B}/sync2`, down), 'sync down --delete');
    expect(actions(del.stdout)).toEqual(['delete local:local-only.tmp']);
    expect(existsSync(join(down, 'local-only.tmp'))).toBe(false);

    // An object changed on the server (new size) comes down again.
    writeFileSync(join(src, 'models/m1/config.json'), '{"a":2,"b":3}');
    ok(await aws('s3', 'cp', join(src, 'models/m1/config.json'), `s3://${B}/sync2/models/m1/config.json`), 'cp');
    const changed = ok(await aws('s3', 'sync', `s3://${B}/sync2`, down), 'sync down changed');
    expect(actions(changed.stdout)).toEqual([`download s3://${B}/sync2/models/m1/config.json`]);
    expect(readFileSync(join(down, 'models/m1/config.json'), 'utf8')).toBe('{"a":2,"b":3}');
  });

  it('a file above the 8 MiB multipart threshold syncs up (multipart) and down (ranged GETs) and then stays put', async () => {
    const up = join(work, 'big');
    const big = bytes(9 * 1024 * 1024 + 5, 9);
    writeTree(up, { 'artifacts/model.ckpt': big, 'artifacts/small.txt': 'small' });
    const first = ok(await aws('s3', 'sync', up, `s3://${B}/sync3`), 'sync big up');
    expect(actions(first.stdout)).toHaveLength(2);
    const head = JSON.parse(ok(await aws('s3api', 'head-object', '--bucket', B, '--key', 'sync3/artifacts/model.ckpt'), 'head').stdout);
    expect(head.ContentLength).toBe(big.length);
    expect(head.ETag).toMatch(/-2"$/);
    expect(ok(await aws('s3', 'sync', up, `s3://${B}/sync3`), 'sync big again').stdout.trim()).toBe('');
    const down = join(work, 'bigdown');
    ok(await aws('s3', 'sync', `s3://${B}/sync3`, down), 'sync big down');
    expect(readFileSync(join(down, 'artifacts/model.ckpt')).equals(big)).toBe(true);
    expect(ok(await aws('s3', 'sync', `s3://${B}/sync3`, down), 'sync big down again').stdout.trim()).toBe('');
  });
});
