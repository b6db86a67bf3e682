// The list of access keys the server accepts. Kept in a 0600 JSON file in the data dir and
// re-read when it changes, so rotation (a later controller) never needs a restart.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync, openSync, fsyncSync, closeSync, unwatchFile, watchFile } from 'node:fs';
import { join } from 'node:path';

export type KeyState = 'pending' | 'current' | 'previous' | 'revoked';

export interface AccessKey {
  id: string;
  secret: string;
  state: KeyState;
  created: string; // ISO time
  expires?: string;
  /** Marks the key that came from AKKO_S3_ACCESS_KEY/AKKO_S3_SECRET_KEY (never persisted). */
  fromEnv?: boolean;
}

interface KeystoreFile {
  version: 1;
  keys: AccessKey[];
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function newAccessKey(now = new Date()): AccessKey {
  const raw = randomBytes(16);
  let id = 'AKKO';
  for (let i = 0; i < 16; i++) id += ID_ALPHABET[raw[i]! & 31];
  return { id, secret: randomBytes(30).toString('base64url'), state: 'current', created: now.toISOString() };
}

/** Writes a file durably and atomically with mode 0600 (temp + fsync + rename). */
export function writeSecretFile(path: string, data: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, path);
}

export class Keystore {
  private byId = new Map<string, AccessKey>();
  private envKey: AccessKey | undefined;
  private mtimeMs = 0;
  readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'keystore.json');
  }

  /**
   * Loads the file, adds the env root key, and on a first start without one generates a root
   * key. Returns the generated key (to be printed once) or undefined.
   */
  init(env: NodeJS.ProcessEnv = process.env): AccessKey | undefined {
    const ak = env.AKKO_S3_ACCESS_KEY;
    const sk = env.AKKO_S3_SECRET_KEY;
    if (ak && sk) {
      this.envKey = { id: ak, secret: sk, state: 'current', created: new Date(0).toISOString(), fromEnv: true };
    }
    let generated: AccessKey | undefined;
    if (!existsSync(this.path)) {
      const keys: AccessKey[] = [];
      if (!this.envKey) {
        generated = newAccessKey();
        keys.push(generated);
      }
      this.save(keys);
    }
    this.reload();
    return generated;
  }

  /** Re-reads the file if it changed; a broken file keeps the last good list. */
  reload(): void {
    let st;
    try { st = statSync(this.path); } catch { return; }
    if (st.mtimeMs === this.mtimeMs && this.byId.size > 0) return;
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as KeystoreFile;
      const next = new Map<string, AccessKey>();
      for (const k of parsed.keys ?? []) {
        if (typeof k.id === 'string' && typeof k.secret === 'string') next.set(k.id, k);
      }
      this.byId = next;
      this.mtimeMs = st.mtimeMs;
    } catch (e) {
      process.stderr.write(`keystore ${this.path} could not be read, keeping the previous keys: ${(e as Error).message}\n`);
    }
  }

  /** Polls for changes; rotation writes the file atomically so a poll never sees half a file. */
  watch(intervalMs = 1000): void {
    watchFile(this.path, { interval: intervalMs }, () => this.reload());
  }

  close(): void {
    unwatchFile(this.path);
  }

  save(keys: AccessKey[]): void {
    const body: KeystoreFile = { version: 1, keys: keys.filter((k) => !k.fromEnv) };
    writeSecretFile(this.path, JSON.stringify(body, null, 2) + '\n');
  }

  list(): AccessKey[] {
    const keys = [...this.byId.values()];
    if (this.envKey && !this.byId.has(this.envKey.id)) keys.unshift(this.envKey);
    return keys;
  }

  /** The secret of a key that may sign requests now (pending, current and previous may). */
  secretFor(id: string): string | undefined {
    const k = this.byId.get(id) ?? (this.envKey?.id === id ? this.envKey : undefined);
    if (!k || k.state === 'revoked') return undefined;
    if (k.expires && Date.parse(k.expires) <= Date.now()) return undefined;
    return k.secret;
  }
}
