// Object key ⇄ wrapped form under a bucket key: AES-256-GCM, random 12-byte nonce, AAD binding
// the object's bucket, key name and upload/version id, so an envelope moved to another object
// (or a metadata swap) fails to unwrap instead of decrypting someone else's data.
import { createCipheriv, createDecipheriv, randomFillSync } from 'node:crypto';
import { IntegrityError } from './errors.js';
import type { ObjectLocation } from './types.js';

const AAD_LABEL = Buffer.from('akko-object-key/v1\0');

/** label ‖ (uint32 BE length ‖ UTF-8 bytes) for bucket, key, uploadId: unambiguous for any strings. */
export function objectKeyAad(loc: ObjectLocation): Buffer {
  const parts = [loc.bucket, loc.key, loc.uploadId].map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.alloc(AAD_LABEL.length + parts.reduce((n, p) => n + 4 + p.length, 0));
  let off = AAD_LABEL.copy(out, 0);
  for (const p of parts) {
    off = out.writeUInt32BE(p.length, off);
    off += p.copy(out, off);
  }
  return out;
}

export function wrapObjectKey(bucketKey: Buffer, objectKey: Buffer, loc: ObjectLocation): { wrappedKey: string; nonce: string } {
  const nonce = randomFillSync(Buffer.alloc(12));
  const c = createCipheriv('aes-256-gcm', bucketKey, nonce, { authTagLength: 16 });
  c.setAAD(objectKeyAad(loc));
  const ct = c.update(objectKey);
  c.final();
  return { wrappedKey: Buffer.concat([ct, c.getAuthTag()]).toString('base64'), nonce: nonce.toString('base64') };
}

export function unwrapObjectKey(bucketKey: Buffer, wrappedKey: string, nonce: string, loc: ObjectLocation): Buffer {
  const w = Buffer.from(wrappedKey, 'base64');
  const n = Buffer.from(nonce, 'base64');
  if (w.length !== 48 || n.length !== 12) throw new IntegrityError('envelope', 'malformed wrapped object key');
  const d = createDecipheriv('aes-256-gcm', bucketKey, n, { authTagLength: 16 });
  d.setAAD(objectKeyAad(loc));
  d.setAuthTag(w.subarray(32));
  const out = Buffer.alloc(32);
  const tmp = d.update(w.subarray(0, 32));
  tmp.copy(out);
  tmp.fill(0);
  try {
    d.final();
  } catch {
    out.fill(0);
    throw new IntegrityError('tag', `object key of ${loc.bucket}/${loc.key} does not unwrap (envelope moved, tampered or wrong bucket key)`);
  }
  return out;
}
