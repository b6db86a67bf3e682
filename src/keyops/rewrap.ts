// `kms rewrap`: every bucket-key record (not the objects: their keys are wrapped by the bucket
// key, which does not change) re-wrapped under the newest version of its KMS key, another key,
// or another provider. One KMS call per record (ReEncrypt; Decrypt + Encrypt across providers),
// one compare-and-swap per record; records already as wanted are skipped without a KMS call.
import type { Encryption } from '../../kms/keys.js';
import { LocalKmsProvider } from '../../kms/providers/local.js';
import type { BucketKeyRecord, KmsProvider } from '../../kms/types.js';
import type { Config } from '../config.js';
import type { Store } from '../store/store.js';
import { JobError, type ItemOutcome, type JobImpl, type JobItem, type JobRecord, type RunContext } from './jobs.js';
import { openAws, regionOf, rememberAws, rememberedAws } from './providers.js';

/** Bumped by `kms rotate` and `kms keys create`: running jobs look at the keys' current versions again. */
export const keyGeneration = { value: 0 };
/** How long a destination key's current version is trusted (an AWS automatic rotation is seen within this). */
const DESCRIBE_TTL_MS = 60_000;

export interface RewrapParams {
  bucket?: string;
  toKey?: string;
  toProvider?: 'local' | 'aws';
  /** aws destination only: a KMS-compatible endpoint and region (default: remembered, then the configured ones). */
  toEndpoint?: string;
  toRegion?: string;
  dryRun?: boolean;
  maxRate?: number;
}

interface Item extends JobItem {
  id: string;
}

interface Dest {
  provider: 'local' | 'aws';
  keyId: string;
}

/** Key id (local name, aws ARN) and current version of a destination, described once per run. */
interface Described {
  keyId: string;
  currentVersion?: string;
}

export function checkRewrapParams(p: Record<string, unknown>): RewrapParams {
  const out: RewrapParams = {};
  if (p.bucket !== undefined) out.bucket = String(p.bucket);
  if (p.toKey !== undefined) out.toKey = String(p.toKey);
  if (p.toProvider !== undefined) {
    if (p.toProvider !== 'local' && p.toProvider !== 'aws') throw new JobError(`--to-provider must be local or aws, not ${JSON.stringify(p.toProvider)}`);
    out.toProvider = p.toProvider;
  }
  if (p.toEndpoint !== undefined) out.toEndpoint = String(p.toEndpoint);
  if (p.toRegion !== undefined) out.toRegion = String(p.toRegion);
  if (p.dryRun) out.dryRun = true;
  if (p.maxRate !== undefined) {
    const r = Number(p.maxRate);
    if (!(r > 0)) throw new JobError(`--max-rate must be a positive number, not ${JSON.stringify(p.maxRate)}`);
    out.maxRate = r;
  }
  if ((out.toEndpoint || out.toRegion) && out.toProvider !== 'aws') throw new JobError('--to-endpoint and --to-region need --to-provider aws');
  return out;
}

/** Same provider and key, and (when the KMS tells) the current version: nothing to do. */
function isCurrent(rec: BucketKeyRecord, dest: Dest, d: Described): boolean {
  if (rec.provider !== dest.provider) return false;
  if (rec.kmsKeyId !== d.keyId) return false;
  return d.currentVersion !== undefined && rec.keyVersion === d.currentVersion;
}

export class RewrapJob implements JobImpl<Item> {
  readonly concurrency = 4;
  private readonly p: RewrapParams;
  /** Destination keys described, each for at most DESCRIBE_TTL_MS or until the next `kms rotate` in this server. */
  private readonly described = new Map<string, { at: number; generation: number; d: Promise<Described> }>();

  constructor(
    params: Record<string, unknown>,
    private readonly deps: { config: Config; store: Store; encryption: Encryption; log: (line: string) => void },
  ) {
    this.p = checkRewrapParams(params);
  }

  async prepare(): Promise<void> {
    const { encryption, config, store } = this.deps;
    const to = this.p.toProvider;
    if (this.p.bucket !== undefined && !store.getBucket(this.p.bucket)) throw new JobError(`no bucket ${this.p.bucket}`, 404);
    if (to && to !== encryption.provider.name) {
      // The destination must also be open for reading, from the first record moved on.
      const existing = encryption.rawProvider(to);
      if (to === 'aws') {
        if (!this.p.toKey) throw new JobError('--to-provider aws needs --to-key (a key id, ARN or alias of the destination KMS)');
        const remembered = rememberedAws(store) ?? {};
        const settings = { endpoint: this.p.toEndpoint ?? remembered.endpoint ?? config.kmsEndpoint, region: this.p.toRegion ?? regionOf(this.p.toKey) ?? remembered.region, keyId: this.p.toKey };
        if (!existing || this.p.toEndpoint || this.p.toRegion) {
          const aws = openAws(settings);
          await aws.describeKey(this.p.toKey); // refuses an unknown or unreachable key before anything moves
          encryption.addProvider(aws);
        }
        await rememberAws(store, { endpoint: settings.endpoint, region: settings.region });
      } else if (!existing) {
        const local = await LocalKmsProvider.open({ dataDir: config.dataDir, defaultKeyName: this.p.toKey });
        encryption.addProvider(local);
      }
    }
    // Fail early (and once) on a destination key that does not exist.
    if (this.p.toKey) await this.describe({ provider: to ?? encryption.provider.name, keyId: this.p.toKey });
  }

  total(): number {
    let n = 0;
    for (const _ of this.deps.encryption.records.list(this.p.bucket)) n++;
    return n;
  }

  async *items(after: string | undefined, signal: AbortSignal): AsyncIterable<Item> {
    // Ids are listed in store (id) order; the checkpoint is the last id done.
    const ids = [...this.deps.encryption.records.list(this.p.bucket)].map((r) => r.id).sort();
    for (const id of ids) {
      if (signal.aborted) return;
      if (after !== undefined && id <= after) continue;
      yield { id, cursor: id, label: `bucket key ${id}` };
    }
  }

  private destOf(rec: BucketKeyRecord): Dest {
    const provider = this.p.toProvider ?? rec.provider;
    const provider0 = this.deps.encryption.providerFor(provider);
    if (!provider0) throw new JobError(`bucket key ${rec.id} is wrapped by the ${provider} KMS, which this server has not opened`, 409);
    const keyId = this.p.toKey ?? (provider === rec.provider ? rec.kmsKeyId : provider0.defaultKeyId());
    return { provider, keyId };
  }

  private describe(dest: Dest): Promise<Described> {
    const k = `${dest.provider}\0${dest.keyId}`;
    const hit = this.described.get(k);
    let d = hit && hit.generation === keyGeneration.value && Date.now() - hit.at < DESCRIBE_TTL_MS ? hit.d : undefined;
    if (!d) {
      const p: KmsProvider | undefined = this.deps.encryption.providerFor(dest.provider);
      if (!p) return Promise.reject(new JobError(`the ${dest.provider} KMS is not open in this server`, 409));
      d = p.describeKey(dest.keyId).then((x) => {
        if (x.state !== 'Enabled') throw new JobError(`destination key ${x.keyId} is ${x.state}`, 409);
        const out: Described = { keyId: x.keyId };
        if (x.currentVersion) out.currentVersion = x.currentVersion;
        return out;
      });
      d.catch(() => this.described.delete(k));
      this.described.set(k, { at: Date.now(), generation: keyGeneration.value, d });
    }
    return d;
  }

  async process(item: Item, ctx: RunContext): Promise<ItemOutcome> {
    const rec = this.deps.encryption.records.get(item.id);
    if (!rec) return 'skipped';
    const dest = this.destOf(rec);
    if (isCurrent(rec, dest, await this.describe(dest))) return 'skipped';
    if (this.p.dryRun) return 'changed';
    await ctx.pace();
    const r = await this.deps.encryption.rewrapRecord(item.id, { provider: dest.provider, keyId: dest.keyId });
    if (r.status === 'rewrapped') return 'changed';
    if (r.status === 'missing') return 'skipped';
    return 'raced';
  }

  async finish(job: JobRecord): Promise<Record<string, unknown>> {
    const refs = referenceSummary(this.deps.encryption).references;
    // Every version of the keys involved, with its bucket keys and whether it is current: the
    // old ones at 0 are what `kms retire` may remove.
    const versions: Array<{ provider: string; key: string; version: string; bucketKeys: number; current: boolean }> = [];
    const seen = new Set<string>();
    const local = this.deps.encryption.rawProvider('local');
    if (local instanceof LocalKmsProvider) {
      const keys = new Set(refs.filter((r) => r.provider === 'local').map((r) => r.key));
      for (const v of local.keyVersions()) {
        if (!keys.has(v.name)) continue;
        const n = refs.find((r) => r.provider === 'local' && r.key === v.name && r.version === v.version)?.bucketKeys ?? 0;
        versions.push({ provider: 'local', key: v.name, version: v.version, bucketKeys: n, current: v.current });
        seen.add(`local\0${v.name}\0${v.version}`);
      }
    }
    for (const r of refs) {
      if (seen.has(`${r.provider}\0${r.key}\0${r.version}`)) continue;
      let current = false;
      const d = await this.describe({ provider: r.provider as Dest['provider'], keyId: r.key }).catch(() => undefined);
      if (d?.currentVersion !== undefined) current = d.currentVersion === r.version;
      versions.push({ provider: r.provider, key: r.key, version: r.version, bucketKeys: r.bucketKeys, current });
    }
    return { references: refs, versions, dryRun: !!this.p.dryRun, jobCounts: job.counts };
  }
}

export interface VersionRefs {
  provider: string;
  key: string;
  version: string;
  bucketKeys: number;
  buckets: string[];
}

/** How many bucket-key records each (provider, key, version) wraps: what `kms retire` checks. */
export function referenceSummary(encryption: Encryption): { references: VersionRefs[] } {
  const m = new Map<string, VersionRefs>();
  for (const r of encryption.records.list()) {
    const k = `${r.provider}\0${r.kmsKeyId}\0${r.keyVersion ?? ''}`;
    let e = m.get(k);
    if (!e) m.set(k, (e = { provider: r.provider, key: r.kmsKeyId, version: r.keyVersion ?? '', bucketKeys: 0, buckets: [] }));
    e.bucketKeys++;
    if (!e.buckets.includes(r.bucket)) e.buckets.push(r.bucket);
  }
  return { references: [...m.values()].sort((a, b) => (a.provider + a.key + a.version).localeCompare(b.provider + b.key + b.version)) };
}
