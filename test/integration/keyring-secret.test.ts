// The server with its local keyring in a Kubernetes Secret (AKKO_KMS_KEYRING=k8s-secret:...),
// the real binary with the real @kubernetes/client-node against the Kubernetes API double,
// through KUBECONFIG and with RBAC narrowed to the one Secret: objects are encrypted and no
// key material is in the data dir, `kms rotate` updates the Secret, a restart reads back, and
// a Secret that is gone or an API server that cannot be reached stops the start instead of
// creating a replacement keyring.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYRING_SECRET_KEY } from '../../kms/keyring/secret.js';
import { KubeDouble } from '../doubles/kube-double.js';
import { sdkClient } from '../helpers/clients.js';
import { startServer, tempDir } from '../helpers/server.js';
import { filesUnder, kms } from './kms-ops-support.js';

const SECRET = 'akko-storage-keyring';
let kube: KubeDouble;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  kube = await KubeDouble.start();
  kube.namespaces.add('akko');
  dir = tempDir('akko-keyring-secret-');
  // Least RBAC: get/update/delete on this one Secret by name, create in the namespace.
  const token = kube.addToken('system:serviceaccount:akko:akko-storage', { secrets: ['get', 'create', 'update', 'delete'], resourceNames: [SECRET], namespaces: ['akko'] });
  env = { KUBECONFIG: kube.writeKubeconfig(join(dir, 'kubeconfig'), token, 'akko'), AKKO_KMS_KEYRING: `k8s-secret:${SECRET}` };
});
afterAll(async () => {
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

function keyring(): { defaultKey: string; keys: Array<{ kid: string; k: string }> } {
  return JSON.parse(kube.secretValue('akko', SECRET, KEYRING_SECRET_KEY)!.toString('utf8'));
}

async function read(s3: ReturnType<typeof sdkClient>, key: string): Promise<Buffer> {
  const r = await s3.send(new GetObjectCommand({ Bucket: 'sk', Key: key }));
  return Buffer.from(await r.Body!.transformToByteArray());
}

describe('local keyring in a Kubernetes Secret', () => {
  it('encrypts with keys that live only in the Secret; rotate, restart, a lost Secret and an unreachable API server', async () => {
    const dataDir = join(dir, 'data');
    const plain = Buffer.from(Array.from({ length: 3000 }, (_, i) => `secret-keyring-object line ${i} ${(i * 7919) % 10007}\n`).join(''));
    let server = await startServer({ dataDir, args: ['--buckets', 'sk'], env });
    let s3 = sdkClient(server);
    try {
      expect(keyring().keys.map((k) => k.kid)).toEqual(['akko-default/v1']);
      const put = await s3.send(new PutObjectCommand({ Bucket: 'sk', Key: 'a', Body: plain }));
      expect(put.ServerSideEncryption).toBe('aws:kms');
      // Neither the plaintext nor any key of the keyring is anywhere under the data dir.
      const material = [plain.subarray(1000, 1064), ...keyring().keys.flatMap((k) => [Buffer.from(k.k), Buffer.from(k.k, 'base64url')])];
      for (const f of filesUnder(dataDir)) {
        expect(f).not.toMatch(/kms-keyring/);
        const content = readFileSync(f);
        for (const m of material) expect(content.includes(m), f).toBe(false);
      }
      const list = await kms(server, ['keys', 'list']);
      expect(list.code, list.stderr).toBe(0);
      expect(list.stdout).toContain(`local keyring Kubernetes Secret akko/${SECRET} (this server's provider)`);
      const rot = await kms(server, ['rotate']);
      expect(rot.code, rot.stderr).toBe(0);
      expect(keyring().keys.map((k) => k.kid).sort()).toEqual(['akko-default/v1', 'akko-default/v2']);
      await s3.send(new PutObjectCommand({ Bucket: 'sk', Key: 'b', Body: plain }));
    } finally {
      s3.destroy();
      await server.stop();
    }

    server = await startServer({ dataDir, args: ['--buckets', 'sk'], env });
    s3 = sdkClient(server);
    try {
      expect((await read(s3, 'a')).equals(plain)).toBe(true);
      expect((await read(s3, 'b')).equals(plain)).toBe(true);
    } finally {
      s3.destroy();
      await server.stop();
    }

    // The Secret is gone: no replacement keyring, the start stops and names the Secret.
    const saved = kube.secrets.get(`akko/${SECRET}`)!;
    kube.secrets.delete(`akko/${SECRET}`);
    await expect(startServer({ dataDir, args: ['--buckets', 'sk'], env })).rejects.toThrow(new RegExp(`keyring Kubernetes Secret akko/${SECRET} does not exist but stored bucket keys reference akko-default/v`));
    expect(kube.secrets.has(`akko/${SECRET}`)).toBe(false);

    // Restored as the runbook does (`kubectl create secret generic --from-file=keyring.json=…`:
    // no labels, a new uid and resourceVersion); then the API server cannot be reached: the
    // start stops again, and nothing is created when it comes back.
    kube.secrets.set(`akko/${SECRET}`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: SECRET, namespace: 'akko', resourceVersion: '9', uid: 'restored' }, type: 'Opaque', data: { [KEYRING_SECRET_KEY]: saved.data[KEYRING_SECRET_KEY]! } });
    await kube.refuseConnections();
    try {
      await expect(startServer({ dataDir, args: ['--buckets', 'sk'], env })).rejects.toThrow(/cannot read the keyring Kubernetes Secret akko\/akko-storage-keyring: .*cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:/);
    } finally {
      await kube.acceptConnections();
    }
    expect(keyring().keys).toHaveLength(2);

    server = await startServer({ dataDir, args: ['--buckets', 'sk'], env });
    s3 = sdkClient(server);
    try {
      expect((await read(s3, 'a')).equals(plain)).toBe(true);
    } finally {
      s3.destroy();
      await server.destroy();
    }
  });

  it('a keyring setting that is not a file or a Secret name exits 2 naming the setting', async () => {
    await expect(startServer({ dataDir: join(dir, 'bad'), env: { AKKO_KMS_KEYRING: 'k8s-secret:Not_A_Name' } })).rejects.toThrow(/exited with 2.*invalid AKKO_KMS_KEYRING="k8s-secret:Not_A_Name": k8s-secret: must be followed by \[namespace\/\]name/s);
  });
});
