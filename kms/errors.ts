// Errors of the encryption module. Each carries the S3 answer it maps to (`s3Code`, `status`)
// so the S3 layer translates without knowing KMS internals; none of them carries key material.
import { integrityFailures } from './metrics.js';

export type IntegrityReason =
  | 'tag' // a segment or wrapped key failed authentication (bit flip, reorder, wrong key/context)
  | 'truncated' // the stream ended before the flagged last segment / the expected range
  | 'extended' // data after the last segment
  | 'envelope' // envelope or bucket-key record missing, malformed or inconsistent
  | 'kms-ciphertext'; // the KMS refused a stored ciphertext blob (InvalidCiphertext, IncorrectKey)

/** Stored data or metadata failed an integrity check. Never answered with bytes; counted. */
export class IntegrityError extends Error {
  override readonly name = 'IntegrityError';
  readonly s3Code = 'InternalError';
  readonly status = 500;
  constructor(
    readonly reason: IntegrityReason,
    message: string,
    readonly segment?: number,
  ) {
    super(message);
    integrityFailures.inc({ reason });
  }
}

/** Base of every failure that comes from (or is about) the KMS. */
export class KmsError extends Error {
  override name = 'KmsError';
  constructor(
    /** S3 error code the S3 layer answers with (AWS's own, e.g. `KMS.NotFoundException`). */
    readonly s3Code: string,
    readonly status: number,
    message: string,
    readonly keyId?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Unknown key id or alias. AWS S3 answers 400 KMS.NotFoundException. */
export class KmsKeyNotFoundError extends KmsError {
  override name = 'KmsKeyNotFoundError';
  constructor(keyId: string, options?: { cause?: unknown }) {
    super('KMS.NotFoundException', 400, `Invalid keyId ${keyId}`, keyId, options);
  }
}

/** Key exists but is disabled. AWS S3 answers 400 KMS.DisabledException. */
export class KmsKeyDisabledError extends KmsError {
  override name = 'KmsKeyDisabledError';
  constructor(keyId: string, options?: { cause?: unknown }) {
    super('KMS.DisabledException', 400, `${keyId} is disabled.`, keyId, options);
  }
}

/** Key is pending deletion/import or otherwise unusable. AWS S3 answers 400 KMS.KMSInvalidStateException. */
export class KmsKeyInvalidStateError extends KmsError {
  override name = 'KmsKeyInvalidStateError';
  constructor(keyId: string, state: string, options?: { cause?: unknown }) {
    super('KMS.KMSInvalidStateException', 400, `${keyId} is ${state}.`, keyId, options);
  }
}

/** The KMS denied us (key policy, credentials). AWS S3 answers 403 AccessDenied. */
export class KmsAccessDeniedError extends KmsError {
  override name = 'KmsAccessDeniedError';
  constructor(keyId: string | undefined, options?: { cause?: unknown }) {
    super('AccessDenied', 403, 'Access Denied', keyId, options);
  }
}

/**
 * The KMS is unreachable, failing or throttling. Retryable: the S3 layer answers 503
 * (`SlowDown` when throttled, like AWS, else `ServiceUnavailable`) with Retry-After.
 */
export class KmsUnavailableError extends KmsError {
  override name = 'KmsUnavailableError';
  constructor(
    readonly provider: string,
    keyId: string | undefined,
    readonly detail: string,
    readonly throttled = false,
    readonly retryAfterSeconds = 5,
    options?: { cause?: unknown },
  ) {
    super(
      throttled ? 'SlowDown' : 'ServiceUnavailable',
      503,
      throttled ? 'Please reduce your request rate for operations involving AWS KMS.' : 'Service is unable to handle request: the key management service is unavailable.',
      keyId,
      options,
    );
  }
}

/** The S3 answer for an error thrown by this module, or undefined if it is not ours. */
export function s3ErrorFor(e: unknown): { code: string; status: number; message: string; headers: Record<string, string> } | undefined {
  if (e instanceof KmsUnavailableError) return { code: e.s3Code, status: e.status, message: e.message, headers: { 'Retry-After': String(e.retryAfterSeconds) } };
  if (e instanceof KmsError) return { code: e.s3Code, status: e.status, message: e.message, headers: {} };
  if (e instanceof IntegrityError) return { code: e.s3Code, status: e.status, message: 'We encountered an internal error. Please try again.', headers: {} };
  return undefined;
}
