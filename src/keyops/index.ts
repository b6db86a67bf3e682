// The key operations of `akko-storage kms …`, run inside the server (DESIGN §5, issue #5) and
// driven through the admin API: synchronous ones (keys, rotate, retire, status) and jobs
// (rewrap, encrypt-existing) that persist checkpoints and resume after a crash.
import type { Encryption } from '../../kms/keys.js';
import type { Config } from '../config.js';
import type { ObjectService } from '../service/objects.js';
import type { Store } from '../store/store.js';
import { EncryptExistingJob } from './encrypt.js';
import { JobError, JobManager, type JobImpl, type JobItem, type JobKind } from './jobs.js';
import { KeyOperations } from './keys.js';
import { RewrapJob, referenceSummary } from './rewrap.js';
import { CoverageScanner, health } from './status.js';

export { JobError } from './jobs.js';

export interface KeyOpsOptions {
  config: Config;
  store: Store;
  objects: ObjectService;
  encryption: Encryption | undefined;
  log: (line: string) => void;
  /** How often the akko_kms_objects / akko_kms_bytes gauges are recomputed in the background (0: never). Default 10 min. */
  coverageEveryMs?: number;
}

export class KeyOps {
  readonly jobs: JobManager;
  readonly coverage: CoverageScanner;
  private readonly timer?: NodeJS.Timeout;

  constructor(private readonly o: KeyOpsOptions) {
    this.coverage = new CoverageScanner(o.store, o.encryption);
    this.jobs = new JobManager(o.store, (kind, params) => this.job(kind, params), o.log, () => this.refreshSoon());
    const every = o.coverageEveryMs ?? 10 * 60_000;
    if (every > 0) {
      this.timer = setInterval(() => this.refreshSoon(), every);
      this.timer.unref();
    }
  }

  private job(kind: JobKind, params: Record<string, unknown>): JobImpl<JobItem> {
    const encryption = this.requireEncryption();
    switch (kind) {
      case 'rewrap':
        return new RewrapJob(params, { config: this.o.config, store: this.o.store, encryption, log: this.o.log }) as unknown as JobImpl<JobItem>;
      case 'encrypt-existing':
        return new EncryptExistingJob(params, { store: this.o.store, objects: this.o.objects }) as unknown as JobImpl<JobItem>;
      default:
        throw new JobError(`unknown job kind ${String(kind)}`);
    }
  }

  requireEncryption(): Encryption {
    if (!this.o.encryption) throw new JobError('no KMS is configured on this server (kmsProvider aws needs kmsKeyId)', 409);
    return this.o.encryption;
  }

  keys(): KeyOperations {
    return new KeyOperations({ config: this.o.config, store: this.o.store, encryption: this.requireEncryption() });
  }

  /** Resumes the jobs a crash or shutdown interrupted; the first coverage figures a little later. */
  async start(): Promise<void> {
    await this.jobs.resumeAll();
    setTimeout(() => this.refreshSoon(), 5_000).unref();
  }

  private refreshing = false;

  refreshSoon(): void {
    if (this.refreshing) return;
    this.refreshing = true;
    this.coverage
      .scan()
      .catch((e: Error) => this.o.log(`kms coverage scan failed: ${e.message}`))
      .finally(() => {
        this.refreshing = false;
      });
  }

  async status(params: { bucket?: string; canary?: boolean }): Promise<Record<string, unknown>> {
    if (params.bucket !== undefined && !this.o.store.getBucket(params.bucket)) throw new JobError(`no bucket ${params.bucket}`, 404);
    const coverage = await this.coverage.scan(params.bucket);
    const enc = this.o.encryption;
    const out: Record<string, unknown> = {
      encryptionDefault: this.o.objects.crypto.defaultOn ? 'on' : 'off',
      provider: enc ? { name: enc.provider.name, defaultKeyId: enc.provider.defaultKeyId(), readers: enc.providerNames().filter((n) => n !== enc.provider.name) } : undefined,
      ...coverage,
      references: enc ? referenceSummary(enc).references : [],
      jobs: this.jobs.runningJobs(),
    };
    if (enc && params.canary !== false) {
      const bucket = params.bucket ?? this.o.store.listBuckets()[0]?.name ?? 'akko-kms-canary';
      out.health = await health(enc, bucket);
    }
    return out;
  }

  /**
   * Server shutdown: jobs stop at their next item and stay `running` (resumed at the next
   * start). A KMS call still in flight is not waited for beyond a few seconds, so that SIGTERM
   * keeps its 10 s promise; what it did is redone after the restart (every step is idempotent).
   */
  async close(waitMs = 3000): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.jobs.close(), new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }
}
