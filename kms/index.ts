// The encryption module's public surface (DESIGN §5). Nothing here knows about HTTP.
export * from './errors.js';
export * from './types.js';
export * from './format.js';
export { KeyCache, type KeyCacheOptions } from './cache.js';
export { Encryption, MemoryBucketKeyRecords, bucketKeyContext, objectContext, providerOfKeyId, DEFAULT_BUCKET_KEY_MAX_AGE_MS, DEFAULT_BUCKET_KEY_MAX_OBJECTS, type EncryptionOptions, type SealOptions, type RewrapTarget, type RewrapResult, type Wrapping } from './keys.js';
export { LocalKmsProvider, KeyringMissingKeysError, verifyKeyring, localBlobKid, canonicalContext, KEYRING_FILE, DEFAULT_LOCAL_KEY, type LocalKmsOptions } from './providers/local.js';
export { AwsKmsProvider, mapAwsError, type AwsKmsOptions } from './providers/aws.js';
export { instrument } from './providers/instrument.js';
export { openKmsProvider, type KmsSetup } from './setup.js';
