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

  *list(bucket?: string): Iterable<BucketKeyRecord> {
    for (const { value } of this.db.getRange({})) if (bucket === undefined || value.bucket === bucket) yield value;
  }
}
