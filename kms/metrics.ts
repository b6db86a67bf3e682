// Metrics of the encryption module, in the process-wide registry.
import { Counter, Histogram } from 'prom-client';
import { registry } from '../src/metrics.js';

export const kmsCalls = new Counter({
  name: 'akko_kms_calls_total',
  help: 'KMS calls by provider, operation and result (ok or the error class)',
  labelNames: ['provider', 'operation', 'result'] as const,
  registers: [registry],
});

export const kmsLatency = new Histogram({
  name: 'akko_kms_call_duration_seconds',
  help: 'KMS call latency by provider and operation',
  labelNames: ['provider', 'operation'] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  registers: [registry],
});

export const keyCacheHits = new Counter({
  name: 'akko_kms_key_cache_hits_total',
  help: 'Bucket-key cache lookups answered from memory',
  registers: [registry],
});

export const keyCacheMisses = new Counter({
  name: 'akko_kms_key_cache_misses_total',
  help: 'Bucket-key cache lookups that needed a KMS call (or hit a cached KMS failure)',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const keyCacheEvictions = new Counter({
  name: 'akko_kms_key_cache_evictions_total',
  help: 'Bucket keys dropped (and zeroed) from the cache, by reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const integrityFailures = new Counter({
  name: 'akko_integrity_failures_total',
  help: 'Integrity check failures of encrypted objects and wrapped keys, by reason',
  labelNames: ['reason'] as const,
  registers: [registry],
});

export const cryptoBytes = new Counter({
  name: 'akko_encryption_bytes_total',
  help: 'Plaintext bytes encrypted and decrypted (authenticated) by the object format',
  labelNames: ['direction'] as const,
  registers: [registry],
});
