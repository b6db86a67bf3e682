// Where the local keyring lives: a file in the data dir (the embedded default) or a Kubernetes
// Secret (so that the keys survive the loss of the data volume and are backed up with the
// cluster). The provider reads the whole document, changes it and writes it back; every
// backend refuses a write that would overwrite a version it did not read, and none of them
// ever treats "cannot read" as "does not exist" (that would silently create a replacement).

export interface KeyringDocument {
  format: 'akko-keyring';
  version: 1;
  defaultKey: string;
  keys: Array<Record<string, unknown>>;
}

export interface KeyringStorage {
  /** Names the keyring in messages: a path, or `Kubernetes Secret <ns>/<name>`. */
  readonly location: string;
  /** The document, or undefined when the keyring does not exist. */
  read(): Promise<KeyringDocument | undefined>;
  /** Writes a new keyring; fails if one appeared since the last read. */
  create(doc: KeyringDocument): Promise<void>;
  /** Replaces the document last read; fails if it was changed by someone else since. */
  replace(doc: KeyringDocument): Promise<void>;
  /**
   * Moves the keyring aside for good (its last key was retired): kept for the operator to move
   * offline or destroy, never read again. Returns where it went.
   */
  archive(): Promise<string>;
}

/** The keyring's location setting names a Kubernetes Secret: `k8s-secret:[namespace/]name`. */
export const SECRET_SCHEME = 'k8s-secret:';
const DNS_LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
const DNS_SUBDOMAIN = '[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?';
const SECRET_REF = new RegExp(`^(?:(${DNS_LABEL})/)?(${DNS_SUBDOMAIN})$`);

export type KeyringLocation = { kind: 'file'; path: string } | { kind: 'secret'; namespace?: string; name: string };

/** Parses the `kmsKeyring` setting; throws a RangeError that says what is allowed. */
export function parseKeyringLocation(value: string): KeyringLocation {
  if (!value.startsWith(SECRET_SCHEME)) return { kind: 'file', path: value };
  const m = SECRET_REF.exec(value.slice(SECRET_SCHEME.length));
  if (!m) throw new RangeError(`${SECRET_SCHEME} must be followed by [namespace/]name, lower-case DNS names (a Kubernetes Secret)`);
  return { kind: 'secret', namespace: m[1], name: m[3]! };
}

/** Parses and checks what was read; a keyring that is not one stops the caller, naming where it came from. */
export function parseDocument(text: string, location: string): KeyringDocument {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error(`${location} is not an akko keyring (not JSON)`);
  }
  const d = data as Partial<KeyringDocument> | null;
  if (!d || typeof d !== 'object' || d.format !== 'akko-keyring' || d.version !== 1 || !Array.isArray(d.keys) || typeof d.defaultKey !== 'string') {
    throw new Error(`${location} is not an akko keyring`);
  }
  return d as KeyringDocument;
}

export function serialize(doc: KeyringDocument): string {
  return JSON.stringify(doc, null, 2) + '\n';
}
