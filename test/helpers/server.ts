// Starts the real server (the built binary) on free ports in a fresh data dir, as a child
// process, and gives the test its URLs and credentials.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

export const BIN = resolve(import.meta.dirname, '../../bin/akko-storage.js');

export interface TestServer {
  s3: string;
  admin: string;
  metrics: string;
  port: number;
  dataDir: string;
  accessKey: string;
  secretKey: string;
  region: string;
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** Stops and removes the data dir. */
  destroy(): Promise<void>;
}

export interface StartOptions {
  dataDir?: string;
  args?: string[];
  env?: Record<string, string>;
  accessKey?: string;
  secretKey?: string;
}

export function tempDir(prefix = 'akko-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startServer(opts: StartOptions = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? tempDir();
  const accessKey = opts.accessKey ?? 'AKIATESTROOT0000001';
  const secretKey = opts.secretKey ?? 'test-secret-key-0123456789abcdefghijklmn';
  const args = [BIN, 'serve', '--data-dir', dataDir, '--s3-port', '0', '--admin-port', '0', '--metrics-port', '0', ...(opts.args ?? [])];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, AKKO_S3_ACCESS_KEY: accessKey, AKKO_S3_SECRET_KEY: secretKey, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  const ready = await new Promise<string>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server not ready in 30s; stderr: ${stderr.join('\n')}`)), 30_000);
    createInterface({ input: child.stdout! }).on('line', (l) => {
      stdout.push(l);
      if (l.startsWith('akko-storage ready ')) {
        clearTimeout(timer);
        res(l);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`server exited with ${code} before ready; stderr: ${stderr.join('\n')}`));
    });
  });
  const m = /s3=(\S+) admin=(\S+) metrics=(\S+)/.exec(ready)!;
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return {
    s3: m[1]!, admin: m[2]!, metrics: m[3]!,
    port: Number(new URL(m[1]!).port),
    dataDir, accessKey, secretKey, region: 'akko-local', child, stdout, stderr, stop,
    async destroy() {
      await stop();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
