// Which KMS providers a server opens besides its own: every provider some stored bucket key is
// wrapped by (the other side of a migration between the local keyring and AWS KMS), so that
// objects stay readable before, during and after `kms rewrap --to-provider`. How to reach an
// AWS KMS that is not the configured one (endpoint, region) is remembered in the store
// (database `kmsproviders`) when a server or a job first uses it.
import type { Database } from 'lmdb';
import { AwsKmsProvider } from '../../kms/providers/aws.js';
import { keyringStorage, LocalKmsProvider, verifyKeyring } from '../../kms/providers/local.js';
import type { BucketKeyRecords, KmsProvider } from '../../kms/types.js';
import type { Config } from '../config.js';
import type { Store } from '../store/store.js';

export interface AwsSettings {
  endpoint?: string;
  region?: string;
  /** A key of that KMS (the reader's default; reads name their own key). */
  keyId?: string;
}

interface ProviderSettings {
  aws?: AwsSettings;
}

function settingsDb(store: Store): Database<ProviderSettings, string> {
  return store.database<ProviderSettings>('kmsproviders');
}

export function rememberedAws(store: Store): AwsSettings | undefined {
  return settingsDb(store).get('settings')?.aws;
}

/** Remembers how to reach an AWS KMS (never credentials: those come from the standard chain). */
export async function rememberAws(store: Store, aws: AwsSettings): Promise<void> {
  const db = settingsDb(store);
  const cur = db.get('settings') ?? {};
  const next: AwsSettings = { ...cur.aws };
  for (const [k, v] of Object.entries(aws) as Array<[keyof AwsSettings, string | undefined]>) if (v !== undefined) next[k] = v;
  if (JSON.stringify(next) === JSON.stringify(cur.aws ?? {})) return;
  await db.put('settings', { ...cur, aws: next });
}

export function regionOf(keyId: string | undefined): string | undefined {
  return keyId ? /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(keyId)?.[1] : undefined;
}

export function openAws(s: AwsSettings & { keyId: string }): AwsKmsProvider {
  return new AwsKmsProvider({ defaultKeyId: s.keyId, endpoint: s.endpoint, region: s.region ?? regionOf(s.keyId) });
}

/**
 * The readers a server opens at start: each provider other than its own that a stored bucket
 * key names. A local keyring that such records need and that is missing stops the start
 * (KeyringMissingKeysError), as for the server's own keyring.
 */
export async function openReaders(config: Config, store: Store, records: BucketKeyRecords): Promise<KmsProvider[]> {
  const needed = new Map<'local' | 'aws', string>();
  for (const r of records.list()) if (r.provider !== config.kmsProvider && !needed.has(r.provider)) needed.set(r.provider, r.kmsKeyId);
  const out: KmsProvider[] = [];
  if (config.kmsProvider === 'aws' && config.kmsKeyId) {
    // So that a later switch back to the local keyring can still read what AWS wrapped.
    await rememberAws(store, { endpoint: config.kmsEndpoint, region: regionOf(config.kmsKeyId), keyId: config.kmsKeyId });
  }
  if (needed.has('local')) {
    const p = await LocalKmsProvider.open({ dataDir: config.dataDir, storage: keyringStorage(config.dataDir, config.kmsKeyring), records });
    verifyKeyring(p, records);
    out.push(p);
  }
  const awsKey = needed.get('aws');
  if (awsKey) {
    const s = rememberedAws(store) ?? {};
    out.push(openAws({ endpoint: s.endpoint ?? config.kmsEndpoint, region: regionOf(awsKey) ?? s.region, keyId: awsKey }));
  }
  return out;
}
