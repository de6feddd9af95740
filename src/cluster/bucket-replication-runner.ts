// Bucket replication's sender, on the metadata leader (as the repair driver): it reads the
// replicated queue (src/metadata/bucket-replication.ts), reads each version through the client
// library and sends it to the destination with the AWS SDK, then proposes the outcome. An entry
// leaves the queue only by a committed outcome, so a crash or a leader change re-sends the same
// version (a PUT of the same bytes and metadata again: idempotent at the destination).
//
// One key's versions go in the order they were made (a newer one is not sent while an older one
// waits), so the destination's current object is the source's; different keys go in parallel.
// To another Strata cluster each version goes with its id, and keeps it there (a delete marker
// too); elsewhere each arrives as a new version with the destination's own id.
import assert from 'node:assert';
import { Readable } from 'node:stream';
import type { DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { MetadataClient } from '../client/metadata-client.ts';
import type { StrataClient } from '../client/strata-client.ts';
import { isStrataError } from '../common/errors.ts';
import { REPLICATION_ATTEMPTS_BEFORE_FAILED } from '../metadata/bucket-replication.ts';
import type { ReplicationEntry } from '../metadata/bucket-replication-types.ts';
import type { Inode, ObjectVersion } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import {
  replicationBytes,
  replicationFailures,
  replicationLag,
  replicationPending,
} from '../observability/metrics.ts';
import { NONCURRENT_REFUSED, sendMetadata } from './bucket-replication-metadata.ts';
import { LeaderPasses } from './leader-passes.ts';

export interface ReplicationTarget {
  name: string;
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretKey: string; // never logged
  buckets: readonly string[];
  // Another Strata cluster: each version is sent with its id (x-strata-replica-version-id), so
  // the replica keeps it. Any other S3 endpoint makes its own id for each version it receives.
  strata: boolean;
}

// The header a Strata destination reads the source's version id from (src/s3/handlers/replica.ts).
const REPLICA_VERSION_HEADER = 'x-strata-replica-version-id';

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

type Outcome = 'completed' | 'gone' | 'refused';

export class BucketReplicationRunner {
  private readonly options: BucketReplicationRunnerOptions;
  private readonly log: Logger;
  private readonly clients = new Map<string, Promise<S3Client>>();
  private readonly passes: LeaderPasses;

  constructor(options: BucketReplicationRunnerOptions) {
    this.options = options;
    this.log = options.log;
    this.passes = new LeaderPasses({
      task: 'replication',
      intervalMs: options.passIntervalMs ?? PASS_INTERVAL_MS,
      runPass: () => this.runPass(),
      log: options.log,
      onLeadership: (isLeader) => {
        if (isLeader) return;
        replicationPending.set(0);
        replicationLag.set(0);
      },
    });
  }

  // Called on every leadership change of this metadata member.
  leadership(isLeader: boolean): void {
    this.passes.leadership(isLeader);
  }

  async stop(): Promise<void> {
    await this.passes.stop();
    for (const client of this.clients.values()) (await client).destroy();
    this.clients.clear();
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
      if (!this.passes.leading || entry.nextAttemptAtMs > Date.now()) return;
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

  // Sends the version (or its delete marker, or its changed metadata). 'gone': the source no
  // longer has it.
  private async deliver(entry: ReplicationEntry): Promise<Outcome> {
    const { client } = this.options;
    let version: ObjectVersion;
    try {
      version = await client.objectVersion(entry.bucket, entry.key, entry.versionId);
      assert(version.deleteMarker === entry.deleteMarker, 'a version keeps its kind');
      assert(version.versionId === entry.versionId, 'the version asked for');
    } catch (error) {
      if (isStrataError(error, 'NO_SUCH_VERSION') || isStrataError(error, 'NO_SUCH_BUCKET'))
        return 'gone';
      throw error;
    }
    const s3 = await this.s3For(entry.destinationBucket);
    if (entry.metadata !== undefined) {
      const keepId = this.targetOf(entry.destinationBucket).strata;
      const outcome = await sendMetadata(s3, entry, version, keepId);
      if (outcome === 'refused') {
        replicationFailures.inc();
        this.log.warn('replication of a metadata change refused', {
          bucket: entry.bucket,
          key: entry.key,
          versionId: entry.versionId,
          destination: entry.destinationBucket,
          reason: NONCURRENT_REFUSED,
        });
      }
      return outcome;
    }
    const sdk = await import('@aws-sdk/client-s3');
    const signal = AbortSignal.timeout(SEND_TIMEOUT_MS);
    const target = { Bucket: entry.destinationBucket, Key: entry.key };
    const keepId = this.targetOf(entry.destinationBucket).strata;
    if (entry.deleteMarker) {
      const command = new sdk.DeleteObjectCommand(target);
      if (keepId) withReplicaVersion(command, entry.versionId);
      await s3.send(command, { abortSignal: signal });
      return 'completed';
    }
    const inode = version.inode;
    assert(inode !== undefined, 'an object version has its data');
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
    const command = new sdk.PutObjectCommand({
      ...target,
      Body: body,
      ContentLength: inode.size,
      ...objectHeaders(inode),
      ...lockHeaders(version, Date.now()),
    });
    if (keepId) withReplicaVersion(command, entry.versionId);
    await s3.send(command, { abortSignal: signal });
    replicationBytes.inc(inode.size);
    return 'completed';
  }

  private targetOf(bucket: string): ReplicationTarget {
    const target = this.options.targets.find((t) => t.buckets.includes(bucket));
    if (target === undefined)
      throw new Error(`no replication target serves bucket ${bucket} (replication.targets)`);
    return target;
  }

  // The SDK is loaded when the first version is sent: a node without replication never pays.
  private s3For(bucket: string): Promise<S3Client> {
    const target = this.targetOf(bucket);
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

// What a PUT carries of the version's object metadata: content headers, user metadata, tags.
function objectHeaders(inode: Inode) {
  const meta = inode.object;
  const tags = meta?.tags === undefined ? undefined : new URLSearchParams(meta.tags).toString();
  const expires = meta?.expires === undefined ? undefined : new Date(meta.expires);
  return {
    ContentType: meta?.contentType,
    ContentEncoding: meta?.contentEncoding,
    ContentDisposition: meta?.contentDisposition,
    ContentLanguage: meta?.contentLanguage,
    CacheControl: meta?.cacheControl,
    Expires: expires !== undefined && !Number.isNaN(expires.getTime()) ? expires : undefined,
    Metadata: meta?.userMeta,
    Tagging: tags === '' ? undefined : tags,
    // An encrypted source stays encrypted at the destination: SSE-S3 as AES256, SSE-KMS under
    // the destination's default KMS key (the source's key id means nothing there). A destination
    // that cannot encrypt refuses the PUT, and the version ends FAILED, never stored in plaintext.
    ServerSideEncryption: meta?.sse,
  };
}

// The version's Object Lock, as the headers of its PUT (the destination needs Object Lock, as on
// AWS). A retention already past is not sent: it protects nothing any more, and S3 refuses a
// retain-until date in the past.
function lockHeaders(version: ObjectVersion, nowMs: number) {
  const retention = version.retention;
  const retained = retention !== undefined && retention.untilMs > nowMs;
  return {
    ...(retained
      ? { ObjectLockMode: retention.mode, ObjectLockRetainUntilDate: new Date(retention.untilMs) }
      : {}),
    ...(version.legalHold === true ? { ObjectLockLegalHoldStatus: 'ON' as const } : {}),
  };
}

// The source's version id in the request's own header, added before signing (build step).
function withReplicaVersion(command: PutObjectCommand | DeleteObjectCommand, versionId: string) {
  const stack = command.middlewareStack as DeleteObjectCommand['middlewareStack'];
  stack.add(
    (next) => (args) => {
      const request = args.request as { headers: Record<string, string> };
      request.headers[REPLICA_VERSION_HEADER] = versionId;
      return next(args);
    },
    { step: 'build', name: 'strataReplicaVersionId' },
  );
}
