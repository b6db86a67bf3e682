// `akko-storage kms …`: the operator's side of the key operations. Every command is a call to
// the running server's admin API (SigV4-signed); the long ones start a job in the server and
// follow it (a progress bar on a TTY, plain lines otherwise), print a summary and exit non-zero
// when anything failed. Ctrl-C asks the server to stop the job at the next item (its checkpoint
// is kept; the same command again resumes it); a second Ctrl-C leaves at once (the job still
// stops). If this process dies, the job goes on in the server; the same command attaches to it.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { signAdminRequest } from '../admin/auth.js';
import { fmtBytes, fmtDuration, Progress } from './progress.js';

/** A failure the command reports in one line and exits with `code`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly code = 1,
  ) {
    super(message);
  }
}

interface Common {
  adminUrl?: string;
  dataDir?: string;
  region?: string;
  json?: boolean;
}

function print(line = ''): void {
  process.stdout.write(line + '\n');
}

function credentials(o: Common): { accessKeyId: string; secretAccessKey: string } {
  const ak = process.env.AKKO_S3_ACCESS_KEY;
  const sk = process.env.AKKO_S3_SECRET_KEY;
  if (ak && sk) return { accessKeyId: ak, secretAccessKey: sk };
  const dir = o.dataDir ?? process.env.AKKO_DATA_DIR ?? './data';
  const path = join(dir, 'keystore.json');
  try {
    const keys = (JSON.parse(readFileSync(path, 'utf8')) as { keys: { id: string; secret: string; state: string }[] }).keys;
    const k = keys.find((x) => x.state === 'current');
    if (k) return { accessKeyId: k.id, secretAccessKey: k.secret };
  } catch {
    // below
  }
  throw new CliError(`no credentials for the admin API: set AKKO_S3_ACCESS_KEY and AKKO_S3_SECRET_KEY, or --data-dir to the server's data dir (${path} not usable)`, 2);
}

export class AdminClient {
  readonly base: URL;
  private readonly creds: { accessKeyId: string; secretAccessKey: string };
  private readonly region: string;

  constructor(o: Common) {
    const url = o.adminUrl ?? process.env.AKKO_ADMIN_URL ?? 'http://127.0.0.1:8888';
    try {
      this.base = new URL(url);
    } catch {
      throw new CliError(`invalid --admin-url / AKKO_ADMIN_URL=${JSON.stringify(url)}: expected a URL like http://127.0.0.1:8888`, 2);
    }
    this.creds = credentials(o);
    this.region = o.region ?? process.env.AKKO_S3_REGION ?? 'akko-local';
  }

  async call<T = Record<string, unknown>>(method: 'GET' | 'POST', path: string, opts: { query?: Record<string, string | undefined>; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: T }> {
    const url = new URL(`/admin/v1${path}`, this.base);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, v);
    const body = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
    const headers = signAdminRequest({ method, url, body, ...this.creds, region: this.region, headers: body ? { 'content-type': 'application/json' } : {} });
    if (body) headers['content-length'] = String(body.length);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { method, headers, agent: false, timeout: opts.timeoutMs ?? 120_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown;
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            parsed = { error: 'BadResponse', message: text.slice(0, 200) };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed as T });
        });
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${this.base.origin} within ${(opts.timeoutMs ?? 120_000) / 1000}s`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Calls and turns a non-2xx answer into a CliError with the server's message. */
  async ok<T = Record<string, unknown>>(method: 'GET' | 'POST', path: string, opts: { query?: Record<string, string | undefined>; body?: unknown } = {}): Promise<T> {
    let r;
    try {
      r = await this.call<T>(method, path, opts);
    } catch (e) {
      throw new CliError(unreachable(this.base, e));
    }
    if (r.status >= 200 && r.status < 300) return r.body;
    const b = r.body as { error?: string; message?: string };
    throw new CliError(`the server refused (${r.status} ${b.error ?? ''}): ${b.message ?? JSON.stringify(b)}`, r.status === 403 || r.status === 400 ? 2 : 1);
  }
}

function unreachable(base: URL, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  return `cannot reach the akko-storage admin API at ${base.origin} (${code ?? (e as Error).message}): is the server running, and is --admin-url / AKKO_ADMIN_URL right?`;
}

// ---- jobs ----------------------------------------------------------------------------------

interface JobCounts {
  total: number;
  scanned: number;
  changed: number;
  skipped: number;
  raced: number;
  failed: number;
  bytes: number;
}

interface Job {
  id: string;
  kind: 'rewrap' | 'encrypt-existing';
  params: Record<string, unknown>;
  state: 'running' | 'succeeded' | 'failed' | 'cancelled';
  started: number;
  updated: number;
  finished?: number;
  runs: number;
  counts: JobCounts;
  errors: Array<{ item: string; error: string }>;
  message?: string;
  summary?: Record<string, unknown>;
}

const WORDS: Record<Job['kind'], { item: string; changed: string; dry: string; skipped: string }> = {
  rewrap: { item: 'bucket keys', changed: 're-wrapped', dry: 'would be re-wrapped', skipped: 'already under the wanted key version' },
  'encrypt-existing': { item: 'objects', changed: 'encrypted', dry: 'would be encrypted', skipped: 'already encrypted' },
};

function detail(j: Job): string {
  const c = j.counts;
  return `changed=${c.changed} skipped=${c.skipped}${c.raced ? ` raced=${c.raced}` : ''} failed=${c.failed}${j.kind === 'encrypt-existing' ? ` ${fmtBytes(c.bytes)}` : ''}`;
}

function summarize(j: Job): void {
  const w = WORDS[j.kind];
  const c = j.counts;
  const dry = !!j.params.dryRun;
  const secs = ((j.finished ?? Date.now()) - j.started) / 1000;
  print(
    `${j.kind} ${j.state}${dry ? ' (dry run: nothing changed)' : ''} in ${fmtDuration(secs)}: ${c.scanned} of ${c.total} ${w.item} looked at, ${c.changed} ${dry ? w.dry : w.changed}` +
      `${j.kind === 'encrypt-existing' ? ` (${fmtBytes(c.bytes)})` : ''}, ${c.skipped} ${w.skipped}, ${c.raced} changed concurrently (the newer write won), ${c.failed} failed`,
  );
  if (j.message) print(j.message);
  for (const e of j.errors.slice(0, 10)) print(`  failed: ${e.item}: ${e.error}`);
  if (j.errors.length > 10) print(`  … and ${j.errors.length - 10} more (akko-storage kms jobs show ${j.id})`);
  const versions = j.summary?.versions as Array<{ provider: string; key: string; version: string; bucketKeys: number; current?: boolean }> | undefined;
  if (j.kind === 'rewrap' && versions?.length) {
    print('bucket keys by KMS key version:');
    for (const v of versions) {
      const hint = v.current ? '(current)' : v.bucketKeys === 0 && v.provider === 'local' ? `(nothing references it: akko-storage kms retire ${v.key}/${v.version})` : '';
      print(`  ${v.provider.padEnd(5)} ${v.key} ${v.version || '(unknown version)'}  ${v.bucketKeys} ${hint}`.trimEnd());
    }
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Starts (or attaches to, or resumes) a job and follows it to its end. Returns the exit code. */
async function runJob(o: Common & { detach?: boolean }, kind: Job['kind'], params: Record<string, unknown>): Promise<number> {
  const client = new AdminClient(o);
  const started = await client.ok<{ job: Job; attached: boolean; resumed: boolean }>('POST', `/kms/${kind}`, { body: params });
  let job = started.job;
  const say = (l: string) => (o.json ? process.stderr.write(l + '\n') : print(l));
  if (started.attached) say(`attached to the running ${kind} job ${job.id}`);
  else if (started.resumed) say(`resuming ${kind} job ${job.id} from its checkpoint (${job.counts.scanned} done before)`);
  else say(`started ${kind} job ${job.id}`);
  if (o.detach) {
    say(`the job runs in the server; follow it with: akko-storage kms jobs watch ${job.id}`);
    if (o.json) print(JSON.stringify(job));
    return 0;
  }
  return follow(client, job, o);
}

async function follow(client: AdminClient, job: Job, o: Common): Promise<number> {
  const progress = new Progress(process.stderr);
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) {
      progress.end();
      process.stderr.write(`left without waiting; job ${job.id} stops at its next item on the server (run the same command again to resume)\n`);
      process.exit(130);
    }
    interrupted = true;
    progress.end();
    process.stderr.write(`interrupting: asking the server to stop job ${job.id} at the next item (its checkpoint is kept)…\n`);
    client.call('POST', `/jobs/${job.id}/cancel`, { timeoutMs: 60_000 }).catch((e: Error) => process.stderr.write(`could not cancel: ${e.message}\n`));
  };
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  let lostSince: number | undefined;
  try {
    for (;;) {
      progress.update({ label: job.kind, total: job.counts.total, done: job.counts.scanned, detail: detail(job) });
      if (job.state !== 'running') break;
      await sleep(process.stderr.isTTY ? 200 : 500);
      try {
        const r = await client.call<Job>('GET', `/jobs/${job.id}`, { timeoutMs: 10_000 });
        if (r.status === 404) throw new CliError(`job ${job.id} is gone from the server`);
        if (r.status !== 200) throw new CliError(`the server answered ${r.status}: ${JSON.stringify(r.body)}`);
        job = r.body;
        lostSince = undefined;
      } catch (e) {
        if (e instanceof CliError) throw e;
        lostSince ??= Date.now();
        if (Date.now() - lostSince > 30_000) {
          progress.end();
          throw new CliError(`${unreachable(client.base, e)}\njob ${job.id} was at ${job.counts.scanned}/${job.counts.total}; it goes on in the server, or resumes from its checkpoint when the server starts again: run the same command to follow it`);
        }
      }
    }
  } finally {
    progress.end();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (o.json) print(JSON.stringify(job));
  else summarize(job);
  if (job.state === 'cancelled' || interrupted) return 130;
  return job.state === 'succeeded' ? 0 : 1;
}

// ---- the synchronous commands ------------------------------------------------------------

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) print(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}

interface StatusBody {
  encryptionDefault: string;
  provider?: { name: string; defaultKeyId: string; readers: string[] };
  buckets: Array<{ bucket: string; objects: number; bytes: number; protections: Array<{ protection: string; key: string; version: string; objects: number; bytes: number }> }>;
  totals: { objects: number; bytes: number; plaintextObjects: number; plaintextBytes: number };
  bucketKeys: Array<{ provider: string; key: string; version: string; records: number }>;
  kmsWrappedObjects: number;
  jobs: Job[];
  health?: { ok: boolean; provider: string; keyId: string; latencyMs: number; error?: string; code?: string; operations: string[]; readers: Array<{ provider: string; ok: boolean; error?: string }> };
}

async function status(o: Common & { bucket?: string; canary?: boolean }): Promise<number> {
  const s = await new AdminClient(o).ok<StatusBody>('GET', '/kms/status', { query: { bucket: o.bucket, canary: o.canary === false ? 'false' : undefined } });
  const healthy = (!s.health || (s.health.ok && s.health.readers.every((r) => r.ok))) && (!s.provider || !!s.health || o.canary === false);
  if (o.json) {
    print(JSON.stringify(s));
    return healthy ? 0 : 1;
  }
  print(`default encryption of new writes: ${s.encryptionDefault}; provider: ${s.provider ? `${s.provider.name} (default key ${s.provider.defaultKeyId})${s.provider.readers.length ? `, also reading: ${s.provider.readers.join(', ')}` : ''}` : 'none'}`);
  if (s.health) {
    const h = s.health;
    print(`provider health: ${h.ok ? 'OK' : 'FAILING'} — ${h.operations.join(' + ')} with ${h.keyId} in ${h.latencyMs.toFixed(0)} ms${h.ok ? '' : `: ${h.code ? h.code + ': ' : ''}${h.error}`}`);
    for (const r of h.readers) print(`reader ${r.provider}: ${r.ok ? 'OK' : `FAILING: ${r.error}`}`);
  }
  const rows: string[][] = [['BUCKET', 'PROTECTION', 'KEY', 'VERSION', 'OBJECTS', 'BYTES']];
  for (const b of s.buckets) {
    if (b.protections.length === 0) rows.push([b.bucket, '(empty)', '', '', '0', '0']);
    for (const p of b.protections) rows.push([b.bucket, p.protection, p.key || '-', p.version || '-', String(p.objects), String(p.bytes)]);
  }
  table(rows);
  print(`total: ${s.totals.objects} objects (${fmtBytes(s.totals.bytes)}), plaintext: ${s.totals.plaintextObjects} objects (${fmtBytes(s.totals.plaintextBytes)})${s.totals.plaintextObjects ? ' — run akko-storage kms encrypt-existing' : ''}`);
  if (s.kmsWrappedObjects) print(`${s.kmsWrappedObjects} object key(s) are wrapped by the KMS directly (bucket keys disabled); kms rewrap does not re-wrap them`);
  if (s.bucketKeys.length) {
    print('bucket keys:');
    table([['PROVIDER', 'KEY', 'VERSION', 'RECORDS'], ...s.bucketKeys.map((k) => [k.provider, k.key, k.version || '-', String(k.records)])]);
  }
  for (const j of s.jobs) print(`running job ${j.id}: ${j.kind} ${j.counts.scanned}/${j.counts.total}`);
  return healthy ? 0 : 1;
}

function printKeys(body: Record<string, unknown>): void {
  const providers = (body.providers as Array<Record<string, unknown>> | undefined) ?? [body];
  for (const p of providers) {
    if (p.provider === 'local') {
      print(`local keyring ${p.keyring}${p.primary ? ' (this server\'s provider)' : ' (reader)'}; default key ${p.defaultKey}`);
      for (const k of (p.keys as Array<Record<string, unknown>>) ?? []) {
        print(`  key ${k.key}${k.default ? ' (default)' : ''}: current version ${k.currentVersion}, ${k.bucketKeys} bucket key(s)`);
        for (const v of (k.versions as Array<Record<string, unknown>>) ?? []) print(`    ${String(v.version).padEnd(5)} ${v.current ? 'current ' : 'old     '} created ${v.created ?? '?'}  bucket keys: ${v.bucketKeys}`);
      }
    } else {
      const keys = (p.keys as Array<Record<string, unknown>> | undefined) ?? [p];
      print(`aws${p.primary === true ? ' (this server\'s provider)' : p.primary === false ? ' (reader)' : ''}`);
      for (const k of keys) {
        if (k.error) {
          print(`  key ${k.keyId}: ${k.error}`);
          continue;
        }
        print(`  key ${k.keyId}${k.default ? ' (default)' : ''}\n    arn ${k.arn}\n    state ${k.state}, automatic rotation ${k.rotationEnabled === undefined ? 'unknown' : k.rotationEnabled ? `on${k.rotationPeriodInDays ? ` (every ${k.rotationPeriodInDays} days)` : ''}` : 'off'}` +
          `${k.currentKeyMaterialId ? `, current key material ${k.currentKeyMaterialId}` : ''}${k.onDemandRotationStartDate ? `, last on-demand rotation ${k.onDemandRotationStartDate}` : ''}\n    bucket keys: ${k.bucketKeys}`);
      }
    }
  }
}

// ---- registration --------------------------------------------------------------------------

function common(c: Command): Command {
  return c
    .option('--admin-url <url>', 'admin API of the running server (AKKO_ADMIN_URL, default http://127.0.0.1:8888)')
    .option('--data-dir <dir>', 'data dir whose keystore signs the calls when AKKO_S3_ACCESS_KEY/AKKO_S3_SECRET_KEY are not set (AKKO_DATA_DIR, default ./data)')
    .option('--region <region>', 'region of the signature (AKKO_S3_REGION, default akko-local)')
    .option('--json', 'print the result as JSON');
}

/** For an AWS KMS the server does not use yet (before a migration): where it is. */
function awsOptions(c: Command): Command {
  return c
    .option('--kms-endpoint <url>', 'aws: KMS endpoint when it is not the server\'s own provider (default: remembered, then the AWS default)')
    .option('--kms-region <region>', 'aws: KMS region (default: from the key ARN, then remembered)');
}

function jobOptions(c: Command): Command {
  return c
    .option('--dry-run', 'count what would change, change nothing')
    .option('--max-rate <n>', 'at most this many items per second (spares the KMS request quota)')
    .option('--detach', 'start the job in the server and return at once');
}

/** Runs an action and exits with its code (after stdout is flushed); a CliError is one line on stderr. */
async function run(f: () => Promise<number>): Promise<void> {
  let code: number;
  try {
    code = await f();
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    process.stderr.write(`akko-storage: ${e.message}\n`);
    code = e.code;
  }
  await new Promise<void>((r) => process.stdout.write('', () => r()));
  process.exit(code);
}

/** Adds `kms …` to the program. */
export function registerKmsCommands(program: Command): void {
  const kms = program.command('kms').description('key operations on the running server: keys, rotate, rewrap, encrypt-existing, retire, status');
  const act = <A extends unknown[]>(f: (...a: A) => Promise<number>) => (...a: A) => run(() => f(...a));

  common(kms.command('status').description('objects and bytes by protection per bucket, bucket keys by key version, provider health (exit 1 when unhealthy)'))
    .option('--bucket <name>', 'only this bucket')
    .option('--no-canary', 'skip the GenerateDataKey/Decrypt health check')
    .action(act(async (o: Common & { bucket?: string; canary?: boolean }) => status(o)));

  const keys = kms.command('keys').description('KMS keys: list, create, describe');
  common(keys.command('list').description('keys of the configured provider (and of a migration\'s other provider): versions, state, rotation'))
    .action(act(async (o: Common) => {
      const b = await new AdminClient(o).ok('GET', '/kms/keys');
      if (o.json) print(JSON.stringify(b));
      else printKeys(b);
      return 0;
    }));
  awsOptions(common(keys.command('create').description('create a key (local: a new keyring key NAME; aws: CreateKey, optionally with --alias)')))
    .argument('[name]', 'local key name')
    .addOption(new Option('--provider <local|aws>', 'default: the server\'s provider').choices(['local', 'aws']))
    .option('--alias <alias/name>', 'aws: alias for the new key')
    .option('--description <text>', 'aws: key description')
    .action(act(async (name: string | undefined, o: Common & { provider?: string; alias?: string; description?: string; kmsEndpoint?: string; kmsRegion?: string }) => {
      const b = await new AdminClient(o).ok('POST', '/kms/keys', { body: { name, provider: o.provider, alias: o.alias, description: o.description, endpoint: o.kmsEndpoint, region: o.kmsRegion } });
      if (o.json) print(JSON.stringify(b));
      else print(b.provider === 'local' ? `created local key ${b.key} (${b.kid}) in ${b.keyring}` : `created aws key ${b.keyId}\n  arn ${b.arn}${b.alias ? `\n  alias ${b.alias}` : ''}`);
      return 0;
    }));
  awsOptions(common(keys.command('describe').description('one key: versions (local) or ARN, state, rotation status (aws)')))
    .argument('[key]', 'key name, kid, key id, ARN or alias (default: the server\'s default key)')
    .addOption(new Option('--provider <local|aws>').choices(['local', 'aws']))
    .action(act(async (key: string | undefined, o: Common & { provider?: string; kmsEndpoint?: string; kmsRegion?: string }) => {
      const b = await new AdminClient(o).ok('GET', '/kms/keys/describe', { query: { keyId: key, provider: o.provider, endpoint: o.kmsEndpoint, region: o.kmsRegion } });
      if (o.json) print(JSON.stringify(b));
      else printKeys(b);
      return 0;
    }));

  awsOptions(common(kms.command('rotate').description('new key material becomes current (local: a new keyring version; aws: RotateKeyOnDemand); old material keeps decrypting')))
    .option('--key-id <id>', 'key to rotate (default: the server\'s default key)')
    .addOption(new Option('--provider <local|aws>').choices(['local', 'aws']))
    .option('--keep-bucket-keys', 'let current bucket keys run out instead of starting new ones (under the new material) now')
    .action(act(async (o: Common & { keyId?: string; provider?: string; keepBucketKeys?: boolean; kmsEndpoint?: string; kmsRegion?: string }) => {
      const b = await new AdminClient(o).ok('POST', '/kms/rotate', { body: { keyId: o.keyId, provider: o.provider, retireBucketKeys: !o.keepBucketKeys, endpoint: o.kmsEndpoint, region: o.kmsRegion } });
      if (o.json) print(JSON.stringify(b));
      else {
        print(`rotated ${b.provider} key ${b.key}: ${b.previousVersion ?? '?'} -> ${b.currentVersion ?? '(new material, id not reported)'} (current); older versions keep decrypting`);
        if (typeof b.bucketKeysRetired === 'number') print(`${b.bucketKeysRetired} current bucket key(s) retired: new writes get bucket keys under the new version`);
        print('next: akko-storage kms rewrap   (re-wraps the existing bucket keys under the new version)');
      }
      return 0;
    }));

  jobOptions(common(kms.command('rewrap').description('re-wrap bucket-key records (not objects) under the newest key version, another key or another provider')))
    .option('--bucket <name>', 'only this bucket\'s bucket keys')
    .option('--to-key <id>', 'destination key (local name, aws key id/ARN/alias)')
    .addOption(new Option('--to-provider <local|aws>', 'destination provider (migration)').choices(['local', 'aws']))
    .option('--to-endpoint <url>', 'aws destination: KMS endpoint (default: remembered, else the server\'s --kms-endpoint)')
    .option('--to-region <region>', 'aws destination: region (default: from the key ARN)')
    .action(act(async (o: Common & { detach?: boolean; dryRun?: boolean; maxRate?: string; bucket?: string; toKey?: string; toProvider?: string; toEndpoint?: string; toRegion?: string }) =>
      runJob(o, 'rewrap', { bucket: o.bucket, toKey: o.toKey, toProvider: o.toProvider, toEndpoint: o.toEndpoint, toRegion: o.toRegion, dryRun: o.dryRun || undefined, maxRate: o.maxRate === undefined ? undefined : Number(o.maxRate) }),
    ));

  jobOptions(common(kms.command('encrypt-existing').description('encrypt objects written while encryption was off, online and resumably')))
    .option('--bucket <name>', 'only this bucket')
    .option('--key-id <id>', 'KMS key (default: the bucket\'s default encryption, else the server\'s default key)')
    .action(act(async (o: Common & { detach?: boolean; dryRun?: boolean; maxRate?: string; bucket?: string; keyId?: string }) =>
      runJob(o, 'encrypt-existing', { bucket: o.bucket, keyId: o.keyId, dryRun: o.dryRun || undefined, maxRate: o.maxRate === undefined ? undefined : Number(o.maxRate) }),
    ));

  awsOptions(common(kms.command('retire').description('remove an old local key version (or disable an AWS key) once nothing references it; says how many bucket keys and objects still do')))
    .argument('<key>', 'local NAME/vN, or an AWS key id/ARN/alias')
    .addOption(new Option('--provider <local|aws>').choices(['local', 'aws']))
    .option('--dry-run', 'only count the references')
    .action(act(async (key: string, o: Common & { provider?: string; dryRun?: boolean; kmsEndpoint?: string; kmsRegion?: string }) => {
      const b = await new AdminClient(o).ok<{ retired: boolean; refused?: string; keyId: string; provider: string; references: { bucketKeys: number; objects: number; buckets: string[] }; note?: string }>('POST', '/kms/retire', { body: { keyId: key, provider: o.provider, dryRun: o.dryRun || undefined, endpoint: o.kmsEndpoint, region: o.kmsRegion } });
      if (o.json) print(JSON.stringify(b));
      else {
        print(`${b.keyId}: referenced by ${b.references.bucketKeys} bucket key(s) and ${b.references.objects} object key(s)${b.references.buckets.length ? ` (buckets ${b.references.buckets.join(', ')})` : ''}`);
        if (b.refused) print(`not retired: ${b.refused}`);
        else if (b.retired) print(`retired ${b.keyId}${b.note ? ` — ${b.note}` : ''}`);
        else print('dry run: nothing references it; it can be retired');
      }
      return b.refused ? 1 : 0;
    }));

  const jobs = kms.command('jobs').description('key-operation jobs in the server: list, show, watch, cancel');
  common(jobs.command('list', { isDefault: true }).description('recent jobs, newest first'))
    .action(act(async (o: Common) => {
      const b = await new AdminClient(o).ok<{ jobs: Job[] }>('GET', '/jobs');
      if (o.json) print(JSON.stringify(b));
      else if (!b.jobs.length) print('no jobs');
      else table([['ID', 'KIND', 'STATE', 'PROGRESS', 'PARAMS'], ...b.jobs.map((j) => [j.id, j.kind, j.state, `${j.counts.scanned}/${j.counts.total} ${detail(j)}`, JSON.stringify(j.params)])]);
      return 0;
    }));
  common(jobs.command('show').argument('<id>').description('one job, with its errors'))
    .action(act(async (id: string, o: Common) => {
      const j = await new AdminClient(o).ok<Job>('GET', `/jobs/${encodeURIComponent(id)}`);
      if (o.json) print(JSON.stringify(j));
      else summarize(j);
      return j.state === 'failed' ? 1 : 0;
    }));
  common(jobs.command('watch').argument('<id>').description('follow a job to its end'))
    .action(act(async (id: string, o: Common) => {
      const client = new AdminClient(o);
      return follow(client, await client.ok<Job>('GET', `/jobs/${encodeURIComponent(id)}`), o);
    }));
  common(jobs.command('cancel').argument('<id>').description('stop a job at its next item (the same command resumes it)'))
    .action(act(async (id: string, o: Common) => {
      const j = await new AdminClient(o).ok<Job>('POST', `/jobs/${encodeURIComponent(id)}/cancel`);
      if (o.json) print(JSON.stringify(j));
      else summarize(j);
      return 0;
    }));
}
