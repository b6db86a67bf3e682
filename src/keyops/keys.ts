// kms keys list|create|describe, kms rotate, kms retire: synchronous operations on the KMS
// keys, run in the server (whose providers hold the keyring in memory and whose records say
// which key versions are still in use).
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { Encryption } from '../../kms/keys.js';
import { providerOfKeyId } from '../../kms/keys.js';
import { AwsKmsProvider } from '../../kms/providers/aws.js';
import { keyringStorage, LocalKmsProvider, localBlobKid } from '../../kms/providers/local.js';
import type { ObjectEnvelope } from '../../kms/types.js';
import type { Config } from '../config.js';
import { isStoredEncryption } from '../service/crypto.js';
import type { Store } from '../store/store.js';
import { JobError } from './jobs.js';
import { openAws, regionOf, rememberedAws } from './providers.js';
import { keyGeneration } from './rewrap.js';

export interface KeyOpsDeps {
  config: Config;
  store: Store;
  encryption: Encryption;
}

type ProviderName = 'local' | 'aws';

/** AWS KMS clients opened for operator commands against a KMS that is not one of the server's providers. */
const commandClients = new Map<string, AwsKmsProvider>();

function providerParam(v: unknown): ProviderName | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (v !== 'local' && v !== 'aws') throw new JobError(`--provider must be local or aws, not ${JSON.stringify(v)}`);
  return v;
}

/** Which provider a key id names, when the caller did not say: ARNs, aliases and key UUIDs are AWS's. */
function guessProvider(keyId: string | undefined, primary: ProviderName): ProviderName {
  if (!keyId) return primary;
  if (keyId.startsWith('arn:') || keyId.startsWith('alias/') || /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(keyId) || keyId.startsWith('mrk-')) return 'aws';
  return 'local';
}

export class KeyOperations {
  constructor(private readonly d: KeyOpsDeps) {}

  private get primary(): ProviderName {
    return this.d.encryption.provider.name;
  }

  /** The server's local keyring (its own provider or a reader), opening it when asked to and it exists (or `create`). */
  private async local(create = false): Promise<LocalKmsProvider | undefined> {
    const open = this.d.encryption.rawProvider('local');
    if (open instanceof LocalKmsProvider) return open;
    const opts = { dataDir: this.d.config.dataDir, storage: keyringStorage(this.d.config.dataDir, this.d.config.kmsKeyring), records: this.d.encryption.records };
    const p = create ? await LocalKmsProvider.open(opts) : await LocalKmsProvider.openExisting(opts);
    if (!p) return undefined;
    this.d.encryption.addProvider(p);
    return p;
  }

  /** The server's AWS provider (own or reader), else one opened for this command from the remembered or given settings. */
  private aws(params: Record<string, unknown>, keyId?: string): AwsKmsProvider {
    const open = this.d.encryption.rawProvider('aws');
    if (open instanceof AwsKmsProvider && params.endpoint === undefined && params.region === undefined) return open;
    const s = rememberedAws(this.d.store) ?? {};
    const endpoint = (params.endpoint as string | undefined) ?? s.endpoint ?? this.d.config.kmsEndpoint;
    const region = (params.region as string | undefined) ?? regionOf(keyId) ?? s.region;
    // One client per KMS: the key a command names is passed to each call, not taken from here.
    const k = `${endpoint ?? ''}\0${region ?? ''}`;
    let p = commandClients.get(k);
    if (!p) {
      if (commandClients.size >= 8) for (const c of commandClients.values()) c.destroy();
      if (commandClients.size >= 8) commandClients.clear();
      commandClients.set(k, (p = openAws({ endpoint, region, keyId: keyId ?? s.keyId ?? 'alias/akko-storage' })));
    }
    return p;
  }

  private recordCounts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.d.encryption.records.list()) {
      for (const k of [`${r.provider}\0${r.kmsKeyId}`, `${r.provider}\0${r.kmsKeyId}\0${r.keyVersion ?? ''}`]) m.set(k, (m.get(k) ?? 0) + 1);
    }
    return m;
  }

  async list(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const counts = this.recordCounts();
    const providers: Record<string, unknown>[] = [];
    const local = await this.local();
    if (local) providers.push(this.describeLocal(local, counts));
    const awsKeys = new Set<string>();
    if (this.primary === 'aws') awsKeys.add(this.d.encryption.provider.defaultKeyId());
    for (const r of this.d.encryption.records.list()) if (r.provider === 'aws') awsKeys.add(r.kmsKeyId);
    if (awsKeys.size) {
      const aws = this.aws(params, [...awsKeys][0]);
      const keys: Record<string, unknown>[] = [];
      for (const k of awsKeys) keys.push(await this.describeAwsKey(aws, k, counts).catch((e: Error) => ({ keyId: k, error: e.message })));
      providers.push({ provider: 'aws', primary: this.primary === 'aws', defaultKey: this.primary === 'aws' ? this.d.encryption.provider.defaultKeyId() : undefined, keys });
    }
    return { primary: this.primary, providers };
  }

  private describeLocal(local: LocalKmsProvider, counts: Map<string, number>, only?: string): Record<string, unknown> {
    const byName = new Map<string, Record<string, unknown>[]>();
    for (const v of local.keyVersions()) {
      if (only !== undefined && v.name !== only) continue;
      const list = byName.get(v.name) ?? [];
      list.push({ version: v.version, kid: v.kid, current: v.current, created: v.created ? new Date(v.created).toISOString() : undefined, bucketKeys: counts.get(`local\0${v.name}\0${v.version}`) ?? 0 });
      byName.set(v.name, list);
    }
    const def = local.defaultKeyId();
    return {
      provider: 'local',
      primary: this.primary === 'local',
      keyring: local.location,
      defaultKey: def,
      keys: [...byName].map(([name, versions]) => ({ key: name, default: name === def, state: 'Enabled', currentVersion: local.currentKid(name)?.split('/').pop(), versions, bucketKeys: counts.get(`local\0${name}`) ?? 0 })),
    };
  }

  private async describeAwsKey(aws: AwsKmsProvider, keyId: string, counts: Map<string, number>): Promise<Record<string, unknown>> {
    const d = await aws.keyDetails(keyId);
    const versions: Record<string, number> = {};
    for (const [k, n] of counts) {
      const [p, key, version] = k.split('\0');
      if (p === 'aws' && key === d.arn && version !== undefined) versions[version || '(unknown)'] = n;
    }
    return { ...d, default: this.primary === 'aws' && (keyId === this.d.encryption.provider.defaultKeyId() || d.arn === this.d.encryption.provider.defaultKeyId()), bucketKeys: counts.get(`aws\0${d.arn}`) ?? 0, bucketKeysByMaterial: versions };
  }

  async describe(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const keyId = params.keyId ? String(params.keyId) : undefined;
    const provider = providerParam(params.provider) ?? guessProvider(keyId, this.primary);
    const counts = this.recordCounts();
    if (provider === 'local') {
      const local = await this.local();
      if (!local) throw new JobError('this server has no local keyring', 404);
      const name = keyId ? keyId.split('/')[0]! : local.defaultKeyId();
      if (!local.currentKid(name)) throw new JobError(`no key ${name} in the keyring ${local.location}`, 404);
      return this.describeLocal(local, counts, name);
    }
    const id = keyId ?? (this.primary === 'aws' ? this.d.encryption.provider.defaultKeyId() : undefined);
    if (!id) throw new JobError('name the AWS key (--key-id)');
    return { provider: 'aws', ...(await this.describeAwsKey(this.aws(params, id), id, counts)) };
  }

  async create(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const provider = providerParam(params.provider) ?? this.primary;
    if (provider === 'local') {
      const name = params.name ? String(params.name) : undefined;
      if (!name) throw new JobError('name the new key: akko-storage kms keys create NAME');
      const local = (await this.local(true))!;
      try {
        const kid = await local.createKey(name);
        return { provider: 'local', key: name, kid, version: kid.split('/').pop(), keyring: local.location };
      } catch (e) {
        throw new JobError((e as Error).message, /exists/.test((e as Error).message) ? 409 : 400);
      }
    }
    const aws = this.aws(params);
    const r = await aws.createKey({ description: params.description ? String(params.description) : `akko-storage (${this.d.config.region})`, alias: params.alias ? String(params.alias) : undefined });
    return { provider: 'aws', keyId: r.keyId, arn: r.arn, alias: params.alias };
  }

  async rotate(params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const keyId = params.keyId ? String(params.keyId) : undefined;
    const provider = providerParam(params.provider) ?? (keyId ? guessProvider(keyId, this.primary) : this.primary);
    let out: Record<string, unknown>;
    if (provider === 'local') {
      const local = await this.local();
      if (!local) throw new JobError('this server has no local keyring', 404);
      const name = keyId ? keyId.split('/')[0]! : local.defaultKeyId();
      const previous = local.currentKid(name);
      if (!previous) throw new JobError(`no key ${name} in the keyring ${local.location}`, 404);
      const kid = await local.rotate(name);
      out = { provider: 'local', key: name, previousVersion: previous.split('/').pop(), currentVersion: kid.split('/').pop(), versions: local.versions(name).map((k) => k.split('/').pop()) };
    } else {
      const id = keyId ?? (this.primary === 'aws' ? this.d.encryption.provider.defaultKeyId() : undefined);
      if (!id) throw new JobError('name the AWS key (--key-id)');
      const aws = this.aws(params, id);
      const before = await aws.keyDetails(id);
      await aws.rotateOnDemand(id);
      const after = await aws.keyDetails(id);
      out = { provider: 'aws', key: after.arn, previousVersion: before.currentKeyMaterialId, currentVersion: after.currentKeyMaterialId, onDemandRotationStartDate: after.onDemandRotationStartDate };
    }
    keyGeneration.value++;
    // New writes get new bucket keys (under the new material) from now on, not at the end of
    // the current bucket keys' lifetime.
    if (params.retireBucketKeys !== false && (provider === this.primary)) out.bucketKeysRetired = await this.d.encryption.retireBucketKeys();
    return out;
  }

  /**
   * What references a key version (local `name/vN`) or a key (aws): bucket-key records, and
   * objects or in-progress upload parts whose own key the KMS wrapped directly.
   */
  private async references(provider: ProviderName, matchRecord: (kmsKeyId: string, version: string | undefined) => boolean, matchEnvelope: (env: ObjectEnvelope) => boolean) {
    let bucketKeys = 0;
    const buckets = new Set<string>();
    for (const r of this.d.encryption.records.list()) {
      if (r.provider === provider && matchRecord(r.kmsKeyId, r.keyVersion)) {
        bucketKeys++;
        buckets.add(r.bucket);
      }
    }
    let objects = 0;
    const check = (e: unknown): boolean => isStoredEncryption(e) && !(e.envelope as ObjectEnvelope).bucketKeyEnabled && providerOfKeyId((e.envelope as ObjectEnvelope).kmsKeyId) === provider && matchEnvelope(e.envelope as ObjectEnvelope);
    for (const b of this.d.store.listBuckets()) {
      let after: string | undefined;
      for (;;) {
        const page = this.d.store.list(b.name, { after, maxKeys: 1000 });
        for (const m of page.contents) if ((m.parts?.length ? m.parts.map((p) => p.encryption) : [m.encryption]).some(check)) objects++;
        if (!page.isTruncated || !page.contents.length) break;
        after = page.contents[page.contents.length - 1]!.key;
        await yieldLoop();
      }
      let keyMarker: string | undefined;
      let uploadIdMarker: string | undefined;
      for (;;) {
        const ups = this.d.store.listUploads(b.name, { keyMarker, uploadIdMarker, maxUploads: 1000 });
        for (const u of ups.uploads) {
          let marker: number | undefined;
          for (;;) {
            const parts = this.d.store.listParts(b.name, u.uploadId, u.key, { partNumberMarker: marker, maxParts: 1000 });
            for (const p of parts.parts) if (check(p.encryption)) objects++;
            if (!parts.isTruncated) break;
            marker = parts.nextPartNumberMarker;
          }
        }
        if (!ups.isTruncated) break;
        keyMarker = ups.nextKeyMarker;
        uploadIdMarker = ups.nextUploadIdMarker;
      }
    }
    return { bucketKeys, buckets: [...buckets].sort(), objects };
  }

  /** `kms retire`: removes a local key version (or disables an AWS key) that nothing references; otherwise says what does. */
  async retire(params: Record<string, unknown>): Promise<{ retired: boolean; refused?: string; [k: string]: unknown }> {
    const keyId = params.keyId ? String(params.keyId) : '';
    if (!keyId) throw new JobError('name the key version to retire (local: NAME/vN) or the AWS key');
    const provider = providerParam(params.provider) ?? guessProvider(keyId, this.primary);
    const dryRun = !!params.dryRun;
    if (provider === 'local') {
      const local = await this.local();
      if (!local) throw new JobError('this server has no local keyring', 404);
      const m = /^(.+)\/(v[1-9][0-9]*)$/.exec(keyId);
      if (!m) throw new JobError(`name one version of a local key, e.g. ${local.defaultKeyId()}/v1`);
      const [, name, version] = m as unknown as [string, string, string];
      if (!local.hasKid(keyId)) throw new JobError(`no key version ${keyId} in the keyring ${local.location}`, 404);
      const refs = await this.references('local', (k, v) => k === name && v === version, (env) => localBlobKid(Buffer.from(env.wrappedKey, 'base64')) === keyId);
      const out = { provider: 'local', keyId, references: refs, retired: false, dryRun };
      // With another primary KMS, no new key is made under the keyring: its current versions may go too.
      const inUse = this.primary === 'local';
      if (inUse && local.currentKid(name) === keyId) return { ...out, refused: `${keyId} is the current version of ${name}: rotate first (akko-storage kms rotate), re-wrap (akko-storage kms rewrap), then retire it` };
      if (refs.bucketKeys + refs.objects > 0) return { ...out, refused: `${keyId} still wraps ${refs.bucketKeys} bucket key(s)${refs.buckets.length ? ` (buckets ${refs.buckets.join(', ')})` : ''} and ${refs.objects} object key(s); run akko-storage kms rewrap first` };
      if (dryRun) return out;
      try {
        const r = await local.retireVersion(keyId, { allowCurrent: !inUse });
        if (r.archived) {
          this.d.encryption.removeProvider('local');
          return { ...out, retired: true, note: `that was the keyring's last key: the keyring is now archived as ${r.archived}; move it offline or destroy it` };
        }
      } catch (e) {
        return { ...out, refused: (e as Error).message };
      }
      return { ...out, retired: true };
    }
    const aws = this.aws(params, keyId);
    const d = await aws.keyDetails(keyId);
    const refs = await this.references('aws', (k) => k === d.arn, (env) => env.kmsKeyId === d.arn);
    const out = { provider: 'aws', keyId: d.arn, state: d.state, references: refs, retired: false, dryRun };
    const def = this.primary === 'aws' ? this.d.encryption.provider.defaultKeyId() : undefined;
    if (def !== undefined && (def === keyId || def === d.arn || (await aws.keyDetails(def).then((x) => x.arn, () => undefined)) === d.arn)) {
      return { ...out, refused: `${d.arn} is this server's default key (kmsKeyId); configure another key first` };
    }
    if (refs.bucketKeys + refs.objects > 0) return { ...out, refused: `${d.arn} still wraps ${refs.bucketKeys} bucket key(s)${refs.buckets.length ? ` (buckets ${refs.buckets.join(', ')})` : ''} and ${refs.objects} object key(s); run akko-storage kms rewrap --to-key <new key> first` };
    if (dryRun) return out;
    await aws.disableKey(d.arn);
    return { ...out, retired: true, state: 'Disabled', note: 'disabled (reversible with aws kms enable-key); schedule its deletion with aws kms schedule-key-deletion once you are sure' };
  }
}
