// Contracts between the encryption module, its KMS providers and the server's metadata store.

export type EncryptionContext = Record<string, string>;

export interface DataKey {
  /** 32 bytes; the caller owns it and zeroes it when done. */
  plaintext: Buffer;
  /** The KMS's opaque wrapped form, stored in a BucketKeyRecord. */
  ciphertext: Buffer;
  /** Canonical key id: the full ARN (aws) or the key name (local). */
  keyId: string;
  /** Key material version that wrapped it (aws KeyMaterialId, local `vN`). */
  keyVersion?: string;
}

export interface KeyDescription {
  /** Canonical id (ARN for aws, key name for local). */
  keyId: string;
  arn?: string;
  state: 'Enabled' | 'Disabled' | 'PendingDeletion' | 'PendingImport' | 'Unavailable' | string;
  /** The current version: local `vN`; aws the CurrentKeyMaterialId, when the KMS reports it. */
  currentVersion?: string;
}

export interface KmsProvider {
  readonly name: 'local' | 'aws';
  /** Key used when a request names none (SSE-S3 and SSE-KMS without a key id). */
  defaultKeyId(): string;
  generateDataKey(keyId: string, context: EncryptionContext): Promise<DataKey>;
  /** keyId, when given, must be the key that wrapped the blob (AWS checks it). */
  decrypt(ciphertext: Buffer, context: EncryptionContext, keyId?: string): Promise<{ plaintext: Buffer; keyId: string; keyVersion?: string }>;
  /** Re-wraps a blob under another (or the newest version of the same) key without exposing it. */
  reEncrypt?(
    ciphertext: Buffer,
    context: EncryptionContext,
    destinationKeyId: string,
    sourceKeyId?: string,
  ): Promise<{ ciphertext: Buffer; keyId: string; keyVersion?: string }>;
  /** Throws KmsKeyNotFoundError for an unknown key; reports other states without throwing. */
  describeKey(keyId: string): Promise<KeyDescription>;
  /**
   * Wraps a key already in hand under keyId (AWS `Encrypt`). Only for moving a bucket key from
   * one KMS to another (`kms rewrap --to-provider`); the caller zeroes the plaintext.
   */
  encrypt?(plaintext: Buffer, context: EncryptionContext, keyId: string): Promise<{ ciphertext: Buffer; keyId: string; keyVersion?: string }>;
}

/** A bucket key as persisted by the server (never its plaintext). */
export interface BucketKeyRecord {
  id: string;
  bucket: string;
  provider: 'local' | 'aws';
  /** Full ARN for aws, key name for local. */
  kmsKeyId: string;
  keyVersion?: string;
  /** Base64 ciphertext blob from the KMS. */
  wrapped: string;
  encryptionContext: Record<string, string>;
  created: number;
  maxAgeMs: number;
  maxObjects: number;
  /** Objects sealed so far, as of the last checkpoint (see Encryption: checkpointEvery). */
  objects?: number;
}

/** Persistence of bucket-key records; the server implements it over its metadata store. */
export interface BucketKeyRecords {
  get(id: string): BucketKeyRecord | undefined;
  put(rec: BucketKeyRecord): Promise<void>;
  list(bucket?: string): Iterable<BucketKeyRecord>;
  /**
   * Read-modify-write of one record as a single atomic step (a compare-and-swap when `f` checks
   * what it is given): `f` gets the stored record and returns the one to store, or undefined to
   * leave it (`f` is not called when there is no record). Resolves with the record as stored
   * afterwards and whether `f`'s result was written. Without it, Encryption falls back to
   * get + put, which is not safe against a concurrent writer of the same record.
   */
  update?(id: string, f: (current: BucketKeyRecord) => BucketKeyRecord | undefined): Promise<{ record: BucketKeyRecord | undefined; applied: boolean }>;
}

/** Stored in the object's metadata; everything needed to read the object back, nothing secret. */
export interface ObjectEnvelope {
  v: 1;
  alg: 'AES256GCM-SEG';
  segmentSize: number;
  /** Empty when bucketKeyEnabled is false: then wrappedKey is a KMS blob. */
  bucketKeyId: string;
  /** Base64 of the object key wrapped by the bucket key (ciphertext ‖ tag), or the KMS blob. */
  wrappedKey: string;
  /** Base64 12-byte nonce of the wrap; empty when bucketKeyEnabled is false. */
  nonce: string;
  kmsKeyId: string;
  /** The KMS encryption context, when the object key came from the KMS directly. */
  context?: Record<string, string>;
  sse: 'aws:kms' | 'AES256';
  bucketKeyEnabled: boolean;
}

/** Where an object key is bound: bucket, object key name, and the upload/version id the server chose. */
export interface ObjectLocation {
  bucket: string;
  key: string;
  uploadId: string;
}
