// `kms status`: per bucket, objects and bytes by protection (plaintext, or the provider, KMS key
// and key version that wrap their keys), the bucket-key records by key version, and the
// provider's health from a canary. The same figures are the akko_kms_* gauges.
import { setImmediate as yieldLoop } from 'node:timers/promises';
import { providerOfKeyId, type Encryption } from '../../kms/keys.js';
import { localBlobKid } from '../../kms/providers/local.js';
import type { ObjectEnvelope } from '../../kms/types.js';
import { kmsBucketKeys, kmsBytes, kmsCanarySeconds, kmsCoverageTimestamp, kmsObjects, kmsProviderUp } from '../metrics.js';
import { isStoredEncryption } from '../service/crypto.js';
import type { Store } from '../store/store.js';
import type { ObjectMeta } from '../store/types.js';

export interface Protection {
  /** `plaintext`, or the provider (`local`, `aws`) of the KMS key; `unknown-bucket-key` when an envelope names a record that is not there. */
  protection: string;
  key: string;
  version: string;
  objects: number;
  bytes: number;
}

export interface BucketCoverage {
  bucket: string;
  objects: number;
  bytes: number;
  protections: Protection[];
}

export interface Coverage {
  buckets: BucketCoverage[];
  totals: { objects: number; bytes: number; plaintextObjects: number; plaintextBytes: number };
  bucketKeys: Array<{ provider: string; key: string; version: string; records: number }>;
  computedAt: string;
  /** Objects whose own key the KMS wrapped directly (bucketKeyEnabled false): `kms rewrap` does not re-wrap them. */
  kmsWrappedObjects: number;
}

type Label = { protection: string; key: string; version: string };

/** Labels of the gauge series set per bucket, to drop them when a bucket's figures change. */
const seriesByBucket = new Map<string, Label[]>();

export class CoverageScanner {
  private scanning?: Promise<Coverage>;
  private readonly recordLabels = new Map<string, Label>();

  constructor(
    private readonly store: Store,
    private readonly encryption: Encryption | undefined,
  ) {}

  private labelOf(e: unknown): Label {
    if (!isStoredEncryption(e)) return { protection: 'plaintext', key: '', version: '' };
    const env = e.envelope as ObjectEnvelope;
    if (env.bucketKeyEnabled) {
      let l = this.recordLabels.get(env.bucketKeyId);
      if (!l) {
        const rec = this.encryption?.records.get(env.bucketKeyId);
        l = rec ? { protection: rec.provider, key: rec.kmsKeyId, version: rec.keyVersion ?? '' } : { protection: 'unknown-bucket-key', key: env.kmsKeyId, version: '' };
        this.recordLabels.set(env.bucketKeyId, l);
      }
      return l;
    }
    const provider = providerOfKeyId(env.kmsKeyId);
    let version = '';
    if (provider === 'local') {
      const kid = localBlobKid(Buffer.from(env.wrappedKey, 'base64'));
      version = kid ? kid.slice(kid.lastIndexOf('/') + 1) : '';
    }
    return { protection: provider, key: env.kmsKeyId, version };
  }

  /** One pass over the metadata (no blob is read, no KMS is called); yields the event loop between pages. */
  scan(bucket?: string): Promise<Coverage> {
    if (bucket === undefined && this.scanning) return this.scanning;
    const run = this.doScan(bucket);
    if (bucket === undefined) {
      this.scanning = run;
      void run.finally(() => {
        if (this.scanning === run) this.scanning = undefined;
      }).catch(() => {});
    }
    return run;
  }

  private async doScan(only?: string): Promise<Coverage> {
    this.recordLabels.clear(); // a rewrap may have changed them since the last scan
    const buckets: BucketCoverage[] = [];
    let kmsWrapped = 0;
    for (const info of this.store.listBuckets()) {
      if (only !== undefined && info.name !== only) continue;
      const per = new Map<string, Protection>();
      const bc: BucketCoverage = { bucket: info.name, objects: 0, bytes: 0, protections: [] };
      let after: string | undefined;
      for (;;) {
        let page;
        try {
          page = this.store.list(info.name, { after, maxKeys: 1000 });
        } catch {
          break; // deleted meanwhile
        }
        for (const m of page.contents) {
          bc.objects++;
          bc.bytes += m.size;
          const seen = new Set<string>();
          for (const piece of pieces(m)) {
            const l = this.labelOf(piece.encryption);
            if (isStoredEncryption(piece.encryption) && !(piece.encryption.envelope as ObjectEnvelope).bucketKeyEnabled) kmsWrapped++;
            const k = `${l.protection}\0${l.key}\0${l.version}`;
            let p = per.get(k);
            if (!p) per.set(k, (p = { ...l, objects: 0, bytes: 0 }));
            p.bytes += piece.size;
            if (!seen.has(k)) {
              seen.add(k);
              p.objects++;
            }
          }
        }
        if (!page.isTruncated || page.contents.length === 0) break;
        after = page.contents[page.contents.length - 1]!.key;
        await yieldLoop();
      }
      bc.protections = [...per.values()].sort((a, b) => (a.protection + a.key + a.version).localeCompare(b.protection + b.key + b.version));
      buckets.push(bc);
    }
    const keys = new Map<string, { provider: string; key: string; version: string; records: number }>();
    for (const r of this.encryption?.records.list() ?? []) {
      const k = `${r.provider}\0${r.kmsKeyId}\0${r.keyVersion ?? ''}`;
      const e = keys.get(k);
      if (e) e.records++;
      else keys.set(k, { provider: r.provider, key: r.kmsKeyId, version: r.keyVersion ?? '', records: 1 });
    }
    const totals = { objects: 0, bytes: 0, plaintextObjects: 0, plaintextBytes: 0 };
    for (const b of buckets) {
      totals.objects += b.objects;
      totals.bytes += b.bytes;
      for (const p of b.protections) {
        if (p.protection === 'plaintext') {
          totals.plaintextObjects += p.objects;
          totals.plaintextBytes += p.bytes;
        }
      }
    }
    const cov: Coverage = { buckets, totals, bucketKeys: [...keys.values()], computedAt: new Date().toISOString(), kmsWrappedObjects: kmsWrapped };
    this.setGauges(cov, only === undefined);
    return cov;
  }

  private setGauges(cov: Coverage, full: boolean): void {
    const present = new Set(cov.buckets.map((b) => b.bucket));
    for (const [bucket, labels] of seriesByBucket) {
      if (!present.has(bucket) && !full) continue;
      for (const l of labels) {
        kmsObjects.remove({ bucket, ...l });
        kmsBytes.remove({ bucket, ...l });
      }
      seriesByBucket.delete(bucket);
    }
    for (const b of cov.buckets) {
      const labels: Label[] = [];
      for (const p of b.protections) {
        const l = { protection: p.protection, key: p.key, version: p.version };
        labels.push(l);
        kmsObjects.set({ bucket: b.bucket, ...l }, p.objects);
        kmsBytes.set({ bucket: b.bucket, ...l }, p.bytes);
      }
      seriesByBucket.set(b.bucket, labels);
    }
    kmsBucketKeys.reset();
    for (const k of cov.bucketKeys) kmsBucketKeys.set({ provider: k.provider, key: k.key, version: k.version }, k.records);
    if (full) kmsCoverageTimestamp.set(Date.now() / 1000);
  }
}

function pieces(m: ObjectMeta): Array<{ size: number; encryption?: unknown }> {
  return m.parts && m.parts.length > 0 ? m.parts : [{ size: m.size, encryption: m.encryption }];
}

export interface Health {
  provider: string;
  keyId: string;
  ok: boolean;
  latencyMs: number;
  error?: string;
  code?: string;
  operations: string[];
  readers: Array<{ provider: string; ok: boolean; bucketKey?: string; error?: string }>;
}

/** The canary: GenerateDataKey + Decrypt with the default key; each reader decrypts one stored bucket key. */
export async function health(encryption: Encryption, bucket: string): Promise<Health> {
  const c = await encryption.canary(bucket);
  kmsProviderUp.reset();
  kmsProviderUp.set({ provider: c.provider, key: c.keyId }, c.ok ? 1 : 0);
  kmsCanarySeconds.set({ provider: c.provider }, c.latencyMs / 1000);
  const readers: Health['readers'] = [];
  for (const name of encryption.providerNames()) {
    if (name === encryption.provider.name) continue;
    const rec = [...encryption.records.list()].find((r) => r.provider === name);
    if (!rec) {
      readers.push({ provider: name, ok: true });
      continue;
    }
    const r = await encryption.probeRecord(rec.id);
    readers.push({ provider: name, ok: r.ok, bucketKey: rec.id, error: r.error });
    kmsProviderUp.set({ provider: name, key: rec.kmsKeyId }, r.ok ? 1 : 0);
  }
  const out: Health = { ...c, operations: ['GenerateDataKey', 'Decrypt'], readers };
  return out;
}
