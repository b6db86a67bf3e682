// The one metrics registry of the process; every module registers its metrics here.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
