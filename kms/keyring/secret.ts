// The keyring in a Kubernetes Secret (data key `keyring.json`), through @kubernetes/client-node
// with the standard configuration: KUBECONFIG, ~/.kube/config, else the pod's service account.
// Writes carry the resourceVersion that was read, so the API server refuses (409) to let one
// writer overwrite another's keys; creating refuses (409) if the Secret appeared meanwhile.
// The service account needs get, create, update and (for `kms retire` of the last key) delete
// on this one Secret.
import type { CoreV1Api, KubeConfig, V1Secret } from '@kubernetes/client-node';
import { parseDocument, serialize, type KeyringDocument, type KeyringStorage } from './storage.js';

export const KEYRING_SECRET_KEY = 'keyring.json';
const LABELS = { 'app.kubernetes.io/name': 'akko-storage', 'app.kubernetes.io/component': 'kms-keyring' };

// The client library takes most of a second to load: only servers that use a Secret pay for it.
type Client = typeof import('@kubernetes/client-node');
let loading: Promise<Client> | undefined;
let loaded: Client | undefined;
async function loadClient(): Promise<Client> {
  loaded ??= await (loading ??= import('@kubernetes/client-node'));
  return loaded;
}

/** The HTTP status of an error the API server answered (an ApiException); undefined when it was not reached. */
function statusOf(e: unknown): number | undefined {
  return loaded && e instanceof loaded.ApiException ? e.code : undefined;
}

/** What the Kubernetes API said, in one line: the Status message, never a response body with data. */
function apiMessage(e: unknown): string {
  const code = statusOf(e);
  if (code !== undefined) {
    let body: unknown = (e as { body?: unknown }).body;
    if (typeof body === 'string') {
      try {
        body = JSON.parse(body);
      } catch {
        /* not JSON: keep the code alone */
      }
    }
    const msg = body && typeof body === 'object' && 'message' in body ? String((body as { message: unknown }).message) : '';
    return `HTTP ${code}${msg ? `: ${msg}` : ''}`;
  }
  const err = e as Error & { cause?: { code?: string; message?: string } };
  return err.cause?.message ?? err.cause?.code ?? err.message ?? String(e);
}

export interface SecretKeyringOptions {
  name: string;
  /** Default: the kubeconfig context's namespace (in a pod: the service account's), else `default`. */
  namespace?: string;
  /** Default: loaded from the standard places. */
  kubeConfig?: KubeConfig;
}

export class SecretKeyringStorage implements KeyringStorage {
  readonly name: string;
  private namespace?: string;
  private server = '(not yet loaded)';
  private api?: CoreV1Api;
  /** resourceVersion of the Secret last read or written: the precondition of the next write. */
  private resourceVersion?: string;

  constructor(private readonly opts: SecretKeyringOptions) {
    this.name = opts.name;
    this.namespace = opts.namespace;
  }

  get location(): string {
    return `Kubernetes Secret ${this.namespace ?? '(the kubeconfig namespace)'}/${this.name}`;
  }

  private async client(): Promise<{ api: CoreV1Api; namespace: string }> {
    if (!this.api) {
      const k8s = await loadClient();
      const kc = this.opts.kubeConfig ?? new k8s.KubeConfig();
      if (!this.opts.kubeConfig) kc.loadFromDefault();
      this.namespace ??= kc.getContextObject(kc.getCurrentContext())?.namespace ?? 'default';
      this.server = kc.getCurrentCluster()?.server ?? '(no cluster in the kubeconfig)';
      this.api = kc.makeApiClient(k8s.CoreV1Api);
    }
    return { api: this.api, namespace: this.namespace! };
  }

  /** An operator's message for a failed call: which Secret, which API server, what to fix. */
  private failure(action: string, e: unknown): Error {
    const code = statusOf(e);
    const hint =
      code === 401
        ? ' (the credentials of the kubeconfig or service account were refused)'
        : code === 403
          ? ` (RBAC: the service account needs get, create, update and delete on secrets/${this.name} in namespace ${this.namespace})`
          : code === undefined
            ? ` (cannot reach the Kubernetes API at ${this.server}; set KUBECONFIG or run in a pod with a service account)`
            : '';
    return new Error(`cannot ${action} the keyring ${this.location}: ${apiMessage(e)}${hint}`);
  }

  async read(): Promise<KeyringDocument | undefined> {
    const { api, namespace } = await this.client();
    let secret: V1Secret;
    try {
      secret = await api.readNamespacedSecret({ name: this.name, namespace });
    } catch (e) {
      // Only a definite 404 means "there is no keyring": anything else must not lead to a new one.
      if (statusOf(e) === 404) {
        this.resourceVersion = undefined;
        return undefined;
      }
      throw this.failure('read', e);
    }
    const encoded = secret.data?.[KEYRING_SECRET_KEY];
    if (encoded === undefined) throw new Error(`${this.location} has no ${KEYRING_SECRET_KEY} key: it is not an akko keyring`);
    const doc = parseDocument(Buffer.from(encoded, 'base64').toString('utf8'), this.location);
    this.resourceVersion = secret.metadata?.resourceVersion;
    return doc;
  }

  private body(doc: KeyringDocument, namespace: string, name = this.name, resourceVersion?: string): V1Secret {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace, labels: LABELS, ...(resourceVersion ? { resourceVersion } : {}) },
      type: 'Opaque',
      data: { [KEYRING_SECRET_KEY]: Buffer.from(serialize(doc)).toString('base64') },
    };
  }

  async create(doc: KeyringDocument): Promise<void> {
    const { api, namespace } = await this.client();
    try {
      const s = await api.createNamespacedSecret({ namespace, body: this.body(doc, namespace) });
      this.resourceVersion = s.metadata?.resourceVersion;
    } catch (e) {
      if (statusOf(e) === 409) throw new Error(`cannot create the keyring ${this.location}: it was created by someone else meanwhile; start again to use it`);
      throw this.failure('create', e);
    }
  }

  async replace(doc: KeyringDocument): Promise<void> {
    if (!this.resourceVersion) throw new Error(`cannot update the keyring ${this.location}: it was not read first`);
    const { api, namespace } = await this.client();
    try {
      const s = await api.replaceNamespacedSecret({ name: this.name, namespace, body: this.body(doc, namespace, this.name, this.resourceVersion) });
      this.resourceVersion = s.metadata?.resourceVersion;
    } catch (e) {
      if (statusOf(e) === 409) throw new Error(`cannot update the keyring ${this.location}: it was changed by someone else since it was read; nothing was written, retry the command`);
      throw this.failure('update', e);
    }
  }

  async archive(): Promise<string> {
    const current = await this.read();
    if (!current) throw new Error(`cannot archive the keyring ${this.location}: it does not exist`);
    const { api, namespace } = await this.client();
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').toLowerCase();
    const name = `${this.name.slice(0, 253 - 25)}-retired-${stamp}z`;
    try {
      await api.createNamespacedSecret({ namespace, body: this.body(current, namespace, name) });
    } catch (e) {
      throw this.failure(`archive (create Secret ${namespace}/${name} for)`, e);
    }
    try {
      await api.deleteNamespacedSecret({ name: this.name, namespace, body: { preconditions: { resourceVersion: this.resourceVersion } } });
    } catch (e) {
      throw this.failure(`delete (after archiving it as ${name})`, e);
    }
    this.resourceVersion = undefined;
    return `Kubernetes Secret ${namespace}/${name}`;
  }
}
