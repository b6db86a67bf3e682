// Start-up: the configured provider, checked before the server accepts a request, so that a
// missing keyring key or an unknown key id stops the process instead of failing reads later.
import { AwsKmsProvider } from './providers/aws.js';
import { keyringStorage, LocalKmsProvider, verifyKeyring } from './providers/local.js';
import type { BucketKeyRecords, KmsProvider } from './types.js';

export interface KmsSetup {
  kind: 'local' | 'aws';
  dataDir: string;
  records: BucketKeyRecords;
  /** Default key: a keyring key name (local) or key id / ARN / alias (aws). */
  keyId?: string;
  /** aws only: a KMS-compatible endpoint. */
  endpoint?: string;
  /** aws only: the KMS region; default the key ARN's region, else the SDK's (AWS_REGION, profile). */
  region?: string;
  /** local only: where the keyring is (a file, or `k8s-secret:[ns/]name`; default `<dataDir>/kms-keyring.json`). */
  keyring?: string;
}

export async function openKmsProvider(s: KmsSetup): Promise<KmsProvider> {
  if (s.kind === 'local') {
    const p = await LocalKmsProvider.open({ dataDir: s.dataDir, storage: keyringStorage(s.dataDir, s.keyring), records: s.records, defaultKeyName: s.keyId });
    verifyKeyring(p, s.records);
    if (s.keyId && !p.currentKid(s.keyId)) {
      throw new Error(`kmsKeyId ${s.keyId} is not a key of the keyring ${p.location} (keys: ${p.keyNames().join(', ')})`);
    }
    if (s.keyId) p.setDefaultKeyId(s.keyId);
    return p;
  }
  if (!s.keyId) throw new Error('kmsKeyId is required with kmsProvider aws (a key id, key ARN or alias)');
  const region = s.region ?? /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(s.keyId)?.[1];
  return new AwsKmsProvider({ defaultKeyId: s.keyId, endpoint: s.endpoint, region });
}
