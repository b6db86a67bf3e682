// Wraps a provider so every KMS call is counted and timed, and anything a provider throws
// that is not already one of our errors becomes a KmsUnavailableError (fail closed, retryable).
import { IntegrityError, KmsAccessDeniedError, KmsError, KmsKeyDisabledError, KmsKeyInvalidStateError, KmsKeyNotFoundError, KmsUnavailableError } from '../errors.js';
import { kmsCalls, kmsLatency } from '../metrics.js';
import type { KmsProvider } from '../types.js';

function resultLabel(e: unknown): string {
  if (e instanceof KmsUnavailableError) return e.throttled ? 'throttled' : 'unavailable';
  if (e instanceof KmsKeyNotFoundError) return 'not_found';
  if (e instanceof KmsKeyDisabledError) return 'disabled';
  if (e instanceof KmsKeyInvalidStateError) return 'invalid_state';
  if (e instanceof KmsAccessDeniedError) return 'access_denied';
  if (e instanceof IntegrityError) return 'invalid_ciphertext';
  return 'error';
}

const INSTRUMENTED = Symbol('instrumented');

export function instrument(p: KmsProvider): KmsProvider {
  if ((p as unknown as Record<symbol, boolean>)[INSTRUMENTED]) return p;
  const timed = async <T>(operation: string, keyId: string | undefined, f: () => Promise<T>): Promise<T> => {
    const end = kmsLatency.startTimer({ provider: p.name, operation });
    try {
      const r = await f();
      kmsCalls.inc({ provider: p.name, operation, result: 'ok' });
      return r;
    } catch (e) {
      const err = e instanceof KmsError || e instanceof IntegrityError ? e : new KmsUnavailableError(p.name, keyId, e instanceof Error ? e.message : String(e), false, 5, { cause: e });
      kmsCalls.inc({ provider: p.name, operation, result: resultLabel(err) });
      throw err;
    } finally {
      end();
    }
  };
  const wrapped: KmsProvider & { [INSTRUMENTED]: true } = {
    [INSTRUMENTED]: true,
    name: p.name,
    defaultKeyId: () => p.defaultKeyId(),
    generateDataKey: (keyId, ctx) => timed('GenerateDataKey', keyId, () => p.generateDataKey(keyId, ctx)),
    decrypt: (blob, ctx, keyId) => timed('Decrypt', keyId, () => p.decrypt(blob, ctx, keyId)),
    describeKey: (keyId) => timed('DescribeKey', keyId, () => p.describeKey(keyId)),
  };
  if (p.reEncrypt) {
    const re = p.reEncrypt.bind(p);
    wrapped.reEncrypt = (blob, ctx, dest, src) => timed('ReEncrypt', dest, () => re(blob, ctx, dest, src));
  }
  if (p.encrypt) {
    const enc = p.encrypt.bind(p);
    wrapped.encrypt = (plaintext, ctx, keyId) => timed('Encrypt', keyId, () => enc(plaintext, ctx, keyId));
  }
  return wrapped;
}
