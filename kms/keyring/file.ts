// The keyring as one 0600 file. Writes go temp file → fsync → rename → fsync dir, so a crash
// leaves the old keyring or the new one, never a torn one.
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { serialize, validDocument, type KeyringDocument, type KeyringStorage } from './storage.js';

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class FileKeyringStorage implements KeyringStorage {
  constructor(readonly location: string) {}

  async read(): Promise<KeyringDocument | undefined> {
    let text: string;
    try {
      text = await readFile(this.location, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`${this.location} is not an akko keyring (not JSON)`);
    }
    const doc = validDocument(parsed, this.location);
    // Key files are 0600 (DESIGN §9), whoever created this one.
    await chmod(this.location, 0o600);
    return doc;
  }

  create(doc: KeyringDocument): Promise<void> {
    return this.write(doc);
  }

  replace(doc: KeyringDocument): Promise<void> {
    return this.write(doc);
  }

  async archive(): Promise<string> {
    const archived = `${this.location}.retired-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(this.location, archived);
    await syncDir(dirname(this.location));
    return archived;
  }

  private async write(doc: KeyringDocument): Promise<void> {
    await mkdir(dirname(this.location), { recursive: true });
    const tmp = `${this.location}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(serialize(doc));
      await fh.sync();
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    await rename(tmp, this.location);
    await syncDir(dirname(this.location));
  }
}
