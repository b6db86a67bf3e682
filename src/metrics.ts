// The one metrics registry of the process; every module registers its metrics here.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'akko_' });

export const s3Requests = new Counter({
  name: 'akko_s3_requests_total',
  help: 'S3 requests by operation and HTTP status',
  labelNames: ['operation', 'status'] as const,
  registers: [registry],
});

export const s3Latency = new Histogram({
  name: 'akko_s3_request_duration_seconds',
  help: 'S3 request latency by operation',
  labelNames: ['operation'] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export const s3Bytes = new Counter({
  name: 'akko_s3_bytes_total',
  help: 'Bytes received and sent on the S3 listener',
  labelNames: ['direction'] as const,
  registers: [registry],
});

// ---- encryption coverage (kms status; refreshed by the key-operations module) ----

export const kmsObjects = new Gauge({
  name: 'akko_kms_objects',
  help: 'Objects by bucket and protection: protection="plaintext", or the provider ("local"/"aws") with the KMS key and key version that wrap their keys',
  labelNames: ['bucket', 'protection', 'key', 'version'] as const,
  registers: [registry],
});

export const kmsBytes = new Gauge({
  name: 'akko_kms_bytes',
  help: 'Logical (plaintext) bytes by bucket and protection, as akko_kms_objects',
  labelNames: ['bucket', 'protection', 'key', 'version'] as const,
  registers: [registry],
});

export const kmsBucketKeys = new Gauge({
  name: 'akko_kms_bucket_keys',
  help: 'Stored bucket-key records by the provider, KMS key and key version that wrap them',
  labelNames: ['provider', 'key', 'version'] as const,
  registers: [registry],
});

export const kmsProviderUp = new Gauge({
  name: 'akko_kms_provider_up',
  help: '1 when the last canary (GenerateDataKey + Decrypt with the data path\'s key and credentials) succeeded, else 0',
  labelNames: ['provider', 'key'] as const,
  registers: [registry],
});

export const kmsCanarySeconds = new Gauge({
  name: 'akko_kms_canary_duration_seconds',
  help: 'Duration of the last KMS canary',
  labelNames: ['provider'] as const,
  registers: [registry],
});

export const kmsCoverageTimestamp = new Gauge({
  name: 'akko_kms_coverage_timestamp_seconds',
  help: 'When akko_kms_objects / akko_kms_bytes / akko_kms_bucket_keys were last computed (unix seconds)',
  registers: [registry],
});

export const kmsJobItems = new Gauge({
  name: 'akko_kms_job_items',
  help: 'Progress of the last key-operation job of each kind (rewrap, encrypt-existing): items by state',
  labelNames: ['kind', 'state'] as const,
  registers: [registry],
});
