// `akko-storage buckets init`: the Helm post-install Job. It runs in its own pod, so it goes
// through the S3 API like any client, and is idempotent: HeadBucket, then CreateBucket.
import { CreateBucketCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from './config.js';
import { ConfigError } from './config.js';

function credentials(config: Config): { accessKeyId: string; secretAccessKey: string } {
  const ak = process.env.AKKO_S3_ACCESS_KEY;
  const sk = process.env.AKKO_S3_SECRET_KEY;
  if (ak && sk) return { accessKeyId: ak, secretAccessKey: sk };
  const path = join(config.dataDir, 'keystore.json');
  try {
    const keys = (JSON.parse(readFileSync(path, 'utf8')) as { keys: { id: string; secret: string; state: string }[] }).keys;
    const k = keys.find((x) => x.state === 'current');
    if (k) return { accessKeyId: k.id, secretAccessKey: k.secret };
  } catch {
    // fall through to the message below
  }
  throw new ConfigError(`no credentials: set AKKO_S3_ACCESS_KEY and AKKO_S3_SECRET_KEY, or --data-dir to a data dir with a keystore (${path} not usable)`);
}

export async function bucketsInit(config: Config, endpoint: string, print: (line: string) => void): Promise<boolean> {
  const client = new S3Client({ endpoint, region: config.region, forcePathStyle: true, credentials: credentials(config), maxAttempts: 5 });
  let ok = true;
  for (const name of config.buckets) {
    try {
      try {
        await client.send(new HeadBucketCommand({ Bucket: name }));
      } catch (e) {
        if ((e as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 404) throw e;
        try {
          await client.send(new CreateBucketCommand({ Bucket: name }));
        } catch (ce) {
          // Another init racing us created it first: that is success.
          if ((ce as Error).name !== 'BucketAlreadyOwnedByYou') throw ce;
        }
      }
      print(`[+] bucket ${name} ready`);
    } catch (e) {
      ok = false;
      print(`[!] bucket ${name} failed: ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
  client.destroy();
  return ok;
}
