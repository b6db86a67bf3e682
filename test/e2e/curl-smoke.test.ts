// The smoke test of DESIGN §10 with Debian's curl: anonymous is denied, signed lists buckets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTool } from '../helpers/clients.js';
import { ok, run } from '../helpers/run.js';
import { startServer, type TestServer } from '../helpers/server.js';

const CURL = '/usr/bin/curl';
const hasCurl = requireTool(CURL);
let server: TestServer;

beforeAll(async () => { server = await startServer(); });
afterAll(async () => { await server?.destroy(); });

describe.runIf(hasCurl)('curl smoke test', () => {
  it('anonymous GET / gets the AccessDenied XML error', async () => {
    const r = ok(await run(CURL, ['-s', '-i', `${server.s3}/`]), 'curl');
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/);
    expect(r.stdout).toMatch(/x-amz-request-id: [0-9A-F]+/i);
    expect(r.stdout).toContain('<Code>AccessDenied</Code>');
  });

  it('a signed GET / gets ListAllMyBucketsResult', async () => {
    const r = ok(await run(CURL, ['-s', '-f', '--aws-sigv4', 'aws:amz:akko-local:s3', '--user', `${server.accessKey}:${server.secretKey}`, `${server.s3}/`]), 'curl');
    expect(r.stdout).toContain('<ListAllMyBucketsResult');
    expect(r.stdout).toContain('<Name>akko-iceberg</Name>');
  });

  it('a signed PUT and GET of an object round-trip', async () => {
    const auth = ['--aws-sigv4', 'aws:amz:akko-local:s3', '--user', `${server.accessKey}:${server.secretKey}`];
    ok(await run(CURL, ['-s', '-f', ...auth, '-X', 'PUT', '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', '--data-binary', 'hello from curl', `${server.s3}/akko-rag/curl.txt`]), 'curl put');
    const r = ok(await run(CURL, ['-s', '-f', ...auth, `${server.s3}/akko-rag/curl.txt`]), 'curl get');
    expect(r.stdout).toBe('hello from curl');
  });

  it('a wrong secret gets SignatureDoesNotMatch', async () => {
    const r = await run(CURL, ['-s', '-i', '--aws-sigv4', 'aws:amz:akko-local:s3', '--user', `${server.accessKey}:wrong`, `${server.s3}/`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/);
    expect(r.stdout).toContain('<Code>SignatureDoesNotMatch</Code>');
  });

  it('virtual-host-style addressing: <bucket>.localhost', async () => {
    // *.localhost does not resolve here, so curl is told to connect to 127.0.0.1 while it
    // sends (and signs) the virtual host name.
    const auth = ['--aws-sigv4', 'aws:amz:akko-local:s3', '--user', `${server.accessKey}:${server.secretKey}`];
    const vhost = `akko-aden.localhost:${server.port}`;
    const connect = ['--connect-to', `akko-aden.localhost:${server.port}:127.0.0.1:${server.port}`];
    ok(await run(CURL, ['-s', '-f', ...auth, ...connect, '-X', 'PUT', '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', '--data-binary', 'vh', `http://${vhost}/vhost.txt`]), 'curl vhost put');
    const r = ok(await run(CURL, ['-s', '-f', ...auth, ...connect, `http://${vhost}/vhost.txt`]), 'curl vhost get');
    expect(r.stdout).toBe('vh');
    const path = ok(await run(CURL, ['-s', '-f', ...auth, `${server.s3}/akko-aden/vhost.txt`]), 'curl path get');
    expect(path.stdout).toBe('vh');
    const list = ok(await run(CURL, ['-s', '-f', ...auth, ...connect, `http://${vhost}/?list-type=2`]), 'curl vhost list');
    expect(list.stdout).toContain('<Key>vhost.txt</Key>');
  });
});
