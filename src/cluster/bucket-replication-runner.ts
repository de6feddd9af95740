// Bucket replication's sender, on the metadata leader (as the repair driver): it reads the
// replicated queue (src/metadata/bucket-replication.ts), reads each version through the client
// library and sends it to the destination with the AWS SDK, then proposes the outcome. An entry
// leaves the queue only by a committed outcome, so a crash or a leader change re-sends the same
// version (a PUT of the same bytes and metadata again: idempotent at the destination).
//
// One key's versions go in the order they were made (a newer one is not sent while an older one
// waits), so the destination's current object is the source's; different keys go in parallel.
import assert from 'node:assert';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import type { MetadataClient } from '../client/metadata-client.ts';
import type { StrataClient } from '../client/strata-client.ts';
import { isStrataError } from '../common/errors.ts';
import { REPLICATION_ATTEMPTS_BEFORE_FAILED } from '../metadata/bucket-replication.ts';
import type { ReplicationEntry } from '../metadata/bucket-replication-types.ts';
import type { Inode } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import {
  replicationBytes,
  replicationFailures,
  replicationLag,
  replicationPending,
} from '../observability/metrics.ts';

export interface ReplicationTarget {
  name: string;
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretKey: string; // never logged
  buckets: readonly string[];
}

export interface BucketReplicationRunnerOptions {
  metadata: MetadataClient; // the queue and the outcomes
  client: StrataClient; // the objects' data
  targets: readonly ReplicationTarget[];
  log: Logger;
  passIntervalMs?: number;
}

const PASS_INTERVAL_MS = 1_000;
// Entries looked at per pass, and sends in flight at once (each holds one object's stream).
const QUEUE_PAGE_ENTRIES = 1_000;
const SENDS_IN_FLIGHT_MAX = 8;
// Retries: 1 s, 2 s, 4 s, ... at most 30 s apart; after REPLICATION_ATTEMPTS_BEFORE_FAILED
// failures (about a minute and a half) the version is FAILED and sent again every 5 minutes.
const RETRY_BASE_MS = 1_000;
const RETRY_CAP_MS = 30_000;
const FAILED_RETRY_MS = 5 * 60_000;
// A send that hangs (a destination that accepts the connection and stalls) fails after this.
const SEND_TIMEOUT_MS = 5 * 60_000;

type Outcome = 'completed' | 'gone';

export class BucketReplicationRunner {
  private readonly options: BucketReplicationRunnerOptions;
  private readonly log: Logger;
  private readonly clients = new Map<string, Promise<S3Client>>();
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private leading = false;

  constructor(options: BucketReplicationRunnerOptions) {
    this.options = options;
    this.log = options.log;
  }

  // Called on every leadership change of this metadata member.
  leadership(isLeader: boolean): void {
    this.leading = isLeader;
    if (isLeader && this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), this.options.passIntervalMs ?? PASS_INTERVAL_MS);
      this.timer.unref();
    } else if (!isLeader && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
      replicationPending.set(0);
      replicationLag.set(0);
    }
  }

  async stop(): Promise<void> {
    this.leadership(false);
    await this.pass;
    for (const client of this.clients.values()) (await client).destroy();
    this.clients.clear();
  }

  private tick(): void {
    this.pass ??= this.runPass()
      .catch((error) => this.log.warn('replication pass failed', { error }))
      .finally(() => {
        this.pass = undefined;
      });
  }

  private async runPass(): Promise<void> {
    const backlog = await this.options.metadata.read('replicationBacklog');
    replicationPending.set(backlog.pending);
    const oldest = backlog.oldestEnqueuedAtMs;
    replicationLag.set(oldest === undefined ? 0 : Math.max(0, Date.now() - oldest) / 1000);
    if (backlog.pending === 0) return;
    const entries = await this.options.metadata.read('replicationQueue', QUEUE_PAGE_ENTRIES);
    const byKey = new Map<string, ReplicationEntry[]>();
    for (const entry of entries) {
      const id = `${entry.bucketIno}\0${entry.key}`;
      const list = byKey.get(id) ?? [];
      list.push(entry);
      byKey.set(id, list);
    }
    const keys = [...byKey.values()];
    const workers = Array.from({ length: Math.min(SENDS_IN_FLIGHT_MAX, keys.length) }, async () => {
      for (let list = keys.shift(); list !== undefined; list = keys.shift())
        await this.sendInOrder(list);
    });
    await Promise.all(workers);
  }

  // One key's entries, oldest first, until one is not due yet or fails.
  private async sendInOrder(entries: ReplicationEntry[]): Promise<void> {
    for (const entry of entries) {
      if (!this.leading || entry.nextAttemptAtMs > Date.now()) return;
      if (!(await this.sendOne(entry))) return;
    }
  }

  private async sendOne(entry: ReplicationEntry): Promise<boolean> {
    let outcome: Outcome;
    try {
      outcome = await this.deliver(entry);
    } catch (error) {
      replicationFailures.inc();
      const retryAtMs = Date.now() + retryDelayMs(entry.attempts);
      this.log.warn('replication send failed', {
        bucket: entry.bucket,
        key: entry.key,
        versionId: entry.versionId,
        destination: entry.destinationBucket,
        attempts: entry.attempts + 1,
        error: (error as Error).message,
      });
      await this.settle(entry, 'failed', retryAtMs);
      return false;
    }
    await this.settle(entry, outcome);
    return true;
  }

  private async settle(entry: ReplicationEntry, outcome: Outcome | 'failed', retryAtMs?: number) {
    const command = { op: 'settleReplication' as const, nowMs: Date.now(), seq: entry.seq };
    try {
      await this.options.metadata.apply({
        ...command,
        versionId: entry.versionId,
        outcome,
        retryAtMs,
      });
    } catch (error) {
      // Another leader settled it first: nothing to do. Anything else is tried at the next pass.
      if (!isStrataError(error, 'PRECONDITION_FAILED')) throw error;
    }
  }

  // Sends the version (or its delete marker). 'gone': the source no longer has it.
  private async deliver(entry: ReplicationEntry): Promise<Outcome> {
    const { client } = this.options;
    let inode: Inode | undefined;
    try {
      const version = await client.objectVersion(entry.bucket, entry.key, entry.versionId);
      assert(version.deleteMarker === entry.deleteMarker, 'a version keeps its kind');
      inode = version.inode;
    } catch (error) {
      if (isStrataError(error, 'NO_SUCH_VERSION') || isStrataError(error, 'NO_SUCH_BUCKET'))
        return 'gone';
      throw error;
    }
    const s3 = await this.s3For(entry.destinationBucket);
    const sdk = await import('@aws-sdk/client-s3');
    const signal = AbortSignal.timeout(SEND_TIMEOUT_MS);
    const target = { Bucket: entry.destinationBucket, Key: entry.key };
    if (entry.deleteMarker) {
      await s3.send(new sdk.DeleteObjectCommand(target), { abortSignal: signal });
      return 'completed';
    }
    assert(inode !== undefined, 'an object version has its data');
    const meta = inode.object;
    const body =
      inode.size === 0
        ? Buffer.alloc(0)
        : Readable.from(
            // An archived version is replicated as it was written (its replica is STANDARD).
            (
              await client.getObject(entry.bucket, entry.key, undefined, entry.versionId, {
                archived: true,
              })
            ).body,
          );
    const tags = meta?.tags === undefined ? undefined : new URLSearchParams(meta.tags).toString();
    const expires = meta?.expires === undefined ? undefined : new Date(meta.expires);
    await s3.send(
      new sdk.PutObjectCommand({
        ...target,
        Body: body,
        ContentLength: inode.size,
        ContentType: meta?.contentType,
        ContentEncoding: meta?.contentEncoding,
        ContentDisposition: meta?.contentDisposition,
        ContentLanguage: meta?.contentLanguage,
        CacheControl: meta?.cacheControl,
        Expires: expires !== undefined && !Number.isNaN(expires.getTime()) ? expires : undefined,
        Metadata: meta?.userMeta,
        Tagging: tags === '' ? undefined : tags,
      }),
      { abortSignal: signal },
    );
    replicationBytes.inc(inode.size);
    return 'completed';
  }

  // The SDK is loaded when the first version is sent: a node without replication never pays.
  private s3For(bucket: string): Promise<S3Client> {
    const target = this.options.targets.find((t) => t.buckets.includes(bucket));
    if (target === undefined)
      throw new Error(`no replication target serves bucket ${bucket} (replication.targets)`);
    let client = this.clients.get(target.name);
    if (client === undefined) {
      client = import('@aws-sdk/client-s3').then(
        ({ S3Client }) =>
          new S3Client({
            endpoint: target.endpoint,
            region: target.region,
            credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretKey },
            forcePathStyle: true,
            maxAttempts: 1, // the queue retries, with its own backoff
            // Plain signed requests: endpoints that are not AWS (Swift's s3api) may not take
            // the SDK's default checksum trailers.
            requestChecksumCalculation: 'WHEN_REQUIRED',
            responseChecksumValidation: 'WHEN_REQUIRED',
          }),
      );
      this.clients.set(target.name, client);
    }
    return client;
  }
}

export function retryDelayMs(attemptsBefore: number): number {
  assert(Number.isSafeInteger(attemptsBefore) && attemptsBefore >= 0, 'attempts counted');
  if (attemptsBefore + 1 >= REPLICATION_ATTEMPTS_BEFORE_FAILED) return FAILED_RETRY_MS;
  return Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** attemptsBefore);
}
