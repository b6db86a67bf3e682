// A small AWS KMS stand-in for tests: the real JSON 1.1 protocol on 127.0.0.1 (POST /,
// X-Amz-Target: TrentService.<Op>), SigV4 verified against known test credentials, and what
// AWS enforces: the encryption context is AAD, unknown/disabled/pending-deletion keys fail
// with AWS's error types, plus a throttle mode, injectable faults, a mode that refuses
// connections, and per-operation call counters. The real @aws-sdk/client-kms talks to it.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpDouble } from './http-double.js';

export const DOUBLE_ACCOUNT = '111122223333';
export const DOUBLE_CREDENTIALS = { accessKeyId: 'AKIAKMSDOUBLE0000001', secretAccessKey: 'kms-double-secret-key-0123456789abcdef' };

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

interface DoubleKey {
  id: string;
  arn: string;
  state: KeyState;
  description: string;
  created: number;
  materials: Buffer[];
  materialIds: string[];
  rotation: boolean;
  deletionDate?: number;
}

class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface KmsDoubleOptions {
  region?: string;
  /** accessKeyId → secret; default DOUBLE_CREDENTIALS. */
  credentials?: Record<string, string>;
}

type Body = Record<string, unknown>;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const BLOB_VERSION = 1;

function canonicalContext(ctx: unknown): Buffer {
  if (ctx === undefined || ctx === null) return Buffer.from('[]');
  if (typeof ctx !== 'object' || Object.values(ctx).some((v) => typeof v !== 'string')) throw new KmsFault('ValidationException', 'EncryptionContext values must be strings');
  const c = ctx as Record<string, string>;
  return Buffer.from(JSON.stringify(Object.keys(c).sort().map((k) => [k, c[k]])));
}

function b64(v: unknown, field: string): Buffer {
  if (typeof v !== 'string') throw new KmsFault('ValidationException', `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`);
  return Buffer.from(v, 'base64');
}

export class KmsDouble extends HttpDouble {
  readonly region: string;
  readonly account = DOUBLE_ACCOUNT;
  readonly calls: Record<string, number> = {};
  /** Every request answers ThrottlingException while set. */
  throttle = false;
  /** Return a fault to answer an operation with it (e.g. a 500 KMSInternalException). */
  fault?: (op: string, body: Body) => { type: string; message: string; status?: number } | undefined;
  private readonly keys = new Map<string, DoubleKey>();
  private readonly aliases = new Map<string, string>();
  private readonly credentials: Record<string, string>;

  private constructor(opts: KmsDoubleOptions) {
    super();
    this.region = opts.region ?? 'us-east-1';
    this.credentials = opts.credentials ?? { [DOUBLE_CREDENTIALS.accessKeyId]: DOUBLE_CREDENTIALS.secretAccessKey };
  }

  static async start(opts: KmsDoubleOptions = {}): Promise<KmsDouble> {
    const d = new KmsDouble(opts);
    await d.listenOnFreePort();
    return d;
  }

  get endpoint(): string {
    return this.url;
  }


  totalCalls(): number {
    return Object.values(this.calls).reduce((a, b) => a + b, 0);
  }

  resetCalls(): void {
    for (const k of Object.keys(this.calls)) delete this.calls[k];
  }

  // ---- test-side key management (not counted as calls) ----------------------------------

  createKey(opts: { alias?: string; description?: string } = {}): { keyId: string; arn: string } {
    const id = randomUUID();
    const key: DoubleKey = { id, arn: `arn:aws:kms:${this.region}:${this.account}:key/${id}`, state: 'Enabled', description: opts.description ?? '', created: Date.now() / 1000, materials: [randomBytes(32)], materialIds: [randomBytes(32).toString('hex')], rotation: false };
    this.keys.set(id, key);
    if (opts.alias) this.aliases.set(opts.alias, id);
    return { keyId: id, arn: key.arn };
  }

  setKeyState(keyId: string, state: KeyState): void {
    const k = this.resolve(keyId, { anyState: true });
    k.state = state;
    k.deletionDate = state === 'PendingDeletion' ? Date.now() / 1000 + 7 * 86400 : undefined;
  }

  rotate(keyId: string): void {
    const k = this.resolve(keyId, { anyState: true });
    k.materials.push(randomBytes(32));
    k.materialIds.push(randomBytes(32).toString('hex'));
  }

  // ---- protocol ------------------------------------------------------------------------

  protected async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const target = String(req.headers['x-amz-target'] ?? '');
    const op = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : target;
    this.calls[op] = (this.calls[op] ?? 0) + 1;
    let status = 200;
    let out: Body;
    try {
      if (req.method !== 'POST' || req.url !== '/') throw new KmsFault('UnknownOperationException', `${req.method} ${req.url}`, 404);
      if (!String(req.headers['content-type'] ?? '').startsWith('application/x-amz-json-1.1')) throw new KmsFault('SerializationException', 'Content-Type must be application/x-amz-json-1.1');
      this.verifySignature(req, raw);
      if (this.throttle) throw new KmsFault('ThrottlingException', 'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.');
      let body: Body;
      try {
        body = raw.length ? (JSON.parse(raw.toString('utf8')) as Body) : {};
      } catch {
        throw new KmsFault('SerializationException', 'Start of structure or map found where not expected.');
      }
      const f = this.fault?.(op, body);
      if (f) throw new KmsFault(f.type, f.message, f.status);
      out = this.dispatch(op, body);
    } catch (e) {
      const f = e instanceof KmsFault ? e : new KmsFault('KMSInternalException', (e as Error).message, 500);
      status = f.status;
      out = { __type: f.type, message: f.message };
    }
    const payload = JSON.stringify(out);
    res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID(), 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  }

  /** Full SigV4 check (header auth) for service `kms` in this region. */
  private verifySignature(req: IncomingMessage, body: Buffer): void {
    const auth = req.headers.authorization;
    if (!auth) throw new KmsFault('MissingAuthenticationTokenException', 'Missing Authentication Token');
    const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
    if (!m) throw new KmsFault('IncompleteSignatureException', `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters. Authorization=${auth.split(' ')[0]}`);
    const [, akid, date, region, service, signedHeaders, signature] = m as unknown as [string, string, string, string, string, string, string];
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    if (service !== 'kms') throw new KmsFault('InvalidSignatureException', `Credential should be scoped to correct service: 'kms'.`);
    if (region !== this.region) throw new KmsFault('InvalidSignatureException', `Credential should be scoped to a valid region.`);
    if (!/^\d{8}T\d{6}Z$/.test(amzDate) || !amzDate.startsWith(date)) throw new KmsFault('IncompleteSignatureException', 'Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP');
    const signed = signedHeaders.split(';');
    if (!signed.includes('host') || !signed.includes('x-amz-date')) throw new KmsFault('IncompleteSignatureException', 'SignedHeaders must include host and x-amz-date');
    const secret = this.credentials[akid];
    if (secret === undefined) throw new KmsFault('UnrecognizedClientException', 'The security token included in the request is invalid.');
    const canonicalHeaders = signed.map((h) => {
      const v = req.headers[h];
      return `${h}:${(Array.isArray(v) ? v.join(',') : String(v ?? '')).trim().replace(/\s+/g, ' ')}\n`;
    });
    const payloadHash = String(req.headers['x-amz-content-sha256'] ?? createHash('sha256').update(body).digest('hex'));
    const canonical = ['POST', '/', '', canonicalHeaders.join(''), signedHeaders, payloadHash].join('\n');
    const scope = `${date}/${region}/${service}/aws4_request`;
    const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
    let k: Buffer = createHmac('sha256', `AWS4${secret}`).update(date).digest();
    for (const part of [region, service, 'aws4_request']) k = createHmac('sha256', k).update(part).digest();
    const expected = createHmac('sha256', k).update(toSign).digest();
    if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
      throw new KmsFault('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided.');
    }
  }

  private resolve(keyId: unknown, o: { anyState?: boolean; forDecrypt?: boolean } = {}): DoubleKey {
    if (typeof keyId !== 'string' || !keyId) throw new KmsFault('ValidationException', "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null");
    const prefix = `arn:aws:kms:${this.region}:${this.account}:`;
    let id: string | undefined;
    let name = keyId;
    if (keyId.startsWith('arn:')) {
      if (!keyId.startsWith(prefix)) throw new KmsFault('NotFoundException', `Invalid arn ${keyId.split(':')[3] ?? ''}`);
      name = keyId.slice(prefix.length);
    }
    if (name.startsWith('alias/')) {
      id = this.aliases.get(name);
      if (!id) throw new KmsFault('NotFoundException', `Alias ${prefix}${name} is not found.`);
    } else {
      id = name.startsWith('key/') ? name.slice(4) : name;
      if (!UUID.test(id)) throw new KmsFault('NotFoundException', `Invalid keyId ${keyId}`);
    }
    const k = this.keys.get(id);
    if (!k) throw new KmsFault('NotFoundException', `Key '${prefix}key/${id}' does not exist`);
    if (!o.anyState) this.usable(k);
    return k;
  }

  private usable(k: DoubleKey): void {
    if (k.state === 'Disabled') throw new KmsFault('DisabledException', `${k.arn} is disabled.`);
    if (k.state === 'PendingDeletion') throw new KmsFault('KMSInvalidStateException', `${k.arn} is pending deletion.`);
  }

  /** version ‖ key uuid (36) ‖ material index (u32) ‖ iv (12) ‖ ciphertext ‖ tag; AAD = header ‖ context. */
  private seal(k: DoubleKey, plaintext: Buffer, ctx: unknown): Buffer {
    const v = k.materials.length - 1;
    const header = Buffer.alloc(1 + 36 + 4);
    header[0] = BLOB_VERSION;
    header.write(k.id, 1, 'ascii');
    header.writeUInt32BE(v, 37);
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', k.materials[v]!, iv);
    c.setAAD(Buffer.concat([header, canonicalContext(ctx)]));
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([header, iv, ct, c.getAuthTag()]);
  }

  private open(blob: Buffer, ctx: unknown, keyId: unknown): { k: DoubleKey; plaintext: Buffer; version: number } {
    if (blob.length < 1 + 36 + 4 + 12 + 16 || blob[0] !== BLOB_VERSION) throw new KmsFault('InvalidCiphertextException', '');
    const id = blob.toString('ascii', 1, 37);
    const k = this.keys.get(id);
    if (!k) throw new KmsFault('InvalidCiphertextException', '');
    if (keyId !== undefined && this.resolve(keyId, { anyState: true }).id !== id) {
      throw new KmsFault('IncorrectKeyException', 'The key ID in the request does not identify a KMS key that can perform this operation.');
    }
    this.usable(k);
    const v = blob.readUInt32BE(37);
    const material = k.materials[v];
    if (!material) throw new KmsFault('InvalidCiphertextException', '');
    const d = createDecipheriv('aes-256-gcm', material, blob.subarray(41, 53));
    d.setAAD(Buffer.concat([blob.subarray(0, 41), canonicalContext(ctx)]));
    d.setAuthTag(blob.subarray(blob.length - 16));
    try {
      const plaintext = Buffer.concat([d.update(blob.subarray(53, blob.length - 16)), d.final()]);
      return { k, plaintext, version: v };
    } catch {
      throw new KmsFault('InvalidCiphertextException', '');
    }
  }

  private metadata(k: DoubleKey): Body {
    return {
      AWSAccountId: this.account,
      KeyId: k.id,
      Arn: k.arn,
      CreationDate: k.created,
      Enabled: k.state === 'Enabled',
      Description: k.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: k.state,
      ...(k.deletionDate ? { DeletionDate: k.deletionDate } : {}),
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
      CurrentKeyMaterialId: k.materialIds.at(-1),
    };
  }

  private dispatch(op: string, b: Body): Body {
    switch (op) {
      case 'CreateKey': {
        const { keyId } = this.createKey({ description: typeof b.Description === 'string' ? b.Description : '' });
        return { KeyMetadata: this.metadata(this.keys.get(keyId)!) };
      }
      case 'CreateAlias': {
        const name = String(b.AliasName ?? '');
        if (!name.startsWith('alias/') || name.startsWith('alias/aws/')) throw new KmsFault('InvalidAliasNameException', `Alias must start with the prefix "alias/"`);
        if (this.aliases.has(name)) throw new KmsFault('AlreadyExistsException', `An alias with the name ${name} already exists`);
        this.aliases.set(name, this.resolve(b.TargetKeyId, { anyState: true }).id);
        return {};
      }
      case 'DescribeKey':
        return { KeyMetadata: this.metadata(this.resolve(b.KeyId, { anyState: true })) };
      case 'ListKeys':
        return { Keys: [...this.keys.values()].map((k) => ({ KeyId: k.id, KeyArn: k.arn })), Truncated: false };
      case 'EnableKey':
      case 'DisableKey': {
        const k = this.resolve(b.KeyId, { anyState: true });
        if (k.state === 'PendingDeletion') throw new KmsFault('KMSInvalidStateException', `${k.arn} is pending deletion.`);
        k.state = op === 'EnableKey' ? 'Enabled' : 'Disabled';
        return {};
      }
      case 'ScheduleKeyDeletion': {
        const k = this.resolve(b.KeyId, { anyState: true });
        const days = typeof b.PendingWindowInDays === 'number' ? b.PendingWindowInDays : 30;
        k.state = 'PendingDeletion';
        k.deletionDate = Date.now() / 1000 + days * 86400;
        return { KeyId: k.arn, DeletionDate: k.deletionDate, KeyState: k.state, PendingWindowInDays: days };
      }
      case 'CancelKeyDeletion': {
        const k = this.resolve(b.KeyId, { anyState: true });
        k.state = 'Disabled';
        k.deletionDate = undefined;
        return { KeyId: k.arn };
      }
      case 'EnableKeyRotation': {
        this.resolve(b.KeyId).rotation = true;
        return {};
      }
      case 'GetKeyRotationStatus':
        return { KeyRotationEnabled: this.resolve(b.KeyId, { anyState: true }).rotation };
      case 'RotateKeyOnDemand': {
        const k = this.resolve(b.KeyId);
        this.rotate(k.id);
        return { KeyId: k.arn };
      }
      case 'GenerateDataKey':
      case 'GenerateDataKeyWithoutPlaintext': {
        const k = this.resolve(b.KeyId);
        const n = b.KeySpec === 'AES_256' ? 32 : b.KeySpec === 'AES_128' ? 16 : typeof b.NumberOfBytes === 'number' ? b.NumberOfBytes : 0;
        if (!(n >= 1 && n <= 1024)) throw new KmsFault('ValidationException', 'Please specify either number of bytes or key spec.');
        const plaintext = randomBytes(n);
        const out: Body = { CiphertextBlob: this.seal(k, plaintext, b.EncryptionContext).toString('base64'), KeyId: k.arn, KeyMaterialId: k.materialIds.at(-1) };
        if (op === 'GenerateDataKey') out.Plaintext = plaintext.toString('base64');
        return out;
      }
      case 'Encrypt': {
        const k = this.resolve(b.KeyId);
        return { CiphertextBlob: this.seal(k, b64(b.Plaintext, 'plaintext'), b.EncryptionContext).toString('base64'), KeyId: k.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      }
      case 'Decrypt': {
        const { k, plaintext, version } = this.open(b64(b.CiphertextBlob, 'ciphertextBlob'), b.EncryptionContext, b.KeyId);
        return { KeyId: k.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT', KeyMaterialId: k.materialIds[version] };
      }
      case 'ReEncrypt': {
        const src = this.open(b64(b.CiphertextBlob, 'ciphertextBlob'), b.SourceEncryptionContext, b.SourceKeyId);
        const dest = this.resolve(b.DestinationKeyId);
        return {
          CiphertextBlob: this.seal(dest, src.plaintext, b.DestinationEncryptionContext).toString('base64'),
          SourceKeyId: src.k.arn,
          KeyId: dest.arn,
          SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          SourceKeyMaterialId: src.k.materialIds[src.version],
          DestinationKeyMaterialId: dest.materialIds.at(-1),
        };
      }
      default:
        throw new KmsFault('UnknownOperationException', `Unknown operation ${op}`);
    }
  }
}
