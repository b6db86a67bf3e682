// Which writes are encrypted and with what (the request's SSE headers, else the bucket's
// default encryption, else the server default), and the bridge to kms/ for the object service.
// The object key never leaves kms/: only envelopes and streams cross this line.
import type { Transform } from 'node:stream';
import { Encryption, type SealOptions } from '../../kms/keys.js';
import type { ObjectEnvelope } from '../../kms/types.js';
import { S3Error } from '../s3/errors.js';
import type { BucketInfo } from '../store/types.js';

/** What an object's (or part's) metadata keeps: the envelope and the id its key is bound to. */
export interface StoredEncryption {
  envelope: ObjectEnvelope;
  binding: string;
}

export interface SseChoice {
  sse: 'aws:kms' | 'AES256';
  kmsKeyId?: string;
  context?: Record<string, string>;
  bucketKeyEnabled?: boolean;
}

/** The bucket default encryption (PutBucketEncryption), as kept in the bucket's config. */
export interface BucketEncryptionConfig {
  sse: 'aws:kms' | 'AES256';
  kmsKeyId?: string;
  bucketKeyEnabled: boolean;
}

export function isStoredEncryption(v: unknown): v is StoredEncryption {
  return typeof v === 'object' && v !== null && 'envelope' in v && 'binding' in v;
}

export class ObjectCrypto {
  constructor(
    readonly encryption: Encryption | undefined,
    /** `--encryption on`: every write is encrypted even when neither request nor bucket asks. */
    readonly defaultOn: boolean,
  ) {}

  /** The seal options of a write, or undefined for a plaintext write (only with encryption off). */
  async choose(bucket: BucketInfo, requested: SseChoice | undefined): Promise<SealOptions | undefined> {
    const bucketDefault = bucket.config?.encryption as BucketEncryptionConfig | undefined;
    const choice: SseChoice | undefined = requested
      ?? (bucketDefault ? { sse: bucketDefault.sse, kmsKeyId: bucketDefault.kmsKeyId, bucketKeyEnabled: bucketDefault.bucketKeyEnabled } : undefined)
      ?? (this.defaultOn ? { sse: 'aws:kms' } : undefined);
    if (!choice) return undefined;
    const enc = this.require();
    if (choice.kmsKeyId !== undefined) await enc.describeKey(choice.kmsKeyId);
    const opts: SealOptions = { sse: choice.sse };
    if (choice.sse === 'aws:kms' && choice.kmsKeyId !== undefined) opts.kmsKeyId = choice.kmsKeyId;
    if (choice.context) opts.context = choice.context;
    if (choice.bucketKeyEnabled !== undefined) opts.bucketKeyEnabled = choice.bucketKeyEnabled;
    return opts;
  }

  require(): Encryption {
    if (!this.encryption) throw new S3Error('InvalidRequest', 'Server-side encryption is not available: no KMS is configured (kmsProvider aws needs kmsKeyId).');
    return this.encryption;
  }

  async encryptStream(bucket: string, key: string, binding: string, opts: SealOptions): Promise<{ stored: StoredEncryption; stream: Transform }> {
    const { envelope, stream } = await this.require().encryptObjectStream(bucket, key, binding, opts);
    return { stored: { envelope, binding }, stream };
  }

  async segmentOpener(bucket: string, key: string, stored: StoredEncryption, plainSize: number, start: number, end: number, emit: (plaintext: Buffer) => void) {
    return this.require().objectSegmentOpener(bucket, key, stored.binding, stored.envelope, plainSize, { start, end }, emit);
  }

  /** CopyObject: the same object key, wrapped for the destination; the bytes are not re-encrypted. */
  async rewrap(stored: StoredEncryption, from: { bucket: string; key: string }, to: { bucket: string; key: string; binding: string }, opts?: SealOptions): Promise<StoredEncryption> {
    const envelope = await this.require().rewrapObject(stored.envelope, { ...from, uploadId: stored.binding }, { bucket: to.bucket, key: to.key, uploadId: to.binding, sse: opts?.sse, kmsKeyId: opts?.kmsKeyId });
    return { envelope, binding: to.binding };
  }
}
