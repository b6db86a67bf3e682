// Real clients pointed at a test server.
import { S3Client } from '@aws-sdk/client-s3';
import { existsSync } from 'node:fs';
import type { TestServer } from './server.js';

export function sdkClient(s: TestServer, opts: { region?: string; forcePathStyle?: boolean } = {}): S3Client {
  return new S3Client({
    endpoint: s.s3,
    region: opts.region ?? s.region,
    forcePathStyle: opts.forcePathStyle ?? true,
    credentials: { accessKeyId: s.accessKey, secretAccessKey: s.secretKey },
  });
}

/**
 * A Debian tool the test needs. Locally a missing one skips with a loud message; under CI a
 * missing tool is a failure.
 */
export function requireTool(path: string): boolean {
  if (existsSync(path)) return true;
  const msg = `${path} is missing: install it with scripts/install-test-deps.sh`;
  if (process.env.CI === 'true') throw new Error(msg);
  console.warn(`\n!!! SKIPPING: ${msg}\n`);
  return false;
}

/** Environment for the AWS CLI / boto3 / s3cmd children: no user config leaks in. */
export function awsEnv(s: TestServer, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_ACCESS_KEY_ID: s.accessKey,
    AWS_SECRET_ACCESS_KEY: s.secretKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...extra,
  };
}
