// Debian's rclone: copy, sync, check, ls and delete against the server.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';

const RCLONE = '/usr/bin/rclone';
const hasRclone = requireTool(RCLONE);
let server: TestServer;
let work: string;

function rclone(...args: string[]) {
  return run(RCLONE, ['--config', '/dev/null', ...args], {
    env: {
      PATH: process.env.PATH, HOME: process.env.HOME,
      RCLONE_CONFIG_AKKO_TYPE: 's3', RCLONE_CONFIG_AKKO_PROVIDER: 'Other',
      RCLONE_CONFIG_AKKO_ENDPOINT: server.s3, RCLONE_CONFIG_AKKO_REGION: 'akko-local',
      RCLONE_CONFIG_AKKO_ACCESS_KEY_ID: server.accessKey, RCLONE_CONFIG_AKKO_SECRET_ACCESS_KEY: server.secretKey,
      RCLONE_CONFIG_AKKO_FORCE_PATH_STYLE: 'true',
    },
  });
}

beforeAll(async () => {
  server = await startServer();
  work = mkdtempSync(join(tmpdir(), 'akko-rclone-'));
});
afterAll(async () => {
  await server?.destroy();
  rmSync(work, { recursive: true, force: true });
});

describe.runIf(hasRclone)('rclone', () => {
  it('syncs a tree up, checks it, syncs it back, and deletes', async () => {
    const src = join(work, 'src');
    const files: Record<string, string> = { 'one.txt': '1', 'dir/two.txt': 'two'.repeat(1000), 'dir/sub/three.bin': 'x'.repeat(200_000), 'ü nicode.txt': 'u' };
    for (const [p, c] of Object.entries(files)) {
      mkdirSync(join(src, p, '..'), { recursive: true });
      writeFileSync(join(src, p), c);
    }
    ok(await rclone('sync', src, 'akko:akko-spark-logs/rc'), 'sync up');
    ok(await rclone('check', src, 'akko:akko-spark-logs/rc'), 'check');
    const ls = ok(await rclone('lsf', '-R', '--files-only', 'akko:akko-spark-logs/rc'), 'lsf');
    expect(ls.stdout.trim().split('\n').sort()).toEqual(Object.keys(files).sort());
    const back = join(work, 'back');
    ok(await rclone('sync', 'akko:akko-spark-logs/rc', back), 'sync down');
    for (const [p, c] of Object.entries(files)) expect(readFileSync(join(back, p), 'utf8')).toBe(c);
    writeFileSync(join(src, 'one.txt'), 'changed');
    const bad = await rclone('check', src, 'akko:akko-spark-logs/rc');
    expect(bad.code).not.toBe(0);
    ok(await rclone('delete', 'akko:akko-spark-logs/rc'), 'delete');
    expect(ok(await rclone('lsf', '-R', 'akko:akko-spark-logs/rc'), 'lsf').stdout.trim()).toBe('');
  });
});
