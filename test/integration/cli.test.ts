// The command-line contract of DESIGN §10: settings, the ready line, first-start credentials,
// SIGTERM, and `buckets init`.
import { spawn } from 'node:child_process';
import { statSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../helpers/run.js';
import { BIN, startServer, tempDir, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
afterAll(async () => { await Promise.all(servers.map((s) => s.destroy())); });

function cli(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
}

describe('settings', () => {
  it.each([
    [['serve', '--s3-port', 'abc'], '--s3-port'],
    [['serve', '--encryption', 'maybe'], '--encryption'],
    [['serve', '--kms-provider', 'vault'], '--kms-provider'],
    [['serve', '--region', 'Bad Region'], '--region'],
  ])('%j exits 2 with one line naming the setting', async (args, name) => {
    const r = await cli([...args, '--data-dir', tempDir()]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(name);
  });

  it('names the environment variable when that is the bad source', async () => {
    const r = await cli(['serve', '--data-dir', tempDir()], { AKKO_METRICS_PORT: '70000' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('AKKO_METRICS_PORT');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('names a bad key in the config file', async () => {
    const dir = tempDir();
    const file = join(dir, 'akko.yaml');
    writeFileSync(file, 'region: akko-local\nnotASetting: 1\n');
    const r = await cli(['serve', '--config', file, '--data-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('notASetting');
  });

  it('takes settings from a config file, overridden by env and flags', async () => {
    const dir = tempDir();
    const file = join(dir, 'akko.json');
    writeFileSync(file, JSON.stringify({ region: 'from-file', buckets: ['file-bucket'] }));
    const s = await startServer({ dataDir: dir, args: ['--config', file], env: { AKKO_BUCKETS: 'env-bucket' } });
    servers.push(s);
    expect(s.stdout).toContain('[+] bucket env-bucket ready');
    expect(s.stdout.join('\n')).not.toContain('file-bucket');
  });
});

describe('first start', () => {
  it('generates root credentials once, prints them once, keeps them 0600', async () => {
    const dir = tempDir();
    const env = { ...process.env, AKKO_S3_ACCESS_KEY: '', AKKO_S3_SECRET_KEY: '' };
    const start = () => new Promise<string[]>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, 'serve', '--data-dir', dir, '--s3-port', '0', '--admin-port', '0', '--metrics-port', '0'], { env });
      const lines: string[] = [];
      let buf = '';
      child.stdout.on('data', (d) => {
        buf += d;
        if (buf.includes('akko-storage ready')) {
          lines.push(...buf.split('\n'));
          child.kill('SIGTERM');
        }
      });
      child.on('exit', (code) => (code === 0 ? resolve(lines) : reject(new Error(`exit ${code}`))));
    });
    const first = await start();
    const ak = first.find((l) => l.includes('AKKO_S3_ACCESS_KEY='));
    expect(ak).toBeTruthy();
    expect(first.filter((l) => l.startsWith('[+] bucket ')).length).toBe(6);
    const ready = first.filter((l) => l.startsWith('akko-storage ready '));
    expect(ready).toHaveLength(1);
    expect(ready[0]).toMatch(/^akko-storage ready s3=http:\/\/127\.0\.0\.1:\d+ admin=http:\/\/127\.0\.0\.1:\d+ metrics=http:\/\/127\.0\.0\.1:\d+$/);
    const keystore = join(dir, 'keystore.json');
    expect(statSync(keystore).mode & 0o777).toBe(0o600);
    expect(readFileSync(keystore, 'utf8')).toContain(ak!.split('=')[1]!);
    const second = await start();
    expect(second.join('\n')).not.toContain('AKKO_S3_ACCESS_KEY=');
  });
});

describe('signals', () => {
  it('SIGTERM drains and exits 0 within 10 s', async () => {
    const s = await startServer();
    const t0 = Date.now();
    const code = await s.stop('SIGTERM');
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    await s.destroy();
  });
});

describe('buckets init', () => {
  it('creates the missing buckets through the S3 API and is idempotent', async () => {
    const s = await startServer({ args: ['--buckets', 'only-one'] });
    servers.push(s);
    const env = { AKKO_S3_ACCESS_KEY: s.accessKey, AKKO_S3_SECRET_KEY: s.secretKey, AKKO_S3_ENDPOINT: s.s3 };
    const first = await cli(['buckets', 'init'], env);
    expect(first.code).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines).toEqual(['akko-iceberg', 'akko-spark-logs', 'akko-mlflow', 'akko-rag', 'akko-aden', 'akko-airflow-logs'].map((b) => `[+] bucket ${b} ready`));
    const second = await cli(['buckets', 'init'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
  });
});
