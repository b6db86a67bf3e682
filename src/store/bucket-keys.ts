// Bucket-key records (kms/) persisted in the store's LMDB environment. Only wrapped keys
// are stored here; the plaintext never leaves kms/.
import type { Database } from 'lmdb';
import type { BucketKeyRecord, BucketKeyRecords } from '../../kms/types.js';
import type { Store } from './store.js';

export class StoredBucketKeys implements BucketKeyRecords {
  private readonly db: Database<BucketKeyRecord, string>;

  constructor(store: Store) {
    this.db = store.database<BucketKeyRecord>('bucketkeys');
  }

  get(id: string): BucketKeyRecord | undefined {
    return this.db.get(id);
  }

  /** Resolves when the record is durable. */
  async put(rec: BucketKeyRecord): Promise<void> {
    await this.db.put(rec.id, rec);
  }

  /** One LMDB write transaction: read, decide, write; resolves when durable (a compare-and-swap when `f` compares). */
  async update(id: string, f: (current: BucketKeyRecord) => BucketKeyRecord | undefined): Promise<{ record: BucketKeyRecord | undefined; applied: boolean }> {
    return this.db.transaction(() => {
      const cur = this.db.get(id);
      if (cur === undefined) return { record: undefined, applied: false };
      const next = f(structuredClone(cur));
      if (next === undefined) return { record: cur, applied: false };
      if (next.id !== id) throw new Error(`bucket-key update of ${id} returned record ${next.id}`);
      this.db.put(id, next);
      return { record: next, applied: true };
    });
  }

  *list(bucket?: string): Iterable<BucketKeyRecord> {
    for (const { value } of this.db.getRange({})) if (bucket === undefined || value.bucket === bucket) yield value;
  }
}
