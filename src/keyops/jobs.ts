// Long key operations (kms rewrap, kms encrypt-existing) run as jobs inside the server process,
// driven by the CLI through the admin API. A job walks an ordered list of items (bucket-key
// records, objects) a few at a time; every step is idempotent, and the job persists, in the
// store's LMDB environment (database `kmsjobs`), a checkpoint: the cursor before which every
// item is done. After a crash (SIGKILL of the server at any point) the server resumes every job
// that was running from its checkpoint; at worst the items after the checkpoint are looked at
// again, and each of them is then found done (skipped) or redone (idempotent).
//
// A job is stopped by `cancel` (Ctrl-C in the CLI): it finishes the items in flight, saves its
// checkpoint and ends `cancelled`; the same command again resumes it. Only one job of a kind
// runs at a time; asking for the same job again attaches to it.
import { randomUUID } from 'node:crypto';
import type { Database } from 'lmdb';
import { kmsJobItems } from '../metrics.js';
import type { Store } from '../store/store.js';

export type JobKind = 'rewrap' | 'encrypt-existing';
export type JobState = 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobCounts {
  /** Items in scope when the (last) run started. */
  total: number;
  /** Items looked at. */
  scanned: number;
  /** Items changed (re-wrapped, encrypted); with dryRun, items that would be. */
  changed: number;
  /** Items already as wanted. */
  skipped: number;
  /** Items changed by someone else while we worked on them (a concurrent write won; nothing lost). */
  raced: number;
  failed: number;
  /** Plaintext bytes rewritten (encrypt-existing). */
  bytes: number;
}

export interface JobRecord {
  id: string;
  kind: JobKind;
  params: Record<string, unknown>;
  state: JobState;
  created: number;
  /** When the current (or last) run started. */
  started: number;
  updated: number;
  finished?: number;
  /** How many times the job was started or resumed. */
  runs: number;
  counts: JobCounts;
  /** Every item up to and including this cursor is done (opaque to the framework). */
  checkpoint?: string;
  /** The counts as of the checkpoint: where a resumed run starts counting from. */
  checkpointCounts?: JobCounts;
  /** The first failures (item and message), at most MAX_ERRORS. */
  errors: Array<{ item: string; error: string }>;
  message?: string;
  /** What the job found or did, for the CLI's summary (kind-specific). */
  summary?: Record<string, unknown>;
}

export type ItemOutcome = 'changed' | 'skipped' | 'raced';

export interface JobItem {
  /** Position for the checkpoint; items come in cursor order. */
  cursor: string;
  /** Shown in error messages. */
  label: string;
}

export interface RunContext {
  readonly params: Record<string, unknown>;
  readonly signal: AbortSignal;
  /** Waits for the job's rate limit (params.maxRate items/s), if any; call before costly work. */
  pace(): Promise<void>;
  addBytes(n: number): void;
}

/** What a kind of job does; the framework does order, concurrency, checkpoints, counting and stopping. */
export interface JobImpl<T extends JobItem> {
  /** Checks parameters and opens what the job needs; throws a JobError to refuse the job. */
  prepare?(ctx: RunContext): Promise<void>;
  total(): number;
  /** Items after `after` (the checkpoint), in cursor order. */
  items(after: string | undefined, signal: AbortSignal): AsyncIterable<T>;
  process(item: T, ctx: RunContext): Promise<ItemOutcome>;
  /** After the last item: the summary to keep with the job. */
  finish?(job: JobRecord): Promise<Record<string, unknown> | undefined>;
  /** Items worked on at once. */
  concurrency: number;
}

/** A request the job framework refuses (bad parameters, a conflicting job): the admin API answers 4xx. */
export class JobError extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const MAX_ERRORS = 50;
/** A job stops (failed) after this many failures in a row: the KMS is down, a key is gone... */
const MAX_CONSECUTIVE_FAILURES = 25;
const SAVE_EVERY_MS = 250;

function zero(): JobCounts {
  return { total: 0, scanned: 0, changed: 0, skipped: 0, raced: 0, failed: 0, bytes: 0 };
}

function sameParams(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const norm = (o: Record<string, unknown>) => JSON.stringify(Object.keys(o).filter((k) => o[k] !== undefined && k !== 'maxRate').sort().map((k) => [k, o[k]]));
  return norm(a) === norm(b);
}

interface Running {
  job: JobRecord;
  abort: AbortController;
  /** Why it is being stopped: `cancel` ends it cancelled; `shutdown` leaves it running for the next start. */
  stopping?: 'cancel' | 'shutdown';
  done: Promise<void>;
}

export type JobFactory = (kind: JobKind, params: Record<string, unknown>) => JobImpl<JobItem>;

export class JobManager {
  private readonly db: Database<JobRecord, string>;
  private readonly running = new Map<string, Running>();
  private closed = false;

  constructor(
    store: Store,
    private readonly factory: JobFactory,
    private readonly log: (line: string) => void,
    private readonly onFinished: (job: JobRecord) => void = () => {},
  ) {
    this.db = store.database<JobRecord>('kmsjobs');
  }

  get(id: string): JobRecord | undefined {
    return this.running.get(id)?.job ?? this.db.get(id);
  }

  /** Newest first. */
  list(limit = 50): JobRecord[] {
    const all: JobRecord[] = [];
    for (const { value } of this.db.getRange({})) all.push(this.running.get(value.id)?.job ?? value);
    return all.sort((a, b) => b.created - a.created).slice(0, limit);
  }

  /**
   * Starts a job, or attaches to the running one with the same parameters, or resumes the last
   * stopped (cancelled, failed, interrupted) one with the same parameters from its checkpoint.
   */
  async start(kind: JobKind, params: Record<string, unknown>): Promise<{ job: JobRecord; attached: boolean; resumed: boolean }> {
    if (this.closed) throw new JobError('the server is shutting down', 503);
    for (const r of [...this.running.values()]) {
      if (r.job.kind !== kind) continue;
      if (r.job.state !== 'running') {
        await r.done; // finishing: its record is being saved
        continue;
      }
      if (sameParams(r.job.params, params) && r.stopping !== 'cancel') return { job: r.job, attached: true, resumed: false };
      throw new JobError(`a ${kind} job is already running (${r.job.id}, ${JSON.stringify(r.job.params)}); wait for it or cancel it (akko-storage kms jobs cancel ${r.job.id})`, 409);
    }
    const impl = this.factory(kind, params);
    const previous = this.list(1000).find((j) => j.kind === kind && j.state !== 'succeeded' && sameParams(j.params, params));
    let job: JobRecord;
    let resumed = false;
    const now = Date.now();
    if (previous) {
      job = { ...previous, params, state: 'running', started: now, updated: now, runs: previous.runs + 1, errors: [], message: undefined, finished: undefined };
      resumed = true;
    } else {
      job = { id: randomUUID(), kind, params, state: 'running', created: now, started: now, updated: now, runs: 1, counts: zero(), errors: [] };
    }
    await this.launch(job, impl);
    return { job, attached: false, resumed };
  }

  /** At server start: every job left running by a crash or a shutdown goes on from its checkpoint. */
  async resumeAll(): Promise<void> {
    for (const { value } of this.db.getRange({})) {
      if (value.state !== 'running' || this.running.has(value.id)) continue;
      let impl: JobImpl<JobItem>;
      try {
        impl = this.factory(value.kind, value.params);
      } catch (e) {
        await this.db.put(value.id, { ...value, state: 'failed', updated: Date.now(), message: `could not resume: ${(e as Error).message}` });
        continue;
      }
      this.log(`kms job ${value.id} (${value.kind}) resumed from its checkpoint`);
      await this.launch({ ...value, started: Date.now(), runs: value.runs + 1 }, impl).catch((e) => this.log(`kms job ${value.id} could not resume: ${(e as Error).message}`));
    }
  }

  /** Ctrl-C in the CLI: stop at the next item, keep the checkpoint, end `cancelled`. */
  async cancel(id: string): Promise<JobRecord | undefined> {
    const r = this.running.get(id);
    if (!r) return this.get(id);
    r.stopping = 'cancel';
    r.abort.abort();
    await r.done;
    return this.get(id);
  }

  /** Server shutdown: stop every job where it is; they stay `running` and resume at the next start. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.running.values()];
    for (const r of all) {
      r.stopping ??= 'shutdown';
      r.abort.abort();
    }
    await Promise.all(all.map((r) => r.done));
  }

  runningJobs(): JobRecord[] {
    return [...this.running.values()].map((r) => r.job);
  }

  private async launch(job: JobRecord, impl: JobImpl<JobItem>): Promise<void> {
    const abort = new AbortController();
    const r: Running = { job, abort, done: Promise.resolve() };
    this.running.set(job.id, r);
    try {
      await this.db.put(job.id, job);
    } catch (e) {
      this.running.delete(job.id);
      throw e;
    }
    r.done = this.run(r, impl).finally(() => {
      this.running.delete(job.id);
    });
  }

  private async run(r: Running, impl: JobImpl<JobItem>): Promise<void> {
    const job = r.job;
    const signal = r.abort.signal;
    const maxRate = Number(job.params.maxRate ?? 0);
    let nextSlot = 0;
    const ctx: RunContext = {
      params: job.params,
      signal,
      async pace() {
        if (!(maxRate > 0)) return;
        const now = Date.now();
        nextSlot = Math.max(nextSlot, now);
        const wait = nextSlot - now;
        nextSlot += 1000 / maxRate;
        if (wait > 0) await sleep(wait, signal);
      },
      addBytes(n: number) {
        job.counts.bytes += n;
      },
    };
    let dirty = true;
    let saving: Promise<void> | undefined;
    const save = async () => {
      if (saving) await saving;
      if (!dirty) return;
      dirty = false;
      job.updated = Date.now();
      saving = this.db.put(job.id, structuredClone(job)).then(
        () => undefined,
        (e: Error) => this.log(`kms job ${job.id}: could not save progress: ${e.message}`),
      );
      await saving;
      saving = undefined;
    };
    const timer = setInterval(() => {
      dirty = true;
      void save();
    }, SAVE_EVERY_MS);
    timer.unref();
    try {
      await impl.prepare?.(ctx);
      // A resumed run counts on from the checkpoint; what came after it is looked at again.
      job.counts = { ...(job.checkpointCounts ?? zero()), total: impl.total() };
      this.gauge(job);
      let consecutive = 0;
      let stopReason: string | undefined;
      // Items in flight, in cursor order; the checkpoint advances over the finished prefix, and
      // never past a failed item (a resumed run retries it).
      const window: Array<{ item: JobItem; state: 'busy' | 'ok' | 'failed' | 'stopped' }> = [];
      let blocked = false;
      const advance = () => {
        while (window.length && window[0]!.state !== 'busy') {
          const w = window.shift()!;
          if (w.state !== 'ok') blocked = true;
          if (!blocked) {
            job.checkpoint = w.item.cursor;
            job.checkpointCounts = { ...job.counts };
          }
        }
      };
      const inflight = new Set<Promise<void>>();
      for await (const item of impl.items(job.checkpoint, signal)) {
        if (signal.aborted || stopReason) break;
        const slot = { item, state: 'busy' as 'busy' | 'ok' | 'failed' | 'stopped' };
        window.push(slot);
        const p = (async () => {
          try {
            const outcome = await impl.process(item, ctx);
            job.counts[outcome]++;
            job.counts.scanned++;
            slot.state = 'ok';
            consecutive = 0;
          } catch (e) {
            if (signal.aborted && isAbort(e)) {
              // Stopped while waiting for its turn: not a failure, and not done.
              slot.state = 'stopped';
              return;
            }
            job.counts.failed++;
            job.counts.scanned++;
            slot.state = 'failed';
            consecutive++;
            const msg = errorText(e);
            if (job.errors.length < MAX_ERRORS) job.errors.push({ item: item.label, error: msg });
            this.log(`kms job ${job.id} (${job.kind}): ${item.label}: ${msg}`);
            if (consecutive >= MAX_CONSECUTIVE_FAILURES) stopReason = `stopped after ${consecutive} failures in a row; last: ${msg}`;
          } finally {
            advance();
            dirty = true;
          }
        })();
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        if (inflight.size >= impl.concurrency) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      advance();
      if (r.stopping === 'shutdown') {
        // Left `running`: the next start resumes it.
        job.message = 'interrupted by a server shutdown; resumes when the server starts again';
      } else if (r.stopping === 'cancel') {
        job.state = 'cancelled';
        job.message = `cancelled at ${job.counts.scanned}/${job.counts.total}; run the same command again to resume from the checkpoint`;
      } else {
        job.summary = (await impl.finish?.(job)) ?? job.summary;
        if (stopReason) {
          job.state = 'failed';
          job.message = stopReason;
        } else if (job.counts.failed > 0) {
          job.state = 'failed';
          job.message = `${job.counts.failed} item(s) failed; fix the cause and run the same command again (it retries them and skips what is done)`;
        } else {
          job.state = 'succeeded';
          // Done: a later job with the same parameters starts from the beginning.
          job.checkpoint = undefined;
          job.checkpointCounts = undefined;
        }
      }
    } catch (e) {
      job.state = 'failed';
      job.message = errorText(e);
      this.log(`kms job ${job.id} (${job.kind}) failed: ${job.message}`);
    } finally {
      clearInterval(timer);
      if (job.state !== 'running') job.finished = Date.now();
      dirty = true;
      await save();
      this.gauge(job);
      if (job.state !== 'running') {
        this.log(`kms job ${job.id} (${job.kind}) ${job.state}: ${JSON.stringify(job.counts)}${job.message ? ` ${job.message}` : ''}`);
        try {
          this.onFinished(job);
        } catch {
          // a metrics refresh must not fail the job
        }
      }
    }
  }

  private gauge(job: JobRecord): void {
    for (const k of ['total', 'scanned', 'changed', 'skipped', 'raced', 'failed'] as const) kmsJobItems.set({ kind: job.kind, state: k }, job.counts[k]);
  }
}

export function errorText(e: unknown): string {
  const err = e as Error & { code?: string; s3Code?: string };
  const code = err?.s3Code ?? err?.code;
  return `${code && !String(err?.message).includes(code) ? `${code}: ` : ''}${err?.message ?? String(e)}`;
}

function isAbort(e: unknown): boolean {
  return (e as Error)?.name === 'AbortError';
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
