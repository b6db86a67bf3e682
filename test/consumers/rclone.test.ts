// rclone sync/check against the server with Debian's rclone, run for real (backups and the DR
// drill copy buckets with it).
//
// Client: /usr/bin/rclone, Debian 12's rclone v1.60.1-DEV, s3 backend with provider=Other,
// force_path_style=true, at its defaults except --s3-upload-cutoff/--s3-chunk-size 5M so that a
// 7 MiB file goes multipart. Patterns, from rclone/rclone backend/s3/s3.go (v1.60): listings with
// ListObjects(V1/V2) and encoding-type=url; PutObject below upload_cutoff, else the s3manager
// multipart uploader (CreateMultipartUpload carrying X-Amz-Meta-Mtime and X-Amz-Meta-Md5chksum,
// UploadPart with Content-MD5, CompleteMultipartUpload); Object.Hash: the ETag when it is a plain
// MD5, else the X-Amz-Meta-Md5chksum metadata (multipart objects); Object.ModTime: X-Amz-Meta-Mtime
// from HeadObject; fs/sync (size + modtime decide a transfer, --delete-after by default) and
// fs/operations/check.go (MD5 of both sides; `--download` compares the bytes).
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { bytes, md5b64, md5hex, multipartEtag, outcome, send, xml } from '../helpers/wire.js';

const RCLONE = '/usr/bin/rclone';
const hasRclone = requireTool(RCLONE);
const B = 'akko-aden';
let server: TestServer;
let work: string;

function rclone(...args: string[]) {
  return run(RCLONE, ['--config', '/dev/null', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', ...args], {
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME,
      RCLONE_CONFIG_AKKO_TYPE: 's3', RCLONE_CONFIG_AKKO_PROVIDER: 'Other',
      RCLONE_CONFIG_AKKO_ENDPOINT: server.s3, RCLONE_CONFIG_AKKO_REGION: 'akko-local',
      RCLONE_CONFIG_AKKO_ACCESS_KEY_ID: server.accessKey, RCLONE_CONFIG_AKKO_SECRET_ACCESS_KEY: server.secretKey,
      RCLONE_CONFIG_AKKO_FORCE_PATH_STYLE: 'true',
    },
    timeoutMs: 60_000,
  });
}

/** The files rclone -v says it copied or deleted, sorted. */
function transfers(stderr: string): string[] {
  return stderr.split('\n').map((l) => /INFO\s+:\s+(.+?): (Copied \([^)]*\)|Deleted)/.exec(l)).filter((m) => m !== null).map((m) => `${m![2]!.startsWith('Deleted') ? 'deleted' : 'copied'} ${m![1]}`).sort();
}

beforeAll(async () => {
  server = await startServer();
  work = mkdtempSync(join(tmpdir(), 'akko-rclone-c-'));
});
afterAll(async () => {
  await server?.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe.runIf(hasRclone)('rclone sync and check', () => {
  const big = bytes(7 * 1024 * 1024 + 13, 5);
  const files: Record<string, string | Buffer> = {
    'dash/board.json': '{"panels":[]}',
    'dash/data/big.parquet': big,
    'dash/data/small.csv': 'a,b\n1,2\n',
    'dash/with space & ü.txt': 'unicode and space',
    'dash/empty': '',
  };

  it('sync up (the 7 MiB file goes multipart), then check both ways', async () => {
    const src = join(work, 'src');
    for (const [p, c] of Object.entries(files)) {
      mkdirSync(join(src, p, '..'), { recursive: true });
      writeFileSync(join(src, p), c);
    }
    const up = ok(await rclone('sync', '-v', src, `akko:${B}/rc`), 'sync up');
    expect(transfers(up.stderr)).toEqual(Object.keys(files).map((f) => `copied ${f}`).sort());
    ok(await rclone('check', src, `akko:${B}/rc`), 'check local → remote');
    ok(await rclone('check', `akko:${B}/rc`, src), 'check remote → local');
    ok(await rclone('check', '--download', `akko:${B}/rc`, src), 'check --download');
    // The multipart object's MD5 comes from the metadata rclone stored at CreateMultipartUpload.
    const sums = ok(await rclone('md5sum', `akko:${B}/rc/dash/data`), 'md5sum');
    expect(sums.stdout).toContain(`${createHash('md5').update(big).digest('hex')}  big.parquet`);
    // A second sync transfers nothing: sizes and X-Amz-Meta-Mtime modtimes match.
    const again = ok(await rclone('sync', '-v', src, `akko:${B}/rc`), 'sync again');
    expect(transfers(again.stderr)).toEqual([]);
  });

  it('a changed file fails check both ways until synced; a deleted one is deleted remotely; sync down is identical', async () => {
    const src = join(work, 'src');
    writeFileSync(join(src, 'dash/data/small.csv'), 'a,b\n1,2\n3,4\n');
    const bad1 = await rclone('check', src, `akko:${B}/rc`);
    const bad2 = await rclone('check', `akko:${B}/rc`, src);
    expect([bad1.code, bad2.code]).toEqual([1, 1]);
    expect(bad1.stderr).toMatch(/1 differences found/);
    rmSync(join(src, 'dash/with space & ü.txt'));
    const sync = ok(await rclone('sync', '-v', src, `akko:${B}/rc`), 'sync changes');
    expect(transfers(sync.stderr)).toEqual(['copied dash/data/small.csv', 'deleted dash/with space & ü.txt']);
    ok(await rclone('check', src, `akko:${B}/rc`), 'check after sync');
    ok(await rclone('check', `akko:${B}/rc`, src), 'check back after sync');
    const down = join(work, 'down');
    ok(await rclone('sync', `akko:${B}/rc`, down), 'sync down');
    expect(readFileSync(join(down, 'dash/data/big.parquet')).equals(big)).toBe(true);
    expect(readFileSync(join(down, 'dash/data/small.csv'), 'utf8')).toBe('a,b\n1,2\n3,4\n');
    ok(await rclone('check', down, src), 'local copies agree');
    const ls = ok(await rclone('lsf', '-R', '--files-only', `akko:${B}/rc`), 'lsf');
    expect(ls.stdout.trim().split('\n').sort()).toEqual(['dash/board.json', 'dash/data/big.parquet', 'dash/data/small.csv', 'dash/empty']);
  });

  it('CompleteMultipartUpload as aws-sdk-go marshals it: the ETag quotes escaped as &#34; (replayed on the wire)', async () => {
    // rclone v1.60 (aws-sdk-go v1 private/protocol/xml/xmlutil, Go's encoding/xml escaping) sends
    // `<ETag>&#34;…&#34;</ETag>`; any XML parser must read that as the quoted ETag.
    const key = 'rc-wire/big.bin';
    const parts = [bytes(5 * 1024 * 1024, 11), bytes(13, 12)];
    const init = await send(server, { method: 'POST', bucket: B, key, query: [['uploads', '']], body: Buffer.alloc(0), payload: 'sha256', headers: { 'content-type': 'application/octet-stream', 'x-amz-acl': 'private', 'x-amz-meta-mtime': '1700000000.5', 'x-amz-meta-md5chksum': md5b64(Buffer.concat(parts)) } });
    expect(outcome(init), init.text).toBe('200');
    const uploadId = xml(init.text).UploadId as string;
    for (let i = 0; i < parts.length; i++) {
      const r = await send(server, { method: 'PUT', bucket: B, key, query: [['partNumber', String(i + 1)], ['uploadId', uploadId]], body: parts[i], payload: 'sha256', expectContinue: true, headers: { 'content-md5': md5b64(parts[i]!) } });
      expect(outcome(r), r.text).toBe('200');
      expect(r.headers.etag).toBe(`"${md5hex(parts[i]!)}"`);
    }
    const body = `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts.map((p, i) => `<Part><ETag>&#34;${md5hex(p)}&#34;</ETag><PartNumber>${i + 1}</PartNumber></Part>`).join('')}</CompleteMultipartUpload>`;
    const done = await send(server, { method: 'POST', bucket: B, key, query: [['uploadId', uploadId]], body, payload: 'sha256' });
    expect(outcome(done), done.text).toBe('200');
    expect(xml(done.text).ETag).toBe(multipartEtag(parts));
    const head = await send(server, { method: 'HEAD', bucket: B, key, payload: 'sha256' });
    expect(head.headers['x-amz-meta-md5chksum']).toBe(md5b64(Buffer.concat(parts)));
    expect(head.headers['x-amz-meta-mtime']).toBe('1700000000.5');
  });
});
