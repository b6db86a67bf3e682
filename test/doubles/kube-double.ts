// A small Kubernetes API server stand-in for tests: the real REST protocol on 127.0.0.1 for
// core/v1 Secrets (get, create, replace, delete), with what the real API server enforces:
// bearer-token authentication (401), per-token RBAC on verbs and resource names with the real
// Forbidden message (403), NotFound (404), AlreadyExists and resourceVersion / precondition
// Conflicts (409), name and data validation and the 1 MiB Secret limit (422), namespaces that
// must exist, and metav1.Status bodies for every error. A mode refuses connections. The real
// @kubernetes/client-node talks to it through a kubeconfig that `writeKubeconfig` writes.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpDouble } from './http-double.js';

type Verb = 'get' | 'create' | 'update' | 'delete';

export interface KubeRole {
  /** Verbs allowed on secrets; `resourceNames` narrows get/update/delete as RBAC does (create cannot be narrowed). */
  secrets: Verb[];
  resourceNames?: string[];
  namespaces?: string[];
}

interface StoredSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: Record<string, unknown> & { name: string; namespace: string; resourceVersion: string; uid: string };
  type: string;
  data: Record<string, string>;
}

class KubeFault extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;
const MAX_SECRET_BYTES = 1024 * 1024;
const SECRET_PATH = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/;

export class KubeDouble extends HttpDouble {
  private revision = 1000;
  readonly secrets = new Map<string, StoredSecret>();
  readonly namespaces = new Set(['default', 'kube-system']);
  /** token → what it may do, and who it is (for messages). */
  private readonly tokens = new Map<string, { user: string; role: KubeRole }>();

  static async start(): Promise<KubeDouble> {
    const d = new KubeDouble();
    await d.listenOnFreePort();
    return d;
  }

  /** A service-account token with the given rights; returns the token. */
  addToken(user: string, role: KubeRole, token = `tok-${randomUUID()}`): string {
    this.tokens.set(token, { user, role });
    return token;
  }

  /** A kubeconfig file for the client: this server (plain HTTP, which the client allows only with insecure-skip-tls-verify), the token, and a default namespace. */
  writeKubeconfig(path: string, token: string, namespace = 'default'): string {
    writeFileSync(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: double\n  cluster:\n    server: ${this.url}\n    insecure-skip-tls-verify: true`,
        'users:',
        `- name: tester\n  user:\n    token: ${token}`,
        'contexts:',
        `- name: double\n  context:\n    cluster: double\n    user: tester\n    namespace: ${namespace}`,
        'current-context: double',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    return path;
  }

  /** The decoded value of one data key of a stored Secret (tests look inside). */
  secretValue(namespace: string, name: string, key: string): Buffer | undefined {
    const s = this.secrets.get(`${namespace}/${name}`);
    return s?.data[key] === undefined ? undefined : Buffer.from(s.data[key], 'base64');
  }

  /** Changes a Secret behind the client's back, as another writer would (bumps resourceVersion). */
  touch(namespace: string, name: string): void {
    const s = this.secrets.get(`${namespace}/${name}`);
    if (s) s.metadata.resourceVersion = String(++this.revision);
  }

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://x');
      const who = this.authenticate(req);
      const m = SECRET_PATH.exec(url.pathname);
      if (!m) throw new KubeFault(404, 'NotFound', 'the server could not find the requested resource');
      const namespace = decodeURIComponent(m[1]!);
      const name = m[2] === undefined ? undefined : decodeURIComponent(m[2]);
      const verb = this.verbOf(req.method ?? 'GET', name);
      this.authorize(who, verb, namespace, name);
      if (!this.namespaces.has(namespace)) throw new KubeFault(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
      const out = verb === 'get' ? this.get(namespace, name) : verb === 'create' ? this.create(namespace, body) : verb === 'update' ? this.update(namespace, name, body) : this.delete(namespace, name, body);
      this.send(res, verb === 'create' ? 201 : 200, out);
    } catch (e) {
      const f = e instanceof KubeFault ? e : e instanceof SyntaxError ? new KubeFault(400, 'BadRequest', `json: ${e.message}`) : new KubeFault(500, 'InternalError', String(e));
      this.send(res, f.code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: f.message, reason: f.reason, details: f.details, code: f.code });
    }
  }

  private send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private authenticate(req: IncomingMessage): { user: string; role: KubeRole } {
    const m = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''));
    const who = m ? this.tokens.get(m[1]!) : undefined;
    if (!who) throw new KubeFault(401, 'Unauthorized', 'Unauthorized');
    return who;
  }

  private verbOf(method: string, name: string | undefined): Verb {
    if (method === 'GET' && name) return 'get';
    if (method === 'POST' && !name) return 'create';
    if (method === 'PUT' && name) return 'update';
    if (method === 'DELETE' && name) return 'delete';
    throw new KubeFault(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
  }

  private authorize(who: { user: string; role: KubeRole }, verb: Verb, namespace: string, name?: string): void {
    const r = who.role;
    const nameOk = verb === 'create' || !r.resourceNames || (name !== undefined && r.resourceNames.includes(name));
    const nsOk = !r.namespaces || r.namespaces.includes(namespace);
    if (r.secrets.includes(verb) && nameOk && nsOk) return;
    throw new KubeFault(
      403,
      'Forbidden',
      `secrets${name ? ` "${name}"` : ''} is forbidden: User "${who.user}" cannot ${verb} resource "secrets" in API group "" in the namespace "${namespace}"`,
      { name, kind: 'secrets' },
    );
  }

  private validate(body: Record<string, unknown> | undefined, namespace: string, name?: string): StoredSecret {
    const meta = (body?.metadata ?? {}) as Record<string, unknown>;
    const bodyName = meta.name;
    if (typeof bodyName !== 'string' || bodyName.length > 253 || !DNS_SUBDOMAIN.test(bodyName)) {
      throw new KubeFault(422, 'Invalid', `Secret "${String(bodyName ?? '')}" is invalid: metadata.name: Invalid value: "${String(bodyName ?? '')}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`);
    }
    if (name !== undefined && bodyName !== name) throw new KubeFault(400, 'BadRequest', `the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    if (meta.namespace !== undefined && meta.namespace !== namespace) throw new KubeFault(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    if (body?.kind !== undefined && body.kind !== 'Secret') throw new KubeFault(400, 'BadRequest', `Secret in version "v1" cannot be handled as a ${String(body.kind)}`);
    const data = (body?.data ?? {}) as Record<string, unknown>;
    let size = 0;
    for (const [k, v] of Object.entries(data)) {
      if (!DATA_KEY.test(k)) throw new KubeFault(422, 'Invalid', `Secret "${bodyName}" is invalid: data[${k}]: Invalid value: "${k}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`);
      if (typeof v !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw new KubeFault(400, 'BadRequest', `illegal base64 data at input byte 0 in data[${k}]`);
      size += Buffer.from(v, 'base64').length;
    }
    if (size > MAX_SECRET_BYTES) throw new KubeFault(422, 'Invalid', `Secret "${bodyName}" is invalid: data: Too long: must have at most ${MAX_SECRET_BYTES} bytes`);
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { ...meta, name: bodyName, namespace, resourceVersion: '', uid: '' },
      type: typeof body?.type === 'string' ? body.type : 'Opaque',
      data: data as Record<string, string>,
    };
  }

  private get(namespace: string, name?: string): StoredSecret {
    const s = this.secrets.get(`${namespace}/${name}`);
    if (!s) throw new KubeFault(404, 'NotFound', `secrets "${name}" not found`, { name, kind: 'secrets' });
    return s;
  }

  private create(namespace: string, body?: Record<string, unknown>): StoredSecret {
    const s = this.validate(body, namespace);
    const key = `${namespace}/${s.metadata.name}`;
    if (this.secrets.has(key)) throw new KubeFault(409, 'AlreadyExists', `secrets "${s.metadata.name}" already exists`, { name: s.metadata.name, kind: 'secrets' });
    s.metadata.uid = randomUUID();
    s.metadata.resourceVersion = String(++this.revision);
    s.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    this.secrets.set(key, s);
    return s;
  }

  private update(namespace: string, name: string | undefined, body?: Record<string, unknown>): StoredSecret {
    const cur = this.get(namespace, name);
    const s = this.validate(body, namespace, name);
    const rv = (body?.metadata as Record<string, unknown>).resourceVersion;
    // A PUT without resourceVersion is an unconditional update; with one it must match.
    if (rv !== undefined && rv !== cur.metadata.resourceVersion) {
      throw new KubeFault(409, 'Conflict', `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: 'secrets' });
    }
    s.metadata.uid = cur.metadata.uid;
    s.metadata.creationTimestamp = cur.metadata.creationTimestamp;
    s.metadata.resourceVersion = String(++this.revision);
    this.secrets.set(`${namespace}/${name}`, s);
    return s;
  }

  private delete(namespace: string, name: string | undefined, body?: Record<string, unknown>): Record<string, unknown> {
    const cur = this.get(namespace, name);
    const pre = (body?.preconditions ?? {}) as { resourceVersion?: string; uid?: string };
    if ((pre.resourceVersion !== undefined && pre.resourceVersion !== cur.metadata.resourceVersion) || (pre.uid !== undefined && pre.uid !== cur.metadata.uid)) {
      throw new KubeFault(409, 'Conflict', `Operation cannot be fulfilled on secrets "${name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${cur.metadata.resourceVersion}`, { name, kind: 'secrets' });
    }
    this.secrets.delete(`${namespace}/${name}`);
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: 'secrets', uid: cur.metadata.uid } };
  }
}
