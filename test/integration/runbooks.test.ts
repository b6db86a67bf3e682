// The runbooks' commands, run in the order the runbooks give them, against a real server (and
// the KMS double for AWS). Every ```sh block is run by bash as the operator would: exported
// variables carry over from block to block (one operator's shell session). Conventions the
// runbooks follow, so that this test can run them:
//   - a block whose first line is `# expect: exit N` must exit N (a failure the runbook shows);
//   - a block that runs `akko-storage serve …` is the restart of the server with those flags:
//     the test stops the server (SIGTERM) and starts it with them (on free ports);
//   - `<!-- runbook-test: ACTION -->` comments mark where the situation a section is about is
//     brought about (the KMS going down, a lost keyring file, a key scheduled for deletion).
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DOUBLE_CREDENTIALS, KmsDouble } from '../doubles/kms-double.js';
import { requireTool } from '../helpers/clients.js';
import { run } from '../helpers/run.js';
import { BIN, startServer, tempDir, type TestServer } from '../helpers/server.js';
import { lean, objectsIn, putAll, verifyAll } from './kms-ops-support.js';

const ROOT = resolve(import.meta.dirname, '../..');

type Step = { kind: 'block'; code: string; expectExit: number; line: number } | { kind: 'hook'; action: string; line: number };

/** The runbook's ```sh blocks and test hooks, in document order. */
export function parseRunbook(text: string): Step[] {
  const steps: Step[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const hook = /^<!-- runbook-test: ([a-z-]+) -->$/.exec(lines[i]!.trim());
    if (hook) {
      steps.push({ kind: 'hook', action: hook[1]!, line: i + 1 });
      continue;
    }
    if (lines[i]!.trim() === '```sh') {
      const start = i + 1;
      const body: string[] = [];
      for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) body.push(lines[i]!);
      const m = /^# expect: exit (\d+)/.exec(body[0] ?? '');
      steps.push({ kind: 'block', code: body.join('\n'), expectExit: m ? Number(m[1]) : 0, line: start });
    }
  }
  return steps;
}

function serveArgs(code: string): string | undefined {
  const cmd = code.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#')).join(' ');
  const m = /^\s*akko-storage serve\b(.*)$/.exec(cmd);
  return m ? m[1]!.trim() : undefined;
}

interface Session {
  dir: string;
  envFile: string;
  server?: TestServer;
  /** Extra environment for the server processes the runbook starts. */
  serverEnv: Record<string, string>;
  log: string[];
}

function newSession(env: Record<string, string>, serverEnv: Record<string, string> = {}): Session {
  const dir = tempDir('akko-runbook-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // `akko-storage` on PATH, as after `npm ci` / in the image.
  writeFileSync(join(bin, 'akko-storage'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`);
  chmodSync(join(bin, 'akko-storage'), 0o755);
  const envFile = join(dir, 'env.sh');
  const all = { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME ?? dir, ...env };
  writeFileSync(envFile, Object.entries(all).map(([k, v]) => `export ${k}=${JSON.stringify(v)}`).join('\n') + '\n');
  return { dir, envFile, serverEnv, log: [] };
}

function setEnv(s: Session, vars: Record<string, string>): void {
  writeFileSync(s.envFile, readFileSync(s.envFile, 'utf8') + Object.entries(vars).map(([k, v]) => `export ${k}=${JSON.stringify(v)}\n`).join(''));
}

async function bash(s: Session, script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return run('/bin/bash', ['-c', script], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, cwd: s.dir, timeoutMs: 120_000 });
}

async function envValue(s: Session, name: string): Promise<string> {
  return (await bash(s, `source "${s.envFile}"; printf '%s' "\${${name}}"`)).stdout;
}

async function runBlock(s: Session, step: Extract<Step, { kind: 'block' }>, dataDir: string): Promise<void> {
  const serve = serveArgs(step.code);
  if (serve !== undefined) {
    const expanded = await bash(s, `source "${s.envFile}"; set -- ${serve}; printf '%s\\0' "$@"`);
    const args = expanded.stdout.split('\0').filter(Boolean);
    await s.server?.stop();
    s.server = undefined;
    s.log.push(`$ akko-storage serve ${args.join(' ')}`);
    if (step.expectExit !== 0) {
      await expect(startServer({ dataDir, args, env: s.serverEnv }), `line ${step.line}: the server should not start`).rejects.toThrow(/exited with 1/);
      return;
    }
    s.server = await startServer({ dataDir, args, env: s.serverEnv });
    setEnv(s, { AKKO_ADMIN_URL: s.server.admin, AKKO_S3_ENDPOINT: s.server.s3 });
    return;
  }
  const script = `set -eo pipefail\nsource "${s.envFile}"\n${step.code}\nexport -p > "${s.envFile}.next"\n`;
  const r = await bash(s, script);
  s.log.push(`$ ${step.code}\n${r.stdout}${r.stderr}`);
  expect(r.code, `runbook line ${step.line} exited ${r.code}:\n${step.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`).toBe(step.expectExit);
  if (r.code === 0) renameSync(`${s.envFile}.next`, s.envFile);
}

const sessions: Session[] = [];
afterAll(async () => {
  for (const s of sessions) {
    await s.server?.stop();
    rmSync(s.dir, { recursive: true, force: true });
  }
});

describe('runbooks/encryption-at-rest.md', () => {
  it('turns encryption on for a running installation, encrypts what was there, survives a lost keyring from backup', async () => {
    const dataDir = tempDir('akko-runbook-data-');
    const buckets = ['rb-logs', 'rb-models'];
    // A running installation without encryption, with data.
    const first = await startServer({ dataDir, args: ['--buckets', buckets.join(','), '--encryption', 'off'] });
    const c = lean(first);
    const objs = objectsIn(buckets, 300, 'runbook-ear');
    await putAll(c, objs);
    c.destroy();
    const s = newSession({
      AKKO_ADMIN_URL: first.admin,
      AKKO_S3_ENDPOINT: first.s3,
      AKKO_S3_REGION: 'akko-local',
      AKKO_S3_ACCESS_KEY: first.accessKey,
      AKKO_S3_SECRET_KEY: first.secretKey,
      AKKO_DATA_DIR: dataDir,
    });
    sessions.push(s);
    s.server = first;
    setEnv(s, { BACKUP_DIR: join(s.dir, 'backup') });
    const steps = parseRunbook(readFileSync(join(ROOT, 'runbooks/encryption-at-rest.md'), 'utf8'));
    expect(steps.filter((x) => x.kind === 'block').length).toBeGreaterThanOrEqual(9);
    for (const step of steps) {
      if (step.kind === 'hook') {
        if (step.action === 'lose-keyring') {
          // The data volume comes back without its keyring file.
          await s.server?.stop();
          s.server = undefined;
          rmSync(join(dataDir, 'kms-keyring.json'));
        } else throw new Error(`unknown runbook-test hook ${step.action} at line ${step.line}`);
        continue;
      }
      await runBlock(s, step, dataDir);
    }
    // Where the runbook leaves us: everything encrypted and readable, on a restarted server.
    const server = s.server!;
    const r = await run(process.execPath, [BIN, 'kms', 'status', '--json'], { env: { ...process.env, AKKO_ADMIN_URL: server.admin, AKKO_S3_ACCESS_KEY: server.accessKey, AKKO_S3_SECRET_KEY: server.secretKey } });
    const status = JSON.parse(r.stdout) as { totals: { objects: number; plaintextObjects: number } };
    expect(status.totals).toMatchObject({ objects: 300, plaintextObjects: 0 });
    const c2 = lean(server);
    expect(await verifyAll(c2, objs)).toEqual([]);
    c2.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  }, 180_000);
});

describe('runbooks/kms-key-rotation.md', () => {
  const hasAws = requireTool('/usr/bin/aws');
  it.runIf(hasAws)('rotates, re-wraps, retires, moves to AWS KMS, and rides out a KMS outage and a key pending deletion', async () => {
    const double = await KmsDouble.start({ region: 'us-east-1' });
    const dataDir = tempDir('akko-runbook-data-');
    const awsEnv = { AWS_ACCESS_KEY_ID: DOUBLE_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: DOUBLE_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1', AWS_DEFAULT_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
    try {
      const buckets = ['rr-iceberg', 'rr-rag'];
      const first = await startServer({ dataDir, args: ['--buckets', buckets.join(',')], env: awsEnv });
      const c = lean(first);
      const objs = objectsIn(buckets, 300, 'runbook-rot');
      await putAll(c, objs);
      c.destroy();
      const s = newSession(
        {
          AKKO_ADMIN_URL: first.admin,
          AKKO_S3_ENDPOINT: first.s3,
          AKKO_S3_ACCESS_KEY: first.accessKey,
          AKKO_S3_SECRET_KEY: first.secretKey,
          AKKO_DATA_DIR: dataDir,
          AKKO_KMS_ENDPOINT: double.endpoint,
          ...awsEnv,
        },
        awsEnv,
      );
      sessions.push(s);
      s.server = first;
      setEnv(s, { BACKUP_DIR: join(s.dir, 'backup') });
      const steps = parseRunbook(readFileSync(join(ROOT, 'runbooks/kms-key-rotation.md'), 'utf8'));
      expect(steps.filter((x) => x.kind === 'block').length).toBeGreaterThanOrEqual(15);
      for (const step of steps) {
        if (step.kind === 'hook') {
          if (step.action === 'kms-down') await double.refuseConnections();
          else if (step.action === 'kms-up') await double.acceptConnections();
          else if (step.action === 'schedule-key-deletion') double.setKeyState(await envValue(s, 'KMS_KEY_ARN'), 'PendingDeletion');
          else throw new Error(`unknown runbook-test hook ${step.action} at line ${step.line}`);
          continue;
        }
        await runBlock(s, step, dataDir);
      }
      // Where the runbook leaves us: AWS KMS, every bucket key there, every object intact.
      const server = s.server!;
      const arn = await envValue(s, 'KMS_KEY_ARN');
      expect(arn).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\//);
      const r = await run(process.execPath, [BIN, 'kms', 'status', '--json'], { env: { ...process.env, AKKO_ADMIN_URL: server.admin, AKKO_S3_ACCESS_KEY: server.accessKey, AKKO_S3_SECRET_KEY: server.secretKey } });
      expect(r.code, r.stderr).toBe(0);
      const status = JSON.parse(r.stdout) as { provider: { name: string; readers: string[] }; bucketKeys: Array<{ provider: string; key: string }> };
      expect(status.provider).toMatchObject({ name: 'aws', readers: [] });
      expect(new Set(status.bucketKeys.map((k) => `${k.provider} ${k.key}`))).toEqual(new Set([`aws ${arn}`]));
      const c2 = lean(server);
      expect(await verifyAll(c2, objs)).toEqual([]);
      c2.destroy();
    } finally {
      await double.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 240_000);
});
