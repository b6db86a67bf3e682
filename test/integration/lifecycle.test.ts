// Bucket lifecycle configuration (?lifecycle): stored as sent, given back, validated with S3's
// codes; Expiration carried out (x-amz-expiration on PUT/HEAD/GET, due objects deleted by the
// sweep). What the rules mean for each object and upload, with a fixed clock, is in
// test/unit/lifecycle.test.ts.
import {
  CompleteMultipartUploadCommand, CopyObjectCommand, CreateBucketCommand, CreateMultipartUploadCommand, DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand, GetObjectCommand, HeadObjectCommand, UploadPartCommand,
  PutBucketLifecycleConfigurationCommand, PutObjectCommand, S3Client, S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../helpers/clients.js';
import { startServer, tempDir, type TestServer } from '../helpers/server.js';
import { errorCode } from '../helpers/sign.js';
import { signedRequest } from '../helpers/signed.js';

let server: TestServer;
let s3: S3Client;
const B = 'lifecycle-test';

async function s3Error(p: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof S3ServiceException) return { name: e.name, status: e.$metadata.httpStatusCode };
    throw e;
  }
  throw new Error('expected an S3 error');
}

function put(rules: string, headers: Record<string, string> = {}) {
  return signedRequest(server, 'PUT', `/${B}`, { query: { lifecycle: '' }, headers, body: `<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${rules}</LifecycleConfiguration>` });
}

beforeAll(async () => {
  server = await startServer();
  s3 = sdkClient(server);
  await s3.send(new CreateBucketCommand({ Bucket: B }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

describe('lifecycle configuration', () => {
  it('NoSuchLifecycleConfiguration 404 before any is set', async () => {
    expect(await s3Error(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: B })))).toEqual({ name: 'NoSuchLifecycleConfiguration', status: 404 });
  });

  it('the SDK sets a configuration and reads it back as sent', async () => {
    const put = await s3.send(new PutBucketLifecycleConfigurationCommand({
      Bucket: B,
      LifecycleConfiguration: {
        Rules: [
          { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
          { ID: 'mpu', Status: 'Enabled', Filter: {}, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
          {
            ID: 'archive', Status: 'Disabled',
            Filter: { And: { Prefix: 'data/', Tags: [{ Key: 'tier', Value: 'cold' }, { Key: 'team', Value: 'ml' }] } },
            Transitions: [{ Days: 90, StorageClass: 'GLACIER' }],
            NoncurrentVersionExpiration: { NoncurrentDays: 10 },
          },
        ],
      },
    }));
    expect(put.$metadata.httpStatusCode).toBe(200);
    expect(put.TransitionDefaultMinimumObjectSize).toBe('all_storage_classes_128K');
    const got = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: B }));
    expect(got.TransitionDefaultMinimumObjectSize).toBe('all_storage_classes_128K');
    expect(got.Rules).toEqual([
      { ID: 'logs', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
      { ID: 'mpu', Status: 'Enabled', Filter: {}, AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 } },
      {
        ID: 'archive', Status: 'Disabled',
        Filter: { And: { Prefix: 'data/', Tags: [{ Key: 'tier', Value: 'cold' }, { Key: 'team', Value: 'ml' }] } },
        Transitions: [{ Days: 90, StorageClass: 'GLACIER' }],
        NoncurrentVersionExpiration: { NoncurrentDays: 10 },
      },
    ]);
  });

  it('a rule-level Prefix (V1) stays one; a rule without ID gets one; a Date at midnight is kept', async () => {
    const r = await put('<Rule><Prefix>tmp/</Prefix><Status>Enabled</Status><Expiration><Date>2030-01-01T00:00:00Z</Date></Expiration></Rule>');
    expect(r.status).toBe(200);
    const got = await signedRequest(server, 'GET', `/${B}`, { query: { lifecycle: '' } });
    expect(got.status).toBe(200);
    expect(got.body).toMatch(/<LifecycleConfiguration xmlns="http:\/\/s3.amazonaws.com\/doc\/2006-03-01\/"><Rule><ID>[A-Za-z0-9+/=]{48}<\/ID><Prefix>tmp\/<\/Prefix><Status>Enabled<\/Status><Expiration><Date>2030-01-01T00:00:00.000Z<\/Date><\/Expiration><\/Rule><\/LifecycleConfiguration>/);
    expect(got.body).not.toContain('<Filter>');
  });

  it('invalid documents get the codes S3 answers', async () => {
    const f = '<Filter><Prefix>a/</Prefix></Filter>';
    const cases: [string, number, string, string?][] = [
      [`<Rule><ID>x</ID>${f}<Status>enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`, 400, 'MalformedXML'],
      ['<Rule><ID>x</ID><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>', 400, 'MalformedXML'],
      [`<Rule><ID>x</ID><Filter><Prefix>a</Prefix><ObjectSizeGreaterThan>1</ObjectSizeGreaterThan></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`, 400, 'MalformedXML'],
      [`<Rule><ID>x</ID>${f}<Status>Enabled</Status><Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>`, 400, 'MalformedXML'],
      [`<Rule><ID>x</ID>${f}<Status>Enabled</Status><Expiration><Days>1</Days></Expiration><Bogus/></Rule>`, 400, 'MalformedXML'],
      ['', 400, 'MalformedXML'],
      [`<Rule><ID>x</ID>${f}<Status>Enabled</Status><Expiration><Days>0</Days></Expiration></Rule>`, 400, 'InvalidArgument', "'Days' for Expiration action must be a positive integer"],
      [`<Rule><ID>x</ID>${f}<Status>Enabled</Status><Expiration><Date>2030-01-01T12:00:00Z</Date></Expiration></Rule>`, 400, 'InvalidArgument', "'Date' must be at midnight GMT"],
      [`<Rule><ID>${'i'.repeat(256)}</ID>${f}<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`, 400, 'InvalidArgument', 'ID length should not exceed allowed limit of 255'],
      [`<Rule><ID>same</ID>${f}<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule><Rule><ID>same</ID>${f}<Status>Enabled</Status><Expiration><Days>2</Days></Expiration></Rule>`, 400, 'InvalidArgument', 'Rule ID must be unique. Found same ID for more than one rule'],
      [`<Rule><ID>x</ID>${f}<Status>Enabled</Status></Rule>`, 400, 'InvalidRequest', 'At least one action needs to be specified in a rule'],
      ['<Rule><ID>x</ID><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter><Status>Enabled</Status><AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>', 400, 'InvalidRequest', 'AbortIncompleteMultipartUpload cannot be specified with Tags.'],
      ['<Rule><ID>x</ID><Filter><And><Tag><Key>k</Key><Value>1</Value></Tag><Tag><Key>k</Key><Value>2</Value></Tag></And></Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>', 400, 'InvalidRequest', 'Duplicate Tag Keys are not allowed.'],
      [`<Rule><ID>a</ID><Prefix>p/</Prefix><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule><Rule><ID>b</ID>${f}<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`, 400, 'InvalidRequest', 'Filter element can only be used in Lifecycle V2.'],
    ];
    for (const [rules, status, code, message] of cases) {
      const r = await put(rules);
      expect([r.status, errorCode(r.body), rules]).toEqual([status, code, rules]);
      if (message) expect(r.body).toContain(`<Message>${message.replace(/'/g, '&apos;')}</Message>`);
    }
    const badHeader = await put(`<Rule><ID>x</ID>${f}<Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>`, { 'x-amz-transition-default-minimum-object-size': 'tiny' });
    expect([badHeader.status, errorCode(badHeader.body)]).toEqual([400, 'InvalidRequest']);
  });

  it('a PUT without Content-MD5 or a checksum is InvalidRequest', async () => {
    const r = await signedRequest(server, 'PUT', `/${B}`, { query: { lifecycle: '' }, md5: false, body: '<LifecycleConfiguration><Rule><ID>x</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>' });
    expect([r.status, errorCode(r.body)]).toEqual([400, 'InvalidRequest']);
  });

  it('DeleteBucketLifecycle: 204, with or without a configuration; then 404', async () => {
    expect((await put('<Rule><ID>x</ID><Filter/><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>')).status).toBe(200);
    const del = await s3.send(new DeleteBucketLifecycleCommand({ Bucket: B }));
    expect(del.$metadata.httpStatusCode).toBe(204);
    expect(await s3Error(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: B })))).toEqual({ name: 'NoSuchLifecycleConfiguration', status: 404 });
    expect((await s3.send(new DeleteBucketLifecycleCommand({ Bucket: B }))).$metadata.httpStatusCode).toBe(204);
    expect(await s3Error(s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'no-such-bucket-lc' })))).toEqual({ name: 'NoSuchBucket', status: 404 });
  });
});

describe('Expiration carried out', () => {
  it('PUT, HEAD and GET name the expiry date and rule; due objects are gone after the sweep of the next start', async () => {
    const dataDir = tempDir('akko-lc-exp-');
    let srv = await startServer({ dataDir, args: ['--buckets', 'lc-exp'] });
    let c = sdkClient(srv);
    try {
      await c.send(new PutBucketLifecycleConfigurationCommand({
        Bucket: 'lc-exp',
        LifecycleConfiguration: {
          Rules: [
            { ID: 'logs-30d', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 30 } },
            { ID: 'gone', Status: 'Enabled', Filter: { Prefix: 'gone/' }, Expiration: { Date: new Date('2020-01-01T00:00:00Z') } },
          ],
        },
      }));
      const put = await c.send(new PutObjectCommand({ Bucket: 'lc-exp', Key: 'logs/app.log', Body: 'log line' }));
      const head = await c.send(new HeadObjectCommand({ Bucket: 'lc-exp', Key: 'logs/app.log' }));
      const day = 86_400_000;
      const due = new Date(Math.ceil((head.LastModified!.getTime() + 30 * day) / day) * day).toUTCString();
      expect(put.Expiration).toBe(`expiry-date="${due}", rule-id="logs-30d"`);
      expect(head.Expiration).toBe(put.Expiration);
      const get = await c.send(new GetObjectCommand({ Bucket: 'lc-exp', Key: 'logs/app.log' }));
      expect(get.Expiration).toBe(put.Expiration);
      await get.Body!.transformToString();
      expect((await c.send(new PutObjectCommand({ Bucket: 'lc-exp', Key: 'data/keep', Body: 'x' }))).Expiration).toBeUndefined();
      const copy = await c.send(new CopyObjectCommand({ Bucket: 'lc-exp', Key: 'logs/copy.log', CopySource: 'lc-exp/data/keep' }));
      expect(copy.Expiration).toMatch(/^expiry-date="[^"]+ GMT", rule-id="logs-30d"$/);
      const mpu = await c.send(new CreateMultipartUploadCommand({ Bucket: 'lc-exp', Key: 'logs/big.log' }));
      const part = await c.send(new UploadPartCommand({ Bucket: 'lc-exp', Key: 'logs/big.log', UploadId: mpu.UploadId, PartNumber: 1, Body: 'one part' }));
      const done = await c.send(new CompleteMultipartUploadCommand({ Bucket: 'lc-exp', Key: 'logs/big.log', UploadId: mpu.UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
      expect(done.Expiration).toMatch(/^expiry-date="[^"]+ GMT", rule-id="logs-30d"$/);
      for (const k of ['gone/1', 'gone/2']) {
        const r = await c.send(new PutObjectCommand({ Bucket: 'lc-exp', Key: k, Body: k }));
        expect(r.Expiration).toBe('expiry-date="Wed, 01 Jan 2020 00:00:00 GMT", rule-id="gone"');
      }
    } finally {
      c.destroy();
      await srv.stop();
    }
    srv = await startServer({ dataDir, args: ['--buckets', 'lc-exp'] });
    c = sdkClient(srv);
    try {
      const status = async (k: string) => c.send(new HeadObjectCommand({ Bucket: 'lc-exp', Key: k })).then(() => 200, (e: S3ServiceException) => e.$metadata.httpStatusCode);
      const until = Date.now() + 15_000;
      while ((await status('gone/1')) !== 404 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(await status('gone/1')).toBe(404);
      expect(await status('gone/2')).toBe(404);
      expect(await status('logs/app.log')).toBe(200);
      expect(await status('data/keep')).toBe(200);
      const logged = () => srv.stderr.some((l) => /lifecycle: deleted 2 expired object\(s\) \(Expiration\)/.test(l));
      while (!logged() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(logged(), srv.stderr.join('\n')).toBe(true);
    } finally {
      c.destroy();
      await srv.destroy();
    }
  });
});
