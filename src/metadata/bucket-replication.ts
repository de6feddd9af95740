// Bucket replication in the state machine: the configuration (setBucketReplication), the queue
// a write adds to in its own transaction (so a crash or a leader change loses no entry), and the
// outcome of a send (settleReplication). The leader's runner (src/cluster/
// bucket-replication-runner.ts) reads the queue and proposes the outcomes; time comes from the
// commands (nowMs, retryAtMs), never from a clock here.
import assert from 'node:assert';
import type {
  ReplicationBacklog,
  ReplicationConfig,
  ReplicationEntry,
  ReplicationRule,
  ReplicationStatus,
  ReplicationStatusRecord,
} from './bucket-replication-types.ts';
import * as K from './keys.ts';
import { fail, type Store } from './store.ts';
import type { BucketInfo, Command, CommandResult, ObjectVersion } from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

// AWS's limits: at most 1,000 rules, IDs of at most 255 characters.
export const REPLICATION_RULES_MAX = 1000;
const RULE_ID_CHARS_MAX = 255;
// Counters of the queue, kept in the transactions that change it, so the backlog is one read.
const QUEUED_COUNTER = 'replicationQueued';
const FAILED_COUNTER = 'replicationFailed';
const SEQ_COUNTER = 'replicationSeq';
// After this many failed sends an entry is FAILED (it is still sent, at the runner's slow pace).
export const REPLICATION_ATTEMPTS_BEFORE_FAILED = 8;
// The longest queue page one read returns.
export const REPLICATION_QUEUE_PAGE_MAX = 1000;

export function setBucketReplication(store: Store, c: Op<'setBucketReplication'>) {
  const bucket = store.bucket(c.name) ?? fail('NO_SUCH_BUCKET', `no bucket ${c.name}`);
  const next: BucketInfo = { ...bucket };
  if (c.config === null) {
    delete next.replication;
  } else {
    // AWS: "Versioning must be 'Enabled' on the bucket to apply a replication configuration".
    // The gateway answers that as 400 InvalidRequest first; here it holds on every path.
    if (bucket.versioning !== 'Enabled')
      fail('INVALID_BUCKET_STATE', 'versioning must be Enabled to configure replication');
    next.replication = checkConfig(c.config);
  }
  store.db.putSync(K.bucketKey(c.name), next);
  return { ok: true as const, bucket: next };
}

// The shapes only: the gateway validates the S3 rules (destination targets, priorities).
function checkConfig(config: unknown): ReplicationConfig {
  const c = config as ReplicationConfig;
  if (typeof c !== 'object' || c === null || typeof c.role !== 'string' || !Array.isArray(c.rules))
    fail('EINVAL', 'a replication configuration is { role, rules }');
  if (c.rules.length === 0 || c.rules.length > REPLICATION_RULES_MAX)
    fail('EINVAL', `a replication configuration has 1 to ${REPLICATION_RULES_MAX} rules`);
  const destinations = new Set(c.rules.map((rule) => checkRule(rule).destinationBucket));
  if (destinations.size !== 1) fail('ENOSYS', 'rules naming more than one destination bucket');
  return { role: c.role, rules: c.rules.map((rule) => ({ ...rule, tags: [...rule.tags] })) };
}

function checkRule(rule: ReplicationRule): ReplicationRule {
  const ok =
    typeof rule === 'object' &&
    rule !== null &&
    typeof rule.id === 'string' &&
    rule.id.length <= RULE_ID_CHARS_MAX &&
    Number.isSafeInteger(rule.priority) &&
    typeof rule.enabled === 'boolean' &&
    typeof rule.prefix === 'string' &&
    Array.isArray(rule.tags) &&
    rule.tags.every((t) => typeof t?.key === 'string' && typeof t.value === 'string') &&
    typeof rule.deleteMarkers === 'boolean' &&
    typeof rule.destinationBucket === 'string' &&
    rule.destinationBucket.length > 0 &&
    ['V1', 'Empty', 'Prefix', 'Tag', 'And'].includes(rule.shape);
  if (!ok) fail('EINVAL', 'a malformed replication rule');
  return rule;
}

// The enabled rule with the highest priority whose filter takes the key and tags (AWS: with one
// destination, the highest-priority matching rule decides), or none.
export function matchingRule(
  config: ReplicationConfig,
  key: string,
  tags: Record<string, string> | undefined,
): ReplicationRule | undefined {
  let best: ReplicationRule | undefined;
  for (const rule of config.rules) {
    if (!rule.enabled || !key.startsWith(rule.prefix)) continue;
    if (!rule.tags.every((t) => tags?.[t.key] === t.value)) continue;
    if (best === undefined || rule.priority > best.priority) best = rule;
  }
  return best;
}

// After a command that made a version (put, copy, multipart completion, or a delete marker), in
// its transaction: the version is queued and PENDING when a rule takes it.
// A replica (a version another Strata cluster sent with its id) is marked REPLICA instead, and
// is not sent on: as on AWS, a replica is not replicated again.
export function queueIfReplicated(
  store: Store,
  write: { bucket: string; key: string; nowMs: number; replicaVersionId?: string },
  result: CommandResult,
): void {
  if (!result.ok || result.versionId === undefined) return;
  const info = store.bucket(write.bucket);
  if (info === undefined) return;
  if (write.replicaVersionId !== undefined) {
    assert(result.versionId === write.replicaVersionId, 'a replica keeps its source version id');
    putStatus(store, info.ino, write.key, result.versionId, { status: 'REPLICA' });
    return;
  }
  if (info.replication === undefined) return;
  const deleteMarker = result.deleteMarker === true;
  const tags = deleteMarker ? undefined : result.inode?.object?.tags;
  const rule = matchingRule(info.replication, write.key, tags);
  if (rule === undefined || (deleteMarker && !rule.deleteMarkers)) return;
  retryFailedOfKey(store, info.ino, write.key, write.nowMs);
  enqueue(store, {
    bucket: write.bucket,
    bucketIno: info.ino,
    key: write.key,
    versionId: result.versionId,
    deleteMarker,
    ruleId: rule.id,
    destinationBucket: rule.destinationBucket,
    enqueuedAtMs: write.nowMs,
    attempts: 0,
    nextAttemptAtMs: write.nowMs,
    status: 'PENDING',
  });
}

// Adds an entry at the queue's end and makes its version PENDING with it as the newest entry.
export function enqueue(store: Store, fields: Omit<ReplicationEntry, 'seq'>): ReplicationEntry {
  assert(fields.attempts === 0 && fields.status === 'PENDING', 'a new entry is unsent');
  const entry: ReplicationEntry = { seq: nextSeq(store), ...fields };
  store.db.putSync(K.replicationQueueKey(entry.seq), entry);
  addToCounter(store, QUEUED_COUNTER, 1);
  putStatus(store, entry.bucketIno, entry.key, entry.versionId, {
    status: 'PENDING',
    seq: entry.seq,
  });
  return entry;
}

// A new write of a key sends its FAILED versions again now: they go first (one key's versions
// reach the destination in the order they were made), so the new one waits for them.
function retryFailedOfKey(store: Store, bucketIno: number, key: string, nowMs: number): void {
  // The key's statuses are walked only while some version is FAILED: a write stays one read.
  if (((store.db.get(K.counterKey(FAILED_COUNTER)) as number | undefined) ?? 0) === 0) return;
  for (const { value } of store.db.getRange(K.replicationStatusRange(bucketIno, key))) {
    const record = value as ReplicationStatusRecord;
    if (record.status !== 'FAILED' || record.seq === undefined) continue;
    const entry = store.db.get(K.replicationQueueKey(record.seq)) as ReplicationEntry | undefined;
    assert(entry !== undefined, `a FAILED status names its queue entry ${record.seq}`);
    store.db.putSync(K.replicationQueueKey(record.seq), { ...entry, nextAttemptAtMs: nowMs });
  }
}

// A version removed for good (DELETE with a version id) forgets its status; an entry still
// queued for it is settled by the runner, which finds the version gone.
export function forgetRemovedVersion(
  store: Store,
  c: { bucket: string; key: string; versionId?: string },
  result: CommandResult,
): void {
  if (!result.ok || c.versionId === undefined) return;
  const info = store.bucket(c.bucket);
  if (info === undefined) return;
  const statusKey = K.replicationStatusKey(info.ino, c.key, c.versionId);
  const record = store.db.get(statusKey) as ReplicationStatusRecord | undefined;
  if (record?.seq === undefined) store.db.removeSync(statusKey);
}

// The runner's outcome for one entry: sent (COMPLETED), the version is gone from the source
// (the entry goes, nothing to send), or a failed send (retried at retryAtMs; FAILED after
// REPLICATION_ATTEMPTS_BEFORE_FAILED). An entry that is not queued any more, or that is for
// another version, is a stale proposal (an old leader's): PRECONDITION_FAILED, nothing changes.
export function settleReplication(store: Store, c: Op<'settleReplication'>) {
  if (!Number.isSafeInteger(c.seq) || c.seq < 1) fail('EINVAL', `bad replication entry ${c.seq}`);
  const queueKey = K.replicationQueueKey(c.seq);
  const stale = () =>
    fail('PRECONDITION_FAILED', `replication entry ${c.seq} is not queued for ${c.versionId}`);
  const entry = (store.db.get(queueKey) as ReplicationEntry | undefined) ?? stale();
  if (entry.versionId !== c.versionId) stale();
  const statusKey = K.replicationStatusKey(entry.bucketIno, entry.key, entry.versionId);
  const record = store.db.get(statusKey) as ReplicationStatusRecord | undefined;
  // A newer entry of the same version (a metadata change after this one) owns the status: it
  // stays PENDING until that one settles, except that a FAILED entry shows.
  const newer = record?.seq !== undefined && record.seq !== entry.seq;
  if (c.outcome === 'failed') {
    if (!Number.isSafeInteger(c.retryAtMs)) fail('EINVAL', 'a failed send has its retryAtMs');
    const attempts = entry.attempts + 1;
    const status = attempts >= REPLICATION_ATTEMPTS_BEFORE_FAILED ? 'FAILED' : 'PENDING';
    if (status === 'FAILED' && entry.status !== 'FAILED') addToCounter(store, FAILED_COUNTER, 1);
    store.db.putSync(queueKey, { ...entry, attempts, status, nextAttemptAtMs: c.retryAtMs });
    const seq = newer ? record.seq : c.seq;
    if (!newer || status === 'FAILED')
      putStatus(store, entry.bucketIno, entry.key, entry.versionId, { status, seq });
    return { ok: true as const };
  }
  if (c.outcome !== 'completed' && c.outcome !== 'gone' && c.outcome !== 'refused')
    fail('EINVAL', `unknown replication outcome ${String(c.outcome)}`);
  if (c.outcome === 'refused' && entry.metadata === undefined)
    fail('EINVAL', 'only a metadata change is refused: a version is sent or fails');
  store.db.removeSync(queueKey);
  addToCounter(store, QUEUED_COUNTER, -1);
  if (entry.status === 'FAILED') addToCounter(store, FAILED_COUNTER, -1);
  if (c.outcome === 'gone') {
    if (!newer) store.db.removeSync(statusKey);
  } else if (c.outcome === 'refused') {
    // The replica is out of date for good: the version says so (a newer entry still settles).
    const seq = newer ? record.seq : undefined;
    putStatus(store, entry.bucketIno, entry.key, entry.versionId, { status: 'FAILED', seq });
  } else if (!newer) {
    store.db.putSync(statusKey, { status: 'COMPLETED' });
  }
  return { ok: true as const };
}

function putStatus(
  store: Store,
  bucketIno: number,
  key: string,
  versionId: string,
  record: ReplicationStatusRecord,
): void {
  store.db.putSync(K.replicationStatusKey(bucketIno, key, versionId), record);
}

function nextSeq(store: Store): number {
  const seq = ((store.db.get(K.counterKey(SEQ_COUNTER)) as number | undefined) ?? 0) + 1;
  store.db.putSync(K.counterKey(SEQ_COUNTER), seq);
  return seq;
}

function addToCounter(store: Store, name: string, delta: number): void {
  const value = ((store.db.get(K.counterKey(name)) as number | undefined) ?? 0) + delta;
  assert(value >= 0, `replication counter ${name} went below zero`);
  store.db.putSync(K.counterKey(name), value);
}

// Reads (src/metadata/reader.ts).

// The first `limit` entries in sequence order (at most REPLICATION_QUEUE_PAGE_MAX).
export function replicationQueue(store: Store, limit: number): ReplicationEntry[] {
  const count = Math.max(0, Math.min(REPLICATION_QUEUE_PAGE_MAX, Math.trunc(limit) || 0));
  const entries: ReplicationEntry[] = [];
  for (const { value } of store.db.getRange({ ...K.replicationQueueRange(), limit: count }))
    entries.push(value as ReplicationEntry);
  return entries;
}

export function replicationBacklog(store: Store): ReplicationBacklog {
  const pending = (store.db.get(K.counterKey(QUEUED_COUNTER)) as number | undefined) ?? 0;
  const failed = (store.db.get(K.counterKey(FAILED_COUNTER)) as number | undefined) ?? 0;
  const [first] = replicationQueue(store, 1);
  assert((first === undefined) === (pending === 0), 'the queue counter matches the queue');
  return first === undefined
    ? { pending, failed }
    : { pending, failed, oldestEnqueuedAtMs: first.enqueuedAtMs };
}

export function replicationStatusOf(
  store: Store,
  bucketIno: number,
  key: string,
  versionId: string,
): ReplicationStatus | undefined {
  const record = store.db.get(K.replicationStatusKey(bucketIno, key, versionId)) as
    | ReplicationStatusRecord
    | undefined;
  return record?.status;
}

// The version as GET and HEAD see it, with its replication status when it has one.
export function withReplicationStatus(
  store: Store,
  bucketName: string,
  key: string,
  version: ObjectVersion | undefined,
): ObjectVersion | undefined {
  if (version === undefined || !version.versioned) return version;
  const bucket = store.bucket(bucketName);
  if (bucket === undefined) return version;
  const status = replicationStatusOf(store, bucket.ino, key, version.versionId);
  return status === undefined ? version : { ...version, replicationStatus: status };
}
