// One schema for every setting, fed from (lowest first) defaults, a YAML/JSON file, AKKO_*
// environment variables and command-line flags. A bad setting stops the process with exit 2
// and one line naming the setting, the value and what is allowed (DESIGN §1, §10).
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseKeyringLocation } from '../kms/keyring/storage.js';

export const PLATFORM_BUCKETS = [
  'akko-iceberg',
  'akko-spark-logs',
  'akko-mlflow',
  'akko-rag',
  'akko-aden',
  'akko-airflow-logs',
] as const;

const port = z.coerce.number().int().min(0).max(65535);
const list = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  z.array(z.string().min(1)),
);

export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    host: z.string().min(1).default('127.0.0.1'),
    s3Port: port.default(8333),
    adminPort: port.default(8888),
    metricsPort: port.default(9091),
    region: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes')
      .default('akko-local'),
    buckets: list.default([...PLATFORM_BUCKETS]),
    encryption: z.enum(['on', 'off']).default('on'),
    kmsProvider: z.enum(['local', 'aws']).default('local'),
    kmsKeyId: z.string().min(1).optional(),
    kmsEndpoint: z.url().optional(),
    /** The local keyring: a file (relative to the data dir) or `k8s-secret:[namespace/]name`. */
    kmsKeyring: z
      .string()
      .min(1)
      .optional()
      .superRefine((v, ctx) => {
        if (v === undefined) return;
        try {
          parseKeyringLocation(v);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: (e as Error).message });
        }
      }),
    /** Host suffixes under which `<bucket>.<suffix>` is virtual-host-style addressing. */
    virtualHostDomains: list.default(['localhost']),
    /** Seconds SIGTERM waits for in-flight requests before closing connections. */
    shutdownGraceSeconds: z.coerce.number().positive().max(60).default(8),
    /** Largest single PUT (S3's limit is 5 GiB). */
    maxObjectSize: z.coerce.number().int().positive().default(5 * 1024 ** 3),
    /** In-progress multipart uploads older than this are aborted by a periodic sweep (default 7 days). */
    multipartMaxAgeSeconds: z.coerce.number().int().positive().default(7 * 24 * 3600),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.kmsProvider === 'aws' && c.encryption === 'on' && !c.kmsKeyId) {
      ctx.addIssue({ code: 'custom', path: ['kmsKeyId'], message: 'a KMS key id, ARN or alias is required when kmsProvider is aws and encryption is on' });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** Setting name → environment variable (DESIGN §10). */
export const ENV_NAMES: Record<string, string> = {
  config: 'AKKO_CONFIG',
  dataDir: 'AKKO_DATA_DIR',
  host: 'AKKO_HOST',
  s3Port: 'AKKO_S3_PORT',
  adminPort: 'AKKO_ADMIN_PORT',
  metricsPort: 'AKKO_METRICS_PORT',
  region: 'AKKO_S3_REGION',
  buckets: 'AKKO_BUCKETS',
  encryption: 'AKKO_ENCRYPTION',
  kmsProvider: 'AKKO_KMS_PROVIDER',
  kmsKeyId: 'AKKO_KMS_KEY_ID',
  kmsEndpoint: 'AKKO_KMS_ENDPOINT',
  kmsKeyring: 'AKKO_KMS_KEYRING',
  virtualHostDomains: 'AKKO_VIRTUAL_HOST_DOMAINS',
  multipartMaxAgeSeconds: 'AKKO_MULTIPART_MAX_AGE_SECONDS',
};

/** A setting that cannot be used: the CLI prints `message` alone and exits 2. */
export class ConfigError extends Error {}

function describeSource(key: string, sources: Map<string, string>): string {
  const flag = `--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;
  return sources.get(key) ?? (ENV_NAMES[key] ? `${flag} / ${ENV_NAMES[key]}` : `setting ${key}`);
}

/**
 * Merges the sources and validates once, so the first bad value is reported with where it
 * came from (flag, variable or file).
 */
export function loadConfig(
  flags: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const merged: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  const file = (flags.config as string | undefined) ?? env.AKKO_CONFIG;
  if (file) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError(`config file ${file} (--config / AKKO_CONFIG) cannot be read: ${(e as Error).message}`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new ConfigError(`config file ${file} must hold a mapping of settings, got ${Array.isArray(parsed) ? 'a list' : typeof parsed}`);
      }
      for (const [k, v] of Object.entries(parsed)) {
        merged[k] = v;
        sources.set(k, `${k} in config file ${file}`);
      }
    }
  }
  for (const [key, name] of Object.entries(ENV_NAMES)) {
    if (key === 'config') continue;
    const v = env[name];
    if (v !== undefined && v !== '') {
      merged[key] = v;
      sources.set(key, `${name}`);
    }
  }
  for (const [key, v] of Object.entries(flags)) {
    if (key === 'config' || v === undefined) continue;
    merged[key] = v;
    sources.set(key, `--${key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`);
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    if (issue.code === 'unrecognized_keys') {
      throw new ConfigError(`unknown setting ${issue.keys.join(', ')} in config file ${file}`);
    }
    const value = JSON.stringify(merged[key]);
    throw new ConfigError(`invalid ${describeSource(key, sources)}=${value}: ${issue.message}`);
  }
  return result.data;
}
