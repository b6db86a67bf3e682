// The bucket-key cache: bounds (entries, age, uses) with zeroing, single-flight loads and
// negative caching of KMS failures.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { KeyCache } from '../../kms/cache.js';
import { KmsUnavailableError } from '../../kms/errors.js';
import { registry } from '../../src/metrics.js';

const caches: KeyCache[] = [];
function cache(opts: ConstructorParameters<typeof KeyCache>[0] = {}): KeyCache {
  const c = new KeyCache({ sweepIntervalMs: 0, ...opts });
  caches.push(c);
  return c;
}
afterEach(() => caches.splice(0).forEach((c) => c.close()));

const isZero = (b: Buffer) => b.every((x) => x === 0);
const loadOf = (k: Buffer) => async () => k;
const deferred = <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((a, b) => ((resolve = a), (reject = b)));
  return { promise, resolve, reject };
};
async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = await registry.getSingleMetric(name)!.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((a, v) => a + v.value, 0);
}

describe('KeyCache bounds', () => {
  it('evicts the least recently used entry beyond maxEntries and zeroes it', async () => {
    const c = cache({ maxEntries: 2 });
    const [a, b, d] = [randomBytes(32), randomBytes(32), randomBytes(32)];
    await c.use('a', loadOf(a), () => 0);
    await c.use('b', loadOf(b), () => 0);
    await c.use('a', loadOf(randomBytes(32)), () => 0); // a is now most recent
    await c.use('d', loadOf(d), () => 0);
    expect(isZero(b)).toBe(true);
    expect(isZero(a)).toBe(false);
    expect(isZero(d)).toBe(false);
    expect(c.size).toBe(2);
    expect(c.has('b')).toBe(false);
  });

  it('expires by age and zeroes (on access and on sweep)', async () => {
    let now = 1000;
    const c = cache({ maxAgeMs: 100, now: () => now });
    const a = randomBytes(32);
    const b = randomBytes(32);
    await c.use('a', loadOf(a), () => 0);
    await c.use('b', loadOf(b), () => 0);
    now += 101;
    c.sweep();
    expect(isZero(a) && isZero(b)).toBe(true);
    let loads = 0;
    const fresh = randomBytes(32);
    const seen = await c.use('a', async () => (loads++, fresh), (k) => Buffer.from(k));
    expect(loads).toBe(1);
    expect(seen.equals(fresh)).toBe(true);
  });

  it('drops a key after maxUses and loads it again', async () => {
    const c = cache({ maxUses: 3 });
    const keys: Buffer[] = [];
    const load = async () => {
      const k = randomBytes(32);
      keys.push(k);
      return k;
    };
    for (let i = 0; i < 7; i++) await c.use('a', load, (k) => expect(isZero(k)).toBe(false));
    expect(keys.length).toBe(3);
    expect(isZero(keys[0]!) && isZero(keys[1]!)).toBe(true);
    expect(isZero(keys[2]!)).toBe(false);
  });

  it('close zeroes everything', async () => {
    const c = cache();
    const a = randomBytes(32);
    c.set('a', a);
    c.close();
    expect(isZero(a)).toBe(true);
    expect(c.size).toBe(0);
  });

  it('set replaces and zeroes the old key', () => {
    const c = cache();
    const a = randomBytes(32);
    c.set('x', a);
    c.set('x', randomBytes(32));
    expect(isZero(a)).toBe(true);
  });
});

describe('KeyCache loads', () => {
  it('concurrent misses share one load', async () => {
    const c = cache();
    const d = deferred<Buffer>();
    let loads = 0;
    const load = () => (loads++, d.promise);
    const key = randomBytes(32);
    const users = Array.from({ length: 50 }, () => c.use('k', load, (k) => k.toString('hex')));
    d.resolve(Buffer.from(key));
    const seen = await Promise.all(users);
    expect(loads).toBe(1);
    expect(new Set(seen)).toEqual(new Set([key.toString('hex')]));
  });

  it('concurrent waiters with maxUses 1 each get a live key', async () => {
    const c = cache({ maxUses: 1 });
    let loads = 0;
    const load = async () => (loads++, randomBytes(32));
    const seen = await Promise.all(Array.from({ length: 5 }, () => c.use('k', load, (k) => isZero(k))));
    expect(seen).toEqual([false, false, false, false, false]);
    expect(loads).toBe(5);
  });

  it('a failed load is shared by its waiters and remembered for negativeTtlMs', async () => {
    let now = 0;
    const c = cache({ negativeTtlMs: 5000, now: () => now });
    let loads = 0;
    const err = new KmsUnavailableError('aws', 'k1', 'ECONNREFUSED');
    const failing = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 5));
      throw err;
    };
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => c.use('k', failing, () => 1)));
    expect(results.every((r) => r.status === 'rejected' && r.reason === err)).toBe(true);
    expect(loads).toBe(1);
    const negBefore = await metric('akko_kms_key_cache_misses_total', { result: 'negative' });
    for (let i = 0; i < 10; i++) await expect(c.use('k', failing, () => 1)).rejects.toBe(err);
    expect(loads).toBe(1);
    expect(await metric('akko_kms_key_cache_misses_total', { result: 'negative' })).toBe(negBefore + 10);
    now += 5001;
    await expect(c.use('k', async () => (loads++, randomBytes(32)), () => 'ok')).resolves.toBe('ok');
    expect(loads).toBe(2);
  });

  it('does not remember failures that are not KMS or integrity errors', async () => {
    const c = cache();
    let loads = 0;
    await expect(c.use('k', async () => (loads++, Promise.reject(new TypeError('bug'))), () => 1)).rejects.toThrow('bug');
    await expect(c.use('k', async () => (loads++, randomBytes(32)), () => 2)).resolves.toBe(2);
    expect(loads).toBe(2);
  });

  it('counts hits and misses', async () => {
    const c = cache();
    const h0 = await metric('akko_kms_key_cache_hits_total');
    const m0 = await metric('akko_kms_key_cache_misses_total', { result: 'load' });
    await c.use('k', loadOf(randomBytes(32)), () => 0);
    await c.use('k', loadOf(randomBytes(32)), () => 0);
    await c.use('k', loadOf(randomBytes(32)), () => 0);
    expect(await metric('akko_kms_key_cache_hits_total')).toBe(h0 + 2);
    expect(await metric('akko_kms_key_cache_misses_total', { result: 'load' })).toBe(m0 + 1);
  });
});
