// Shared by the kms-ops tests: the CLI as a child process, a lean keep-alive S3 client for
// seeding and reading thousands of objects, signed admin calls, metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { LeanClient } from '../../bench/lean-client.js';
import { signAdminRequest } from '../../src/admin/auth.js';
import { run, type RunResult } from '../helpers/run.js';
import { BIN, type TestServer } from '../helpers/server.js';

export { LeanClient };

export function cliEnv(s: Pick<TestServer, 'admin' | 'accessKey' | 'secretKey'>, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, AKKO_ADMIN_URL: s.admin, AKKO_S3_ACCESS_KEY: s.accessKey, AKKO_S3_SECRET_KEY: s.secretKey, ...extra };
}

/** `akko-storage kms …` against the server, to its end. */
export function kms(s: Pick<TestServer, 'admin' | 'accessKey' | 'secretKey'>, args: string[], extra: Record<string, string> = {}): Promise<RunResult> {
  return run(process.execPath, [BIN, 'kms', ...args], { env: cliEnv(s, extra), timeoutMs: 170_000 });
}

/** The CLI as a child we can signal, with its output collected. */
export function spawnKms(s: Pick<TestServer, 'admin' | 'accessKey' | 'secretKey'>, args: string[]): { child: ChildProcess; out: () => string; done: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'kms', ...args], { env: cliEnv(s), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const done = new Promise<number | null>((r) => child.once('close', (code, signal) => r(code ?? (signal ? -1 : null))));
  return { child, out: () => out, done };
}

export function lean(s: TestServer): LeanClient {
  return new LeanClient(s.s3, s.accessKey, s.secretKey);
}

/** Deterministic content for object i (some are several 64 KiB segments long). */
export function bodyFor(i: number, salt = ''): Buffer {
  const head = Buffer.from(`object ${i} ${salt} `);
  if (i % 997 === 0) {
    const big = Buffer.alloc(150_000 + i);
    for (let o = 0; o < big.length; o += 32) createHash('sha256').update(`${salt}${i}/${o}`).digest().copy(big, o);
    return Buffer.concat([head, big]);
  }
  return Buffer.concat([head, Buffer.alloc(i % 300, String.fromCharCode(97 + (i % 26)))]);
}

export interface Obj {
  bucket: string;
  key: string;
  body: Buffer;
}

/** Runs `f` over items, `concurrency` at a time; rejects on the first error. */
export async function pool<T>(items: T[], concurrency: number, f: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= items.length) return;
        await f(items[i]!, i);
      }
    }),
  );
}

export async function putAll(c: LeanClient, objs: Obj[], concurrency = 48): Promise<void> {
  await pool(objs, concurrency, async (o) => {
    const r = await c.send('PUT', `/${o.bucket}/${o.key}`, { body: o.body });
    if (r.status !== 200) throw new Error(`PUT ${o.bucket}/${o.key}: ${r.status}`);
  });
}

/** Reads every object back; returns the ones that differ (or fail). */
export async function verifyAll(c: LeanClient, objs: Obj[], concurrency = 48): Promise<string[]> {
  const bad: string[] = [];
  await pool(objs, concurrency, async (o) => {
    const r = await c.send('GET', `/${o.bucket}/${o.key}`, { keepBody: true });
    if (r.status !== 200 || !r.body!.equals(o.body)) bad.push(`${o.bucket}/${o.key}: ${r.status} ${r.body?.length}/${o.body.length}`);
  });
  return bad;
}

/** Signed admin API call from the test itself. */
export async function admin(s: TestServer, method: 'GET' | 'POST', path: string, body?: unknown, creds?: { accessKeyId: string; secretAccessKey: string }): Promise<{ status: number; json: Record<string, unknown> }> {
  const url = new URL(`/admin/v1${path}`, s.admin);
  const raw = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const headers = signAdminRequest({ method, url, body: raw, accessKeyId: creds?.accessKeyId ?? s.accessKey, secretAccessKey: creds?.secretAccessKey ?? s.secretKey, headers: raw ? { 'content-type': 'application/json' } : {} });
  const r = await fetch(url, { method, headers, body: raw });
  const text = await r.text();
  return { status: r.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** akko_kms_calls_total by operation (results summed). */
export async function kmsCallMetrics(s: TestServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${s.metrics}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^akko_kms_calls_total\{([^}]*)\} (\S+)$/gm)) {
    const op = /operation="([^"]+)"/.exec(m[1]!)![1]!;
    out[op] = (out[op] ?? 0) + Number(m[2]);
  }
  return out;
}

export function sumCalls(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of new Set([...Object.keys(after), ...Object.keys(before)])) {
    const d = (after[k] ?? 0) - (before[k] ?? 0);
    if (d) out[k] = d;
  }
  return out;
}

export function total(calls: Record<string, number>): number {
  return Object.values(calls).reduce((a, b) => a + b, 0);
}

export async function metricsText(s: TestServer): Promise<string> {
  return (await fetch(`${s.metrics}/metrics`)).text();
}

export function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => join(d.parentPath, d.name));
}

export function objectsIn(buckets: string[], n: number, salt = ''): Obj[] {
  return Array.from({ length: n }, (_, i) => ({ bucket: buckets[i % buckets.length]!, key: `data/${String(i).padStart(6, '0')}.bin`, body: bodyFor(i, salt) }));
}
