// Unwrapped bucket keys in memory: bounded in entries, age and uses, zeroed when dropped.
// Concurrent misses share one load (one KMS Decrypt), and a failed load is remembered for a
// few seconds so that an outage costs the KMS one call per key per window, not one per request.
import { IntegrityError, KmsError } from './errors.js';
import { keyCacheEvictions, keyCacheHits, keyCacheMisses } from './metrics.js';

export interface KeyCacheOptions {
  /** Most keys held at once (least recently used goes first). Default 1000. */
  maxEntries?: number;
  /** How long a plaintext key may stay in memory after it was loaded. Default 15 min. */
  maxAgeMs?: number;
  /** Uses of one loaded key before it is dropped and loaded again. Default 1,000,000. */
  maxUses?: number;
  /** How long a failed load is answered from memory. Default 5 s. */
  negativeTtlMs?: number;
  /** Period of the background sweep that zeroes expired keys even when idle. Default 60 s; 0 = none. */
  sweepIntervalMs?: number;
  now?: () => number;
}

interface Entry {
  key: Buffer;
  expires: number;
  uses: number;
}

export class KeyCache {
  private readonly entries = new Map<string, Entry>();
  private readonly loading = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, { error: unknown; until: number }>();
  private readonly maxEntries: number;
  private readonly maxAgeMs: number;
  private readonly maxUses: number;
  private readonly negativeTtlMs: number;
  private readonly now: () => number;
  private readonly timer?: NodeJS.Timeout;

  constructor(opts: KeyCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 1000;
    this.maxAgeMs = opts.maxAgeMs ?? 15 * 60_000;
    this.maxUses = opts.maxUses ?? 1_000_000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 5000;
    this.now = opts.now ?? Date.now;
    const every = opts.sweepIntervalMs ?? 60_000;
    if (every > 0) {
      this.timer = setInterval(() => this.sweep(), every);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.entries.size;
  }

  has(id: string): boolean {
    const e = this.entries.get(id);
    return e !== undefined && e.expires > this.now();
  }

  /**
   * Runs fn with the key for id, loading it on a miss. fn is synchronous so that the key cannot
   * be evicted (and zeroed) while in use. The cache owns what load returns.
   */
  async use<T>(id: string, load: () => Promise<Buffer>, fn: (key: Buffer) => T): Promise<T> {
    let first = true;
    for (;;) {
      const e = this.lookup(id);
      if (e) {
        if (first) keyCacheHits.inc();
        e.uses++;
        try {
          return fn(e.key);
        } finally {
          if (e.uses >= this.maxUses) this.evict(id, 'uses');
        }
      }
      const failed = this.failures.get(id);
      if (failed && failed.until > this.now()) {
        keyCacheMisses.inc({ result: 'negative' });
        throw failed.error;
      }
      if (first) keyCacheMisses.inc({ result: 'load' });
      first = false;
      let p = this.loading.get(id);
      if (!p) {
        p = this.load(id, load);
        this.loading.set(id, p);
      }
      await p;
      // Loop: the entry may already be gone again (maxUses reached by another waiter).
    }
  }

  private async load(id: string, load: () => Promise<Buffer>): Promise<void> {
    try {
      const key = await load();
      this.failures.delete(id);
      this.set(id, key);
    } catch (e) {
      if (e instanceof KmsError || e instanceof IntegrityError) this.failures.set(id, { error: e, until: this.now() + this.negativeTtlMs });
      throw e;
    } finally {
      this.loading.delete(id);
    }
  }

  /** Adds a key already in hand (a freshly generated bucket key); the cache takes ownership. */
  set(id: string, key: Buffer): void {
    const old = this.entries.get(id);
    if (old && old.key !== key) old.key.fill(0);
    this.entries.delete(id);
    this.entries.set(id, { key, expires: this.now() + this.maxAgeMs, uses: 0 });
    while (this.entries.size > this.maxEntries) this.evict(this.entries.keys().next().value!, 'size');
  }

  private lookup(id: string): Entry | undefined {
    const e = this.entries.get(id);
    if (!e) return undefined;
    if (e.expires <= this.now()) {
      this.evict(id, 'age');
      return undefined;
    }
    // Map order is the LRU order: re-insert on use.
    this.entries.delete(id);
    this.entries.set(id, e);
    return e;
  }

  private evict(id: string, reason: 'size' | 'age' | 'uses' | 'explicit'): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    e.key.fill(0);
    keyCacheEvictions.inc({ reason });
  }

  delete(id: string): void {
    this.evict(id, 'explicit');
  }

  /** Drops (and zeroes) every expired key. */
  sweep(): void {
    const now = this.now();
    for (const [id, e] of this.entries) if (e.expires <= now) this.evict(id, 'age');
    for (const [id, f] of this.failures) if (f.until <= now) this.failures.delete(id);
  }

  /** Zeroes everything and stops the sweep. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    for (const id of [...this.entries.keys()]) this.evict(id, 'explicit');
    this.failures.clear();
  }
}
