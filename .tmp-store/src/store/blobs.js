// Blob files: object bytes, named by a random internal id, never by the object key.
//
//   <data>/tmp/<id>          being written (deleted at open: an interrupted write)
//   <data>/blobs/<xx>/<id>   durable (xx = first two hex digits of the id)
//
// A blob becomes durable in commit(): the write stream fsyncs the file before closing it
// (`flush: true`), then the file is renamed into its fan-out directory and that directory
// is fsynced, so the name survives a crash. Only then may metadata reference it.
import { randomBytes } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
const ID_RE = /^[0-9a-f]{32}$/;
export function isBlobId(id) {
    return ID_RE.test(id);
}
function codedError(code, message) {
    const e = new Error(message);
    e.code = code;
    return e;
}
function checkId(id) {
    if (!ID_RE.test(id))
        throw codedError('ENOENT', `no such blob: ${JSON.stringify(id)} is not a blob id`);
}
function isENOENT(e) {
    return e?.code === 'ENOENT';
}
export async function fsyncDir(dir) {
    const fh = await fsp.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
        await fh.sync();
    }
    finally {
        await fh.close();
    }
}
async function unlinkQuiet(path) {
    try {
        await fsp.unlink(path);
    }
    catch (e) {
        if (!isENOENT(e))
            throw e;
    }
}
export class BlobFiles {
    dataDir;
    tmpDir;
    blobsDir;
    constructor(dataDir) {
        this.dataDir = dataDir;
        this.tmpDir = join(dataDir, 'tmp');
        this.blobsDir = join(dataDir, 'blobs');
    }
    /** Creates tmp/, blobs/ and the 256 fan-out directories (0700). */
    async init() {
        await fsp.mkdir(this.tmpDir, { recursive: true, mode: DIR_MODE });
        await fsp.mkdir(this.blobsDir, { recursive: true, mode: DIR_MODE });
        const existing = new Set(await fsp.readdir(this.blobsDir));
        let created = false;
        for (let i = 0; i < 256; i++) {
            const name = i.toString(16).padStart(2, '0');
            if (existing.has(name))
                continue;
            await fsp.mkdir(join(this.blobsDir, name), { mode: DIR_MODE });
            created = true;
        }
        if (created)
            await fsyncDir(this.blobsDir);
        await fsyncDir(this.dataDir);
    }
    newId() {
        return randomBytes(16).toString('hex');
    }
    fanDir(id) {
        return join(this.blobsDir, id.slice(0, 2));
    }
    path(id) {
        checkId(id);
        return join(this.blobsDir, id.slice(0, 2), id);
    }
    create(onDiscard) {
        return new FileBlobWriter(this, this.newId(), onDiscard);
    }
    /** Opens a durable blob for reading. ENOENT when it does not exist. */
    async open(id) {
        return fsp.open(this.path(id), 'r');
    }
    /** A durable copy under a new id, by hard link (no data copied). ENOENT if the source is gone. */
    async link(srcId) {
        const src = this.path(srcId);
        const id = this.newId();
        await fsp.link(src, this.path(id));
        await fsyncDir(this.fanDir(id));
        return id;
    }
    /** Unlinks blob files; missing ones are fine. */
    async unlink(ids) {
        for (const id of ids) {
            if (!ID_RE.test(id))
                continue;
            await unlinkQuiet(this.path(id));
        }
    }
    /** Removes everything in tmp/ (writes interrupted by a crash). Returns how many entries. */
    async clearTmp() {
        let n = 0;
        for (const name of await fsp.readdir(this.tmpDir)) {
            await fsp.rm(join(this.tmpDir, name), { recursive: true, force: true });
            n++;
        }
        return n;
    }
    /**
     * Deletes the blob files for which `isReferenced` is false: O(blob files), one index
     * lookup each. Returns how many were deleted.
     */
    async sweep(isReferenced) {
        let n = 0;
        for (const fan of await fsp.readdir(this.blobsDir)) {
            const dir = join(this.blobsDir, fan);
            let names;
            try {
                names = await fsp.readdir(dir);
            }
            catch (e) {
                if (e.code === 'ENOTDIR') {
                    await unlinkQuiet(dir);
                    continue;
                }
                throw e;
            }
            for (const name of names) {
                if (ID_RE.test(name) && name.startsWith(fan) && isReferenced(name))
                    continue;
                await fsp.rm(join(dir, name), { recursive: true, force: true });
                n++;
            }
        }
        return n;
    }
}
class FileBlobWriter {
    files;
    id;
    onDiscard;
    stream;
    state = 'open';
    error;
    tmpPath;
    constructor(files, id, onDiscard) {
        this.files = files;
        this.id = id;
        this.onDiscard = onDiscard;
        this.tmpPath = join(files.tmpDir, id);
        // flush: fsync the fd before closing it (Node >= 20.10). 'wx': never follow or reuse a file.
        this.stream = createWriteStream(this.tmpPath, { flags: 'wx', mode: FILE_MODE, flush: true });
        // Keep a listener so that a write error never becomes an uncaught 'error' event; the
        // writer of the stream sees it through its callbacks/pipeline, and commit() rethrows it.
        this.stream.on('error', (e) => {
            this.error ??= e;
        });
    }
    get bytesWritten() {
        return this.stream.bytesWritten;
    }
    async commit() {
        if (this.state !== 'open')
            throw new Error(`blob ${this.id}: commit() after ${this.state}`);
        this.state = 'committing';
        try {
            if (this.error)
                throw this.error;
            if (!this.stream.writableEnded)
                this.stream.end();
            // Resolves after 'close', i.e. after the fsync of `flush` and the close of the fd.
            await finished(this.stream);
            if (this.error)
                throw this.error;
            await fsp.rename(this.tmpPath, this.files.path(this.id));
            await fsyncDir(this.files.fanDir(this.id));
            this.state = 'committed';
        }
        catch (e) {
            this.state = 'open'; // let abort() clean up
            throw e;
        }
    }
    async abort() {
        if (this.state === 'aborted')
            return;
        this.state = 'aborted';
        if (!this.stream.closed) {
            this.stream.destroy();
            await finished(this.stream).catch(() => { });
        }
        await unlinkQuiet(this.tmpPath);
        // After (or half way through) a commit the file may already be in blobs/; the store
        // removes it there unless committed metadata references it.
        await this.onDiscard(this.id);
    }
}
