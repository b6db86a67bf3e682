// Commit protocols (Iceberg, Delta, s3a) rely on this: writers racing `If-None-Match: *` on one
// key never both win, and the stored bytes are the winner's.
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Agent } from 'node:http';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';

const WRITERS = 32;
const ROUNDS = Number(process.env.AKKO_RACE_ROUNDS ?? 200);

let server: TestServer;
let s3: S3Client;
beforeAll(async () => {
  server = await startServer({ args: ['--buckets', 'race'] });
  s3 = new S3Client({
    endpoint: server.s3, region: 'akko-local', forcePathStyle: true, maxAttempts: 1,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: WRITERS }) }),
  });
});
afterAll(async () => {
  s3?.destroy();
  await server?.destroy();
});

describe('If-None-Match: * under contention', () => {
  it(`${WRITERS} writers, ${ROUNDS} rounds: exactly one wins each round and its bytes are stored`, { timeout: 300_000 }, async () => {
    const losers = new Map<string, number>();
    for (let round = 0; round < ROUNDS; round++) {
      const key = `commit/${round}/metadata.json`;
      const results = await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
        const body = `round ${round} writer ${w}`;
        try {
          await s3.send(new PutObjectCommand({ Bucket: 'race', Key: key, Body: body, IfNoneMatch: '*' }));
          return { w, won: true };
        } catch (e) {
          if (!(e instanceof S3ServiceException)) throw e;
          const tag = `${e.name} ${e.$metadata.httpStatusCode}`;
          losers.set(tag, (losers.get(tag) ?? 0) + 1);
          return { w, won: false };
        }
      }));
      const winners = results.filter((r) => r.won);
      expect(winners, `round ${round}`).toHaveLength(1);
      const stored = await (await s3.send(new GetObjectCommand({ Bucket: 'race', Key: key }))).Body!.transformToString();
      expect(stored).toBe(`round ${round} writer ${winners[0]!.w}`);
    }
    // Losers hear 412 PreconditionFailed (or 409 ConditionalRequestConflict for a lost race), nothing else.
    for (const tag of losers.keys()) expect(['PreconditionFailed 412', 'ConditionalRequestConflict 409']).toContain(tag);
    expect([...losers.values()].reduce((a, b) => a + b, 0)).toBe(ROUNDS * (WRITERS - 1));
  });
});
