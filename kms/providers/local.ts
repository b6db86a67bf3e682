// The `local` KMS: a versioned keyring of 256-bit JWKs (kid `<name>/v<N>`), kept in a file of
// the data dir or in a Kubernetes Secret (kms/keyring/). Data keys are wrapped as flattened JWE
// (A256GCMKW + A256GCM) whose additional authenticated data is the encryption context; the AAD
// is not stored in the blob but supplied again at decrypt time, so a different context fails
// authentication, as in AWS KMS.
import { randomFillSync, randomBytes } from 'node:crypto';
import { isAbsolute, join, resolve } from 'node:path';
import jose from 'node-jose';
import { IntegrityError, KmsKeyNotFoundError } from '../errors.js';
import { FileKeyringStorage } from '../keyring/file.js';
import { SecretKeyringStorage } from '../keyring/secret.js';
import { parseKeyringLocation, type KeyringDocument, type KeyringStorage } from '../keyring/storage.js';
import type { BucketKeyRecord, BucketKeyRecords, DataKey, EncryptionContext, KeyDescription, KmsProvider } from '../types.js';

export const KEYRING_FILE = 'kms-keyring.json';
export const DEFAULT_LOCAL_KEY = 'akko-default';
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const KID = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})\/v([1-9][0-9]{0,8})$/;

/**
 * Where the keyring is: the `kmsKeyring` setting (a file path, relative to the data dir, or
 * `k8s-secret:[namespace/]name`), by default `<dataDir>/kms-keyring.json`.
 */
export function keyringStorage(dataDir: string, setting?: string): KeyringStorage {
  if (!setting) return new FileKeyringStorage(join(dataDir, KEYRING_FILE));
  const loc = parseKeyringLocation(setting);
  if (loc.kind === 'secret') return new SecretKeyringStorage({ name: loc.name, namespace: loc.namespace });
  return new FileKeyringStorage(isAbsolute(loc.path) ? loc.path : resolve(dataDir, loc.path));
}

/** The server must not start: stored bucket keys name keyring keys that are not there. */
export class KeyringMissingKeysError extends Error {
  override name = 'KeyringMissingKeysError';
  constructor(
    readonly location: string,
    readonly keyIds: string[],
    missing = false,
  ) {
    super(
      `${missing ? `keyring ${location} does not exist` : `keyring ${location} lacks key(s) ${keyIds.join(', ')}`} but stored bucket keys reference ${keyIds.join(', ')}; ` +
        'restore the keyring from backup (a replacement keyring cannot decrypt existing objects, so none is created)',
    );
  }
}

/** Stable encoding of an encryption context (key order must not matter). */
export function canonicalContext(ctx: EncryptionContext): Buffer {
  return Buffer.from(JSON.stringify(Object.keys(ctx).sort().map((k) => [k, ctx[k]])));
}

function parseKid(kid: string): { name: string; version: number } | undefined {
  const m = KID.exec(kid);
  return m ? { name: m[1]!, version: Number(m[2]) } : undefined;
}

/** The keyring version (`name/vN`) that wrapped a local blob, read from its protected header; undefined if it is not one. */
export function localBlobKid(ciphertext: Buffer): string | undefined {
  try {
    const jwe = JSON.parse(ciphertext.toString('utf8')) as Record<string, unknown>;
    const kid = (JSON.parse(Buffer.from(String(jwe.protected), 'base64url').toString('utf8')) as { kid?: unknown }).kid;
    return typeof kid === 'string' && parseKid(kid) ? kid : undefined;
  } catch {
    return undefined;
  }
}

export interface LocalKmsOptions {
  dataDir: string;
  /** Default: the file `<dataDir>/kms-keyring.json`. */
  storage?: KeyringStorage;
  /** Name of the key created with a new keyring. */
  defaultKeyName?: string;
  /** Stored bucket keys: a missing keyring file with local records present is refused. */
  records?: BucketKeyRecords | Iterable<BucketKeyRecord>;
}

function* localRecords(records: LocalKmsOptions['records']): Iterable<BucketKeyRecord> {
  if (!records) return;
  const it = Symbol.iterator in records ? (records as Iterable<BucketKeyRecord>) : (records as BucketKeyRecords).list();
  for (const r of it) if (r.provider === 'local') yield r;
}

function recordKid(r: BucketKeyRecord): string {
  return r.keyVersion ? `${r.kmsKeyId}/${r.keyVersion}` : r.kmsKeyId;
}

export class LocalKmsProvider implements KmsProvider {
  readonly name = 'local' as const;
  private store!: jose.JWK.KeyStore;
  private defaultKey!: string;
  private configuredDefault?: string;

  private constructor(private readonly storage: KeyringStorage) {}

  /** Where the keyring is kept (a path or a Kubernetes Secret), for messages. */
  get location(): string {
    return this.storage.location;
  }

  /** Loads the keyring; undefined when there is none. */
  static async openExisting(opts: Pick<LocalKmsOptions, 'dataDir' | 'storage'>): Promise<LocalKmsProvider | undefined> {
    const p = new LocalKmsProvider(opts.storage ?? keyringStorage(opts.dataDir));
    const doc = await p.storage.read();
    if (!doc) return undefined;
    await p.load(doc);
    return p;
  }

  /** Loads the keyring, or creates it with one key when there is none and nothing depends on one. */
  static async open(opts: LocalKmsOptions): Promise<LocalKmsProvider> {
    const storage = opts.storage ?? keyringStorage(opts.dataDir);
    const existing = await LocalKmsProvider.openExisting({ dataDir: opts.dataDir, storage });
    if (existing) return existing;
    const p = new LocalKmsProvider(storage);
    const referenced = [...new Set([...localRecords(opts.records)].map(recordKid))];
    if (referenced.length) throw new KeyringMissingKeysError(p.location, referenced, true);
    const name = opts.defaultKeyName ?? DEFAULT_LOCAL_KEY;
    if (!KEY_NAME.test(name)) throw new RangeError(`invalid key name ${name}`);
    p.store = jose.JWK.createKeyStore();
    p.defaultKey = name;
    await p.addVersion(name);
    await p.storage.create(p.document());
    return p;
  }

  /** Re-reads the keyring (before a change, so that nothing another writer added is lost). */
  async reload(): Promise<void> {
    const doc = await this.storage.read();
    if (!doc) throw new Error(`keyring ${this.location} no longer exists; restore it from backup`);
    await this.load(doc);
  }

  private async load(doc: KeyringDocument): Promise<void> {
    const store = await jose.JWK.asKeyStore({ keys: doc.keys });
    for (const k of store.all()) if (!parseKid(k.kid) || k.kty !== 'oct') throw new Error(`${this.location}: invalid key ${k.kid}`);
    this.store = store;
    this.defaultKey = doc.defaultKey;
    if (!this.currentKid(this.defaultKey)) throw new Error(`${this.location}: default key ${this.defaultKey} has no versions`);
  }

  private document(): KeyringDocument {
    return { format: 'akko-keyring', version: 1, defaultKey: this.defaultKey, keys: (this.store.toJSON(true) as { keys: Array<Record<string, unknown>> }).keys };
  }

  defaultKeyId(): string {
    return this.configuredDefault ?? this.defaultKey;
  }

  /** The configured default (`--kms-key-id`) for this process; the file keeps its own. */
  setDefaultKeyId(name: string): void {
    if (!this.currentKid(name)) throw new KmsKeyNotFoundError(name);
    this.configuredDefault = name;
  }

  keyNames(): string[] {
    return [...new Set(this.store.all().map((k) => parseKid(k.kid)!.name))].sort();
  }

  /** Every kid of a key, oldest first. */
  versions(name: string): string[] {
    return this.store
      .all()
      .map((k) => k.kid)
      .filter((kid) => parseKid(kid)?.name === name)
      .sort((a, b) => parseKid(a)!.version - parseKid(b)!.version);
  }

  currentKid(name: string): string | undefined {
    return this.versions(name).at(-1);
  }

  hasKid(kid: string): boolean {
    return (this.store.get(kid) as jose.JWK.Key | null) !== null;
  }

  private async addVersion(name: string): Promise<string> {
    const kid = `${name}/v${(parseKid(this.currentKid(name) ?? '')?.version ?? 0) + 1}`;
    await this.store.add({ kty: 'oct', kid, use: 'enc', alg: 'A256GCMKW', k: jose.util.base64url.encode(randomBytes(32)), created: Date.now() });
    return kid;
  }

  /** A new key (name must be new); returns its first kid. */
  async createKey(name: string): Promise<string> {
    if (!KEY_NAME.test(name)) throw new RangeError(`invalid key name ${name}`);
    await this.reload();
    if (this.currentKid(name)) throw new Error(`key ${name} already exists`);
    const kid = await this.addVersion(name);
    await this.storage.replace(this.document());
    return kid;
  }

  /** Adds a new current version; older versions stay and keep decrypting. Returns the new kid. */
  async rotate(name = this.defaultKeyId()): Promise<string> {
    await this.reload();
    if (!this.currentKid(name)) throw new KmsKeyNotFoundError(name);
    const kid = await this.addVersion(name);
    await this.storage.replace(this.document());
    return kid;
  }

  /** Every version of every key, oldest first, with its creation time (ms) and whether it is current. */
  keyVersions(): Array<{ name: string; kid: string; version: string; created?: number; current: boolean }> {
    const out: Array<{ name: string; kid: string; version: string; created?: number; current: boolean }> = [];
    for (const name of this.keyNames()) {
      const current = this.currentKid(name);
      for (const kid of this.versions(name)) {
        const created = (this.store.get(kid) as jose.JWK.Key).toJSON(true) as { created?: unknown };
        out.push({ name, kid, version: `v${parseKid(kid)!.version}`, created: typeof created.created === 'number' ? created.created : undefined, current: kid === current });
      }
    }
    return out;
  }

  /**
   * Removes one old version for good (`kms retire`): what it wrapped can never be unwrapped
   * again, so the caller first proves that nothing references it. The current version of a key
   * cannot be retired (rotate first).
   */
  async retireVersion(kid: string, opts: { allowCurrent?: boolean } = {}): Promise<{ archived?: string }> {
    await this.reload();
    const parsed = parseKid(kid);
    const key = parsed ? (this.store.get(kid) as jose.JWK.Key | null) : null;
    if (!parsed || !key) throw new KmsKeyNotFoundError(kid);
    if (this.currentKid(parsed.name) === kid && !opts.allowCurrent) throw new Error(`${kid} is the current version of ${parsed.name}: rotate first, then re-wrap, then retire it`);
    if (this.store.all().length === 1) {
      // The last key of the keyring (after a move to another KMS): the keyring goes aside, for
      // the operator to move offline or destroy; nothing here can read it again.
      const archived = await this.storage.archive();
      this.store.remove(key);
      return { archived };
    }
    if (parsed.name === this.defaultKey && this.versions(parsed.name).length === 1) {
      throw new Error(`${kid} is the only version of the keyring's default key ${parsed.name}; retire the other keys first, or keep it`);
    }
    this.store.remove(key);
    await this.storage.replace(this.document());
    return {};
  }

  /** A key name means its current version; a kid names one version. */
  private resolve(keyId: string): jose.JWK.Key {
    const kid = parseKid(keyId) ? keyId : KEY_NAME.test(keyId) ? this.currentKid(keyId) : undefined;
    const key = kid ? (this.store.get(kid) as jose.JWK.Key | null) : null;
    if (!key) throw new KmsKeyNotFoundError(keyId);
    return key;
  }

  private async wrap(key: jose.JWK.Key, plaintext: Buffer, ctx: EncryptionContext): Promise<Buffer> {
    // `aad` is supported by node-jose but missing from its typings.
    const opts = { format: 'flattened', fields: { alg: 'A256GCMKW', enc: 'A256GCM', kid: key.kid }, protect: '*', aad: canonicalContext(ctx) } as jose.JWE.EncryptOptions;
    const jwe = (await jose.JWE.createEncrypt(opts, key)
      .update(plaintext)
      .final()) as unknown as Record<string, unknown>;
    delete jwe.aad; // supplied by the caller at decrypt time
    return Buffer.from(JSON.stringify(jwe));
  }

  async generateDataKey(keyId: string, context: EncryptionContext): Promise<DataKey> {
    const key = this.resolve(keyId);
    const plaintext = randomFillSync(Buffer.alloc(32));
    const ciphertext = await this.wrap(key, plaintext, context);
    return { plaintext, ciphertext, keyId: parseKid(key.kid)!.name, keyVersion: `v${parseKid(key.kid)!.version}` };
  }

  async decrypt(ciphertext: Buffer, context: EncryptionContext, keyId?: string): Promise<{ plaintext: Buffer; keyId: string; keyVersion?: string }> {
    let jwe: Record<string, unknown>;
    let kid: string;
    try {
      jwe = JSON.parse(ciphertext.toString('utf8')) as Record<string, unknown>;
      kid = (JSON.parse(Buffer.from(String(jwe.protected), 'base64url').toString('utf8')) as { kid: string }).kid;
    } catch {
      throw new IntegrityError('kms-ciphertext', 'local KMS: ciphertext blob is not a keyring JWE');
    }
    const parsed = parseKid(kid);
    if (!parsed || !this.hasKid(kid)) throw new KmsKeyNotFoundError(kid);
    if (keyId !== undefined && keyId !== parsed.name && keyId !== kid) throw new IntegrityError('kms-ciphertext', `local KMS: blob was wrapped by ${kid}, not ${keyId}`);
    let out: Buffer;
    try {
      const r = await jose.JWE.createDecrypt(this.store, { algorithms: ['A256GCMKW', 'A256GCM'] }).decrypt({ ...jwe, aad: jose.util.base64url.encode(canonicalContext(context)) } as never);
      out = Buffer.alloc(r.plaintext.length);
      r.plaintext.copy(out);
      r.plaintext.fill(0);
    } catch {
      throw new IntegrityError('kms-ciphertext', `local KMS: blob failed authentication under ${kid} (wrong encryption context or corrupt)`);
    }
    return { plaintext: out, keyId: parsed.name, keyVersion: `v${parsed.version}` };
  }

  async reEncrypt(ciphertext: Buffer, context: EncryptionContext, destinationKeyId: string, sourceKeyId?: string): Promise<{ ciphertext: Buffer; keyId: string; keyVersion?: string }> {
    const dest = this.resolve(destinationKeyId);
    const { plaintext } = await this.decrypt(ciphertext, context, sourceKeyId);
    try {
      const blob = await this.wrap(dest, plaintext, context);
      return { ciphertext: blob, keyId: parseKid(dest.kid)!.name, keyVersion: `v${parseKid(dest.kid)!.version}` };
    } finally {
      plaintext.fill(0);
    }
  }

  /** Wraps a key already in hand (a bucket key moving here from another KMS). */
  async encrypt(plaintext: Buffer, context: EncryptionContext, keyId: string): Promise<{ ciphertext: Buffer; keyId: string; keyVersion?: string }> {
    const key = this.resolve(keyId);
    const ciphertext = await this.wrap(key, plaintext, context);
    return { ciphertext, keyId: parseKid(key.kid)!.name, keyVersion: `v${parseKid(key.kid)!.version}` };
  }

  async describeKey(keyId: string): Promise<KeyDescription> {
    const key = this.resolve(keyId);
    const name = parseKid(key.kid)!.name;
    return { keyId: name, state: 'Enabled', currentVersion: `v${parseKid(this.currentKid(name)!)!.version}` };
  }
}

/**
 * Start-up check: every keyring version referenced by a stored local bucket key must exist.
 * Throws KeyringMissingKeysError naming the missing kids and where the keyring is.
 */
export function verifyKeyring(provider: LocalKmsProvider, records: BucketKeyRecords | Iterable<BucketKeyRecord>): void {
  const missing = new Set<string>();
  for (const r of localRecords(records)) {
    const kid = recordKid(r);
    if (r.keyVersion ? !provider.hasKid(kid) : !provider.currentKid(r.kmsKeyId)) missing.add(kid);
  }
  if (missing.size) throw new KeyringMissingKeysError(provider.location, [...missing].sort());
}
