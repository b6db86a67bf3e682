// The `aws` KMS: AWS KMS or any service speaking its API (endpoint override), through
// @aws-sdk/client-kms and the standard credential chain. SDK errors become our error classes
// so the S3 layer answers what AWS S3 answers.
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';
import { IntegrityError, KmsAccessDeniedError, KmsKeyDisabledError, KmsKeyInvalidStateError, KmsKeyNotFoundError, KmsUnavailableError } from '../errors.js';
import type { DataKey, EncryptionContext, KeyDescription, KmsProvider } from '../types.js';

export interface AwsKmsOptions {
  /** Key used when a request names none: key id, ARN, alias name or alias ARN. */
  defaultKeyId: string;
  region?: string;
  /** Any KMS-compatible service (the AWS default when unset). */
  endpoint?: string;
  /** Default: the standard AWS credential chain (env, profile, web identity, IMDS…). */
  credentials?: KMSClientConfig['credentials'];
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** SDK attempts per call, retries included (throttling and 5xx are retried with backoff). */
  maxAttempts?: number;
  /** Seconds a client should wait after a 503 caused by the KMS. */
  retryAfterSeconds?: number;
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);

/** Maps an SDK or network error to our error classes (never leaks request contents). */
export function mapAwsError(e: unknown, keyId: string | undefined, retryAfterSeconds = 5): Error {
  const err = e as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = err?.name ?? 'Error';
  const msg = err?.message ?? String(e);
  const opts = { cause: e };
  switch (name) {
    case 'NotFoundException':
    case 'InvalidArnException':
      return new KmsKeyNotFoundError(keyId ?? msg, opts);
    case 'DisabledException':
      return new KmsKeyDisabledError(keyId ?? msg, opts);
    case 'KMSInvalidStateException': {
      const state = /is (pending [a-z]+|unavailable|disabled)/i.exec(msg)?.[1] ?? 'not in a valid state';
      return new KmsKeyInvalidStateError(keyId ?? msg, state, opts);
    }
    case 'InvalidCiphertextException':
    case 'IncorrectKeyException':
    case 'InvalidKeyUsageException':
      return new IntegrityError('kms-ciphertext', `KMS refused a stored key blob: ${name}`);
    case 'AccessDeniedException':
      return new KmsAccessDeniedError(keyId, opts);
    case 'ThrottlingException':
      return new KmsUnavailableError('aws', keyId, `${name}: ${msg}`, true, retryAfterSeconds, opts);
  }
  const code = err?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  const detail = code && UNAVAILABLE_CODES.has(code) ? `${code}: ${msg}` : `${name}: ${msg}`;
  return new KmsUnavailableError('aws', keyId, detail, false, retryAfterSeconds, opts);
}

function own(bytes: Uint8Array | undefined, what: string): Buffer {
  if (!bytes) throw new KmsUnavailableError('aws', undefined, `KMS response without ${what}`);
  const b = Buffer.alloc(bytes.length);
  b.set(bytes);
  bytes.fill(0);
  return b;
}

export class AwsKmsProvider implements KmsProvider {
  readonly name = 'aws' as const;
  readonly client: KMSClient;
  private readonly retryAfter: number;

  constructor(private readonly opts: AwsKmsOptions) {
    if (!opts.defaultKeyId) throw new RangeError('the aws KMS provider needs a key id (kmsKeyId / AKKO_KMS_KEY_ID)');
    this.retryAfter = opts.retryAfterSeconds ?? 5;
    this.client = new KMSClient({
      region: opts.region,
      endpoint: opts.endpoint,
      credentials: opts.credentials,
      maxAttempts: opts.maxAttempts ?? 3,
      requestHandler: { connectionTimeout: opts.connectTimeoutMs ?? 2000, requestTimeout: opts.requestTimeoutMs ?? 5000 },
    });
  }

  defaultKeyId(): string {
    return this.opts.defaultKeyId;
  }

  private async call<T>(keyId: string | undefined, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw mapAwsError(e, keyId, this.retryAfter);
    }
  }

  async generateDataKey(keyId: string, context: EncryptionContext): Promise<DataKey> {
    const r = await this.call(keyId, () => this.client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: context })));
    return { plaintext: own(r.Plaintext, 'Plaintext'), ciphertext: Buffer.from(r.CiphertextBlob ?? []), keyId: r.KeyId ?? keyId, keyVersion: r.KeyMaterialId };
  }

  async decrypt(ciphertext: Buffer, context: EncryptionContext, keyId?: string): Promise<{ plaintext: Buffer; keyId: string; keyVersion?: string }> {
    const r = await this.call(keyId, () => this.client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: context, KeyId: keyId })));
    return { plaintext: own(r.Plaintext, 'Plaintext'), keyId: r.KeyId ?? keyId ?? '', keyVersion: r.KeyMaterialId };
  }

  async reEncrypt(ciphertext: Buffer, context: EncryptionContext, destinationKeyId: string, sourceKeyId?: string): Promise<{ ciphertext: Buffer; keyId: string; keyVersion?: string }> {
    const r = await this.call(destinationKeyId, () =>
      this.client.send(
        new ReEncryptCommand({ CiphertextBlob: ciphertext, SourceEncryptionContext: context, SourceKeyId: sourceKeyId, DestinationKeyId: destinationKeyId, DestinationEncryptionContext: context }),
      ),
    );
    return { ciphertext: Buffer.from(r.CiphertextBlob ?? []), keyId: r.KeyId ?? destinationKeyId, keyVersion: r.DestinationKeyMaterialId };
  }

  async describeKey(keyId: string): Promise<KeyDescription> {
    const r = await this.call(keyId, () => this.client.send(new DescribeKeyCommand({ KeyId: keyId })));
    const m = r.KeyMetadata;
    if (!m?.Arn) throw new KmsKeyNotFoundError(keyId);
    const d: KeyDescription = { keyId: m.Arn, arn: m.Arn, state: m.KeyState ?? (m.Enabled ? 'Enabled' : 'Disabled') };
    if (m.CurrentKeyMaterialId) d.currentVersion = m.CurrentKeyMaterialId;
    return d;
  }

  /** Wraps a key already in hand (a bucket key moving here from another KMS): `Encrypt`. */
  async encrypt(plaintext: Buffer, context: EncryptionContext, keyId: string): Promise<{ ciphertext: Buffer; keyId: string; keyVersion?: string }> {
    const r = await this.call(keyId, () => this.client.send(new EncryptCommand({ KeyId: keyId, Plaintext: plaintext, EncryptionContext: context })));
    const out: { ciphertext: Buffer; keyId: string; keyVersion?: string } = { ciphertext: Buffer.from(r.CiphertextBlob ?? []), keyId: r.KeyId ?? keyId };
    // Encrypt does not report the key material; the key's current material wrapped it.
    const material = (r as { KeyMaterialId?: string }).KeyMaterialId;
    if (material) out.keyVersion = material;
    return out;
  }

  // ---- operator commands (kms keys / rotate / retire); not on the data path ----------

  /** DescribeKey and GetKeyRotationStatus: what `kms keys describe` shows. */
  async keyDetails(keyId: string): Promise<{ keyId: string; arn: string; state: string; description?: string; created?: string; currentKeyMaterialId?: string; rotationEnabled?: boolean; rotationPeriodInDays?: number; onDemandRotationStartDate?: string }> {
    const r = await this.call(keyId, () => this.client.send(new DescribeKeyCommand({ KeyId: keyId })));
    const m = r.KeyMetadata;
    if (!m?.Arn) throw new KmsKeyNotFoundError(keyId);
    const out: Awaited<ReturnType<AwsKmsProvider['keyDetails']>> = { keyId: m.KeyId ?? m.Arn, arn: m.Arn, state: m.KeyState ?? (m.Enabled ? 'Enabled' : 'Disabled') };
    if (m.Description) out.description = m.Description;
    if (m.CreationDate) out.created = new Date(m.CreationDate).toISOString();
    if (m.CurrentKeyMaterialId) out.currentKeyMaterialId = m.CurrentKeyMaterialId;
    try {
      const rot = await this.client.send(new GetKeyRotationStatusCommand({ KeyId: m.Arn }));
      out.rotationEnabled = rot.KeyRotationEnabled ?? false;
      if (rot.RotationPeriodInDays !== undefined) out.rotationPeriodInDays = rot.RotationPeriodInDays;
      if (rot.OnDemandRotationStartDate) out.onDemandRotationStartDate = new Date(rot.OnDemandRotationStartDate).toISOString();
    } catch {
      // No kms:GetKeyRotationStatus permission (or a KMS-compatible service without it): leave it out.
    }
    return out;
  }

  /** CreateKey (symmetric, ENCRYPT_DECRYPT) and, when named, CreateAlias. */
  async createKey(opts: { description?: string; alias?: string } = {}): Promise<{ keyId: string; arn: string }> {
    const r = await this.call(undefined, () => this.client.send(new CreateKeyCommand({ Description: opts.description ?? 'akko-storage', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT' })));
    const m = r.KeyMetadata;
    if (!m?.Arn || !m.KeyId) throw new KmsKeyNotFoundError('(new key)');
    if (opts.alias) await this.call(m.Arn, () => this.client.send(new CreateAliasCommand({ AliasName: opts.alias, TargetKeyId: m.KeyId })));
    return { keyId: m.KeyId, arn: m.Arn };
  }

  /** RotateKeyOnDemand: new key material becomes current; older material keeps decrypting. */
  async rotateOnDemand(keyId: string): Promise<void> {
    await this.call(keyId, () => this.client.send(new RotateKeyOnDemandCommand({ KeyId: keyId })));
  }

  /** DisableKey (reversible with EnableKey): `kms retire` of a key nothing references any more. */
  async disableKey(keyId: string): Promise<void> {
    await this.call(keyId, () => this.client.send(new DisableKeyCommand({ KeyId: keyId })));
  }

  destroy(): void {
    this.client.destroy();
  }
}
