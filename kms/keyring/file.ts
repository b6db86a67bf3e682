// The keyring as one 0600 file. Writes go temp file → fsync → rename (or, for a new keyring,
// link, which fails if one appeared meanwhile) → fsync dir, so a crash leaves the old keyring or
// the new one, never a torn one.
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseDocument, serialize, type KeyringDocument, type KeyringStorage } from './storage.js';

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
    const doc = parseDocument(text, this.location);
    // Key files are 0600 (DESIGN §9), whoever created this one.
    await chmod(this.location, 0o600);
    return doc;
  }

  async create(doc: KeyringDocument): Promise<void> {
    await this.write(doc, async (tmp) => {
      try {
        await link(tmp, this.location);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new Error(`cannot create the keyring ${this.location}: it was created by someone else meanwhile; start again to use it`);
        throw e;
      } finally {
        await unlink(tmp).catch(() => {});
      }
    });
  }

  replace(doc: KeyringDocument): Promise<void> {
    return this.write(doc, (tmp) => rename(tmp, this.location));
  }

  async archive(): Promise<string> {
    const archived = `${this.location}.retired-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(this.location, archived);
    await syncDir(dirname(this.location));
    return archived;
  }

  /** Writes `doc` to a durable temp file, then `install` puts it in place. */
  private async write(doc: KeyringDocument, install: (tmp: string) => Promise<void>): Promise<void> {
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
    await install(tmp);
    await syncDir(dirname(this.location));
  }
}
