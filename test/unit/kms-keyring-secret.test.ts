// The local keyring kept in a Kubernetes Secret, through the real @kubernetes/client-node
// against the Kubernetes API double: created once and then only read, survives a restart,
// rotation updates it with resourceVersion preconditions, a concurrent writer is refused, and
// an API server that refuses (401, 403) or cannot be reached stops the start without creating
// anything.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYRING_SECRET_KEY, SecretKeyringStorage } from '../../kms/keyring/secret.js';
import { parseKeyringLocation } from '../../kms/keyring/storage.js';
import { KeyringMissingKeysError, LocalKmsProvider } from '../../kms/providers/local.js';
import type { BucketKeyRecord } from '../../kms/types.js';
import { KubeDouble } from '../doubles/kube-double.js';

const CTX = { 'aws:s3:arn': 'arn:aws:s3:::bucket-a' };
let kube: KubeDouble;
let dir: string;
let token: string;

beforeAll(async () => {
  kube = await KubeDouble.start();
  kube.namespaces.add('akko');
  token = kube.addToken('system:serviceaccount:akko:akko-storage', { secrets: ['get', 'create', 'update', 'delete'], namespaces: ['akko'] });
  dir = mkdtempSync(join(tmpdir(), 'akko-kms-secret-'));
});
afterAll(async () => {
  await kube.close();
  rmSync(dir, { recursive: true, force: true });
});

function kubeConfig(tok = token, namespace = 'akko'): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(kube.writeKubeconfig(join(dir, `kubeconfig-${Math.random().toString(36).slice(2)}`), tok, namespace));
  return kc;
}

function storage(name: string, kc = kubeConfig()): SecretKeyringStorage {
  return new SecretKeyringStorage({ name, kubeConfig: kc });
}

function stored(name: string): { defaultKey: string; keys: Array<{ kid: string }> } {
  return JSON.parse(kube.secretValue('akko', name, KEYRING_SECRET_KEY)!.toString('utf8'));
}

describe('the keyring location setting', () => {
  it('parses files and k8s-secret:[namespace/]name, and refuses names Kubernetes would refuse', () => {
    expect(parseKeyringLocation('/etc/akko/keyring.json')).toEqual({ kind: 'file', path: '/etc/akko/keyring.json' });
    expect(parseKeyringLocation('k8s-secret:akko-keyring')).toEqual({ kind: 'secret', namespace: undefined, name: 'akko-keyring' });
    expect(parseKeyringLocation('k8s-secret:akko/akko-keyring')).toEqual({ kind: 'secret', namespace: 'akko', name: 'akko-keyring' });
    for (const bad of ['k8s-secret:', 'k8s-secret:Akko', 'k8s-secret:a/b/c', 'k8s-secret:-x', 'k8s-secret:ns_1/x']) expect(() => parseKeyringLocation(bad), bad).toThrow(/namespace\/\]name/);
  });
});

describe('local keyring in a Kubernetes Secret', () => {
  it('is created on first start in the kubeconfig namespace, labelled, and loaded (not replaced) on the next', async () => {
    const p1 = await LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-a') });
    expect(p1.location).toBe('Kubernetes Secret akko/keyring-a');
    const s = kube.secrets.get('akko/keyring-a')!;
    expect(s.type).toBe('Opaque');
    expect(s.metadata.labels).toMatchObject({ 'app.kubernetes.io/name': 'akko-storage', 'app.kubernetes.io/component': 'kms-keyring' });
    expect(stored('keyring-a').keys.map((k) => k.kid)).toEqual(['akko-default/v1']);
    const dk = await p1.generateDataKey('akko-default', CTX);
    const rv = s.metadata.resourceVersion;
    const p2 = await LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-a') });
    expect(kube.secrets.get('akko/keyring-a')!.metadata.resourceVersion).toBe(rv);
    expect((await p2.decrypt(dk.ciphertext, CTX)).plaintext.equals(dk.plaintext)).toBe(true);
  });

  it('rotation writes a new version to the Secret; old versions keep decrypting', async () => {
    const p = await LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-b') });
    const old = await p.generateDataKey('akko-default', CTX);
    expect(await p.rotate()).toBe('akko-default/v2');
    expect(stored('keyring-b').keys.map((k) => k.kid).sort()).toEqual(['akko-default/v1', 'akko-default/v2']);
    const fresh = await LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-b') });
    expect((await fresh.decrypt(old.ciphertext, CTX)).plaintext.equals(old.plaintext)).toBe(true);
    expect((await fresh.generateDataKey('akko-default', CTX)).keyVersion).toBe('v2');
    // Two servers' rotations do not lose each other's versions: each re-reads before writing.
    expect(await p.rotate()).toBe('akko-default/v3');
    expect(await fresh.rotate()).toBe('akko-default/v4');
    expect(stored('keyring-b').keys).toHaveLength(4);
  });

  it('refuses to overwrite a Secret that changed since it was read, and writes nothing', async () => {
    const st = storage('keyring-c');
    await LocalKmsProvider.open({ dataDir: dir, storage: st });
    const doc = (await st.read())!;
    kube.touch('akko', 'keyring-c');
    const before = kube.secretValue('akko', 'keyring-c', KEYRING_SECRET_KEY)!;
    await expect(st.replace({ ...doc, keys: [] })).rejects.toThrow(/Kubernetes Secret akko\/keyring-c: it was changed by someone else/);
    expect(kube.secretValue('akko', 'keyring-c', KEYRING_SECRET_KEY)!.equals(before)).toBe(true);
    // A create racing another creator is refused too, rather than overwriting its keys.
    await expect(storage('keyring-c').create(doc)).rejects.toThrow(/created by someone else/);
  });

  it('refuses to create a replacement when stored bucket keys reference the keyring, naming the Secret', async () => {
    const rec: BucketKeyRecord = { id: 'r1', bucket: 'b', provider: 'local', kmsKeyId: 'akko-default', keyVersion: 'v1', wrapped: '', encryptionContext: CTX, created: 0, maxAgeMs: 1, maxObjects: 1 };
    const err = await LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-gone'), records: [rec] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KeyringMissingKeysError);
    expect((err as Error).message).toMatch(/keyring Kubernetes Secret akko\/keyring-gone does not exist.*akko-default\/v1/);
    expect(kube.secrets.has('akko/keyring-gone')).toBe(false);
  });

  it('a refusing or unreachable API server stops the start with a message naming the fix, and creates nothing', async () => {
    const forbidden = kube.addToken('system:serviceaccount:akko:other', { secrets: ['get'], resourceNames: ['something-else'] });
    await expect(LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-d', kubeConfig(forbidden)) })).rejects.toThrow(
      /cannot read the keyring Kubernetes Secret akko\/keyring-d: HTTP 403: secrets "keyring-d" is forbidden: .*RBAC: the service account needs get, create, update and delete on secrets\/keyring-d in namespace akko/,
    );
    await expect(LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-d', kubeConfig('not-a-token')) })).rejects.toThrow(/HTTP 401.*credentials of the kubeconfig or service account were refused/);
    // May read but not create: the 404 leads to a create, which is refused; nothing exists after.
    const readOnly = kube.addToken('system:serviceaccount:akko:reader', { secrets: ['get'] });
    await expect(LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-d', kubeConfig(readOnly)) })).rejects.toThrow(/cannot create the keyring .*HTTP 403/);
    expect(kube.secrets.has('akko/keyring-d')).toBe(false);
    await kube.refuseConnections();
    try {
      await expect(LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-d') })).rejects.toThrow(new RegExp(`cannot read the keyring .*cannot reach the Kubernetes API at ${kube.url}`));
    } finally {
      await kube.acceptConnections();
    }
    expect(kube.secrets.has('akko/keyring-d')).toBe(false);
  });

  it('a Secret that is not a keyring is refused, not overwritten', async () => {
    kube.secrets.set('akko/not-keyring', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'not-keyring', namespace: 'akko', resourceVersion: '1', uid: 'u' }, type: 'Opaque', data: { other: 'eA==' } });
    await expect(LocalKmsProvider.open({ dataDir: dir, storage: storage('not-keyring') })).rejects.toThrow(/Kubernetes Secret akko\/not-keyring has no keyring.json key/);
    expect(kube.secrets.get('akko/not-keyring')!.data).toEqual({ other: 'eA==' });
  });

  it('retiring the last key archives the Secret under a new name and deletes the original', async () => {
    const p = await LocalKmsProvider.open({ dataDir: dir, storage: storage('keyring-e') });
    const keys = kube.secretValue('akko', 'keyring-e', KEYRING_SECRET_KEY)!;
    const r = await p.retireVersion('akko-default/v1', { allowCurrent: true });
    expect(r.archived).toMatch(/^Kubernetes Secret akko\/keyring-e-retired-\d{8}t\d{6}z$/);
    expect(kube.secrets.has('akko/keyring-e')).toBe(false);
    const archivedName = r.archived!.split('/').pop()!;
    expect(kube.secretValue('akko', archivedName, KEYRING_SECRET_KEY)!.equals(keys)).toBe(true);
  });
});
