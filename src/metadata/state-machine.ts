import assert from 'node:assert';
import { type Database, open } from 'lmdb';
import {
  forgetRemovedVersion,
  queueIfReplicated,
  setBucketReplication,
  settleReplication,
} from './bucket-replication.ts';
import { type MetadataChange, queueMetadataChange } from './bucket-replication-changes.ts';
import { CommandChanges } from './change-journal.ts';
import { ensureDirectoryUsage, markDirectoryUsageReady } from './dir-usage.ts';
import * as K from './keys.ts';
import { ensureLinks, markLinksReady } from './links.ts';
import * as lock from './object-lock.ts';
import { createBucket, deleteBucket, setBucketAttr } from './ops-buckets.ts';
import * as cluster from './ops-cluster.ts';
import * as data from './ops-data.ts';
import * as delegation from './ops-delegation.ts';
import { rewrapStripeKeys } from './ops-encryption.ts';
import * as kms from './ops-kms.ts';
import { applyLifecycle, setBucketLifecycle } from './ops-lifecycle.ts';
import { setLock } from './ops-locks.ts';
import * as mounts from './ops-mounts.ts';
import * as mp from './ops-multipart.ts';
import * as ns from './ops-namespace.ts';
import * as obj from './ops-objects.ts';
import { rename } from './ops-rename.ts';
import { relocateShard, relocateShards } from './ops-repair.ts';
import { commitRestoredCopy, expireRestoredCopy, restoreObject } from './ops-restore.ts';
import { transitionObject } from './ops-storage-class.ts';
import * as users from './ops-users.ts';
import { createReader } from './reader.ts';
import { advanceLogTime, expireSessions, touchSession } from './sessions.ts';
import { ensureShardCounts, markShardCountsReady } from './shard-counts.ts';
import { CommandError, fail, Store } from './store.ts';
import {
  type Command,
  type CommandResult,
  type Inode,
  type MetadataReader,
  ROOT_INO,
} from './types.ts';

export interface ClientSession {
  id: string;
  seq: number;
  ackBelow: number; // every seq below this has been answered: its result can be dropped
}

// The metadata state machine: apply(command) runs one LMDB write transaction, deterministic in
// its inputs (no clock, no randomness: time and ids come inside the command). An error aborts the
// transaction and comes back as a value; the applied index advances either way, as a replicated
// log entry that fails is still applied.
export class MetadataStateMachine {
  readonly reader: MetadataReader;
  private db: Database<any, Buffer>;
  private readonly store: Store;
  private readonly durable: boolean;

  private constructor(db: Database<any, Buffer>, durable: boolean) {
    this.db = db;
    this.durable = durable;
    this.store = new Store(db);
    this.reader = createReader(this.store);
  }

  // durable: every apply() has reached the disk when it returns (overlappingSync, lmdb-js's
  // default on Linux, would return before the fsync). Under Raft the log is the durable record
  // and the state machine is opened without syncs: after a process crash the entries after its
  // applied index are applied again from the log (never twice: the applied index is written in
  // the transaction of each change). A power loss may leave more than a lag (LMDB's NOSYNC lets
  // the kernel write the meta page before the pages it names): docs/architecture/raft.md.
  static open(
    path: string,
    options: { durable: boolean } = { durable: true },
  ): MetadataStateMachine {
    const machine = new MetadataStateMachine(openEnv(path, options.durable), options.durable);
    machine.initialise();
    machine.store.journal.reset(machine.appliedIndex());
    return machine;
  }

  // The applied index recorded in the state machine environment at `path` (a snapshot's file).
  static appliedIndexAt(path: string): number {
    const db = open<any, Buffer>({ path, keyEncoding: 'binary', readOnly: true });
    try {
      return (db.get(K.appliedKey()) as number | undefined) ?? 0;
    } finally {
      void db.close();
    }
  }

  private initialise(): void {
    if (this.store.inode(ROOT_INO)) {
      ensureShardCounts(this.store); // a state from before the counts: rebuilt once
      ensureLinks(this.store); // and from before the link index
      ensureDirectoryUsage(this.store); // and the directories' usage (after the links it walks)
      return;
    }
    this.db.transactionSync(() => {
      markShardCountsReady(this.store);
      markLinksReady(this.store);
      markDirectoryUsageReady(this.store);
      const root: Inode = {
        ino: ROOT_INO,
        type: 'dir',
        mode: 0o755,
        uid: 0,
        gid: 0,
        size: 0,
        nlink: 2,
        atimeMs: 0,
        mtimeMs: 0,
        ctimeMs: 0,
        birthtimeMs: 0,
        xattrs: {},
        parent: ROOT_INO,
      };
      this.store.putInode(root);
      this.db.putSync(K.counterKey('ino'), ROOT_INO);
    });
  }

  appliedIndex(): number {
    return (this.db.get(K.appliedKey()) as number | undefined) ?? 0;
  }

  // `index`: the log index of the command (Raft); without it, the next one. `session`: the
  // client's session, sequence number and the lowest sequence number it still waits for; a
  // command whose (session, seq) was applied before is not applied again, and gets the first
  // result (Raft dissertation §6.3). The result is stored in the same transaction as the change.
  // `leaderTimeMs`: the leader's stamp on the entry, which moves the log's time; sessions idle
  // for longer than SESSION_TIMEOUT_MS of log time expire (sessions.ts).
  apply(
    command: Command,
    index?: number,
    session?: ClientSession,
    leaderTimeMs?: number,
  ): CommandResult {
    const previous = this.appliedIndex();
    const next = index ?? previous + 1;
    assert(Number.isSafeInteger(next) && next > previous, `index ${next} already applied`);
    if (session !== undefined) {
      const seen = this.db.get(K.sessionKey(session.id, session.seq)) as CommandResult | undefined;
      if (seen !== undefined) {
        this.db.transactionSync(() => this.afterCommand(next, leaderTimeMs, session, undefined));
        return seen;
      }
    }
    let result: CommandResult;
    try {
      const changes = new CommandChanges();
      result = this.db.transactionSync(() => {
        this.store.linkMemo = new Map();
        this.store.changes = changes;
        try {
          const outcome = dispatch(this.store, command);
          this.afterCommand(next, leaderTimeMs, session, outcome);
          return outcome;
        } finally {
          this.store.linkMemo = undefined;
          this.store.changes = undefined;
        }
      });
      // Committed (an error would have aborted the transaction and left nothing to record).
      this.store.journal.record(next, session?.id, changes);
    } catch (error) {
      // Anything else is a broken invariant: it aborted the transaction and must stop the caller.
      if (!(error instanceof CommandError)) throw error;
      result = { ok: false, code: error.code, message: error.message };
      if (error.delegatedDir !== undefined) result.delegatedDir = error.delegatedDir;
      if (error.failedOp !== undefined) result.failedOp = error.failedOp;
      this.db.transactionSync(() => this.afterCommand(next, leaderTimeMs, session, result));
    }
    return result;
  }

  // In the command's transaction: the applied index, the log's time, the session's result (a
  // new one) and activity, and the expiry of sessions idle too long.
  private afterCommand(
    index: number,
    leaderTimeMs: number | undefined,
    session: ClientSession | undefined,
    result: CommandResult | undefined,
  ): void {
    this.db.putSync(K.appliedKey(), index);
    const nowMs = advanceLogTime(this.db, leaderTimeMs);
    if (session !== undefined) {
      if (result !== undefined) this.recordSession(session, result);
      touchSession(this.db, session.id, nowMs);
    }
    expireSessions(this.db, nowMs);
  }

  // Log entries that are not commands (a leader's no-op, a membership change) still advance the
  // applied index, so it always names the last log entry applied here.
  markApplied(index: number): void {
    assert(index > this.appliedIndex(), `index ${index} already applied`);
    this.db.transactionSync(() => this.db.putSync(K.appliedKey(), index));
  }

  // A Raft snapshot: LMDB copies its environment from one read transaction (a consistent MVCC
  // view that writers do not wait for) on a libuv worker thread, compacted, into `dir`/data.mdb.
  // The applied index is a key of that same B-tree, so the copy is the state at exactly the
  // index it records (read it back with appliedIndexAt).
  async snapshotTo(dir: string): Promise<void> {
    await this.db.backup(dir, true);
  }

  // Makes the environment at `path` (an installed snapshot) the state, at `index`. Readers keep
  // their objects: the store they read through switches to the new environment. Returns the
  // previous environment's closing.
  replaceWith(path: string, index: number): Promise<void> {
    const next = openEnv(path, this.durable);
    const applied = (next.get(K.appliedKey()) as number | undefined) ?? 0;
    if (applied !== index) {
      void next.close();
      throw new Error(`the snapshot at ${path} records index ${applied}, not ${index}`);
    }
    const previous = this.db;
    this.db = next;
    this.store.db = next;
    this.store.journal.reset(index); // what changed before the snapshot is not known here
    // A snapshot of a member from before the shard counts has none: rebuilt from its state.
    ensureShardCounts(this.store);
    ensureLinks(this.store);
    ensureDirectoryUsage(this.store);
    return previous.close();
  }

  // Keeps this result, and forgets the session's results the client no longer waits for.
  private recordSession(session: ClientSession, result: CommandResult): void {
    this.db.putSync(K.sessionKey(session.id, session.seq), result);
    const start = K.sessionPrefix(session.id);
    const end = K.sessionKey(session.id, Math.max(0, session.ackBelow));
    for (const key of this.db.getKeys({ start, end })) this.db.removeSync(key as Buffer);
  }

  // Every commit is on disk when apply() returns (see open); kept for callers that wait on it.
  flushed(): Promise<void> {
    return Promise.resolve(this.db.flushed).then(() => undefined);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function dispatch(store: Store, c: Command): CommandResult {
  if (typeof c !== 'object' || c === null || !Number.isSafeInteger(c.nowMs))
    fail('EINVAL', 'a command is an object with an integer nowMs');
  switch (c.op) {
    case 'mkdir':
      return ns.mkdir(store, c);
    case 'create':
      return ns.create(store, c);
    case 'symlink':
      return ns.symlink(store, c);
    case 'mknod':
      return ns.mknod(store, c);
    case 'link':
      return ns.hardLink(store, c);
    case 'unlink':
      return ns.unlink(store, c);
    case 'rmdir':
      return ns.rmdir(store, c);
    case 'rename':
      return rename(store, c);
    case 'setattr':
      return ns.setattr(store, c);
    case 'setxattr':
      return ns.setxattr(store, c);
    case 'removexattr':
      return ns.removexattr(store, c);
    case 'write':
      return data.write(store, c);
    case 'punch':
      return data.punchHole(store, c);
    case 'createBucket':
      return createBucket(store, c);
    case 'deleteBucket':
      return deleteBucket(store, c);
    case 'putObject':
      return replicated(store, c, obj.putObject(store, c));
    case 'deleteObject':
      return deleted(store, c, obj.deleteObject(store, c));
    case 'copyObject':
      return replicated(store, c, obj.copyObject(store, c));
    case 'setObjectTags':
      return metadataChanged(store, { ...c, what: 'tags' }, obj.setObjectTags(store, c));
    case 'setObjectAcl':
      return obj.setObjectAcl(store, c);
    case 'setBucketAttr':
      return setBucketAttr(store, c);
    case 'setObjectLockConfig':
      return lock.setObjectLockConfig(store, c);
    case 'setBucketLifecycle':
      return setBucketLifecycle(store, c);
    case 'applyLifecycle':
      return applyLifecycle(store, c);
    case 'restoreObject':
      return restoreObject(store, c);
    case 'transitionObject':
      return transitionObject(store, c);
    case 'commitRestoredCopy':
      return commitRestoredCopy(store, c);
    case 'expireRestoredCopy':
      return expireRestoredCopy(store, c);
    case 'setObjectRetention': {
      const change = { ...c, what: 'retention' as const };
      return metadataChanged(store, change, lock.setObjectRetention(store, c));
    }
    case 'setObjectLegalHold': {
      const change = { ...c, what: 'legalHold' as const };
      return metadataChanged(store, change, lock.setObjectLegalHold(store, c));
    }
    case 'createUpload':
      return mp.createUpload(store, c);
    case 'putPart':
      return mp.putPart(store, c);
    case 'completeUpload': {
      // The upload names the object (it is gone once completed; a retry makes no new version).
      const upload = store.upload(c.uploadId);
      const result = mp.completeUpload(store, c);
      if (upload === undefined) return result;
      return replicated(store, { ...upload, nowMs: c.nowMs }, result);
    }
    case 'abortUpload':
      return mp.abortUpload(store, c);
    case 'registerDataServer':
      return cluster.registerDataServer(store, c);
    case 'setServerState':
      return cluster.setServerState(store, c);
    case 'setDiskStatus':
      return cluster.setDiskStatus(store, c);
    case 'initClusterConfig':
      return cluster.initClusterConfig(store, c);
    case 'setMember':
      return data.setMember(store, c);
    case 'relocateShard':
      return relocateShard(store, c);
    case 'relocateShards':
      return relocateShards(store, c);
    case 'rewrapStripeKeys':
      return rewrapStripeKeys(store, c);
    case 'gcDone':
      return data.gcDone(store, c);
    case 'markOrphans':
      return data.markOrphans(store, c);
    case 'mountOpen':
      return mounts.mountOpen(store, c);
    case 'mountHeartbeat':
      return mounts.mountHeartbeat(store, c);
    case 'mountClose':
      return mounts.mountClose(store, c);
    case 'expireMounts':
      return mounts.expireMounts(store, c);
    case 'releaseOrphan':
      return mounts.releaseOrphan(store, c);
    case 'delegateDir':
      return delegation.delegateDir(store, c);
    case 'releaseDirs':
      return delegation.releaseDirs(store, c);
    case 'reserveInodes':
      return delegation.reserveInodesFor(store, c);
    case 'dirBatch':
      return delegation.dirBatch(store, c);
    case 'setLock':
      return setLock(store, c);
    case 'setBucketReplication':
      return setBucketReplication(store, c);
    case 'settleReplication':
      return settleReplication(store, c);
    case 'createUser':
      return users.createUser(store, c);
    case 'deleteUser':
      return users.deleteUser(store, c);
    case 'rotateAccessKey':
      return users.rotateAccessKey(store, c);
    case 'syncConfigUsers':
      return users.syncConfigUsers(store, c);
    case 'sealUserSecrets':
      return users.sealUserSecrets(store, c);
    case 'createKmsKey':
      return kms.createKmsKey(store, c);
    case 'createDefaultKmsKey':
      return kms.createDefaultKmsKey(store, c);
    case 'setKmsKeyState':
      return kms.setKmsKeyState(store, c);
    case 'rotateKmsKey':
      return kms.rotateKmsKey(store, c);
    case 'rewrapKmsKeys':
      return kms.rewrapKmsKeys(store, c);
    default:
      return fail('EINVAL', `unknown command ${(c as { op: string }).op}`);
  }
}

// A version a write made joins the bucket's replication queue in the write's transaction.
function replicated(
  store: Store,
  write: { bucket: string; key: string; nowMs: number },
  result: CommandResult,
): CommandResult {
  queueIfReplicated(store, write, result);
  return result;
}

// A replicated version's tags, retention or legal hold changed: the change joins the queue in
// the same transaction (src/metadata/bucket-replication-changes.ts).
function metadataChanged(
  store: Store,
  change: MetadataChange,
  result: CommandResult,
): CommandResult {
  queueMetadataChange(store, change, result);
  return result;
}

// A delete without a version id made a delete marker (queued like a write); one with a version
// id removed that version for good.
function deleted(
  store: Store,
  c: Extract<Command, { op: 'deleteObject' }>,
  result: CommandResult,
): CommandResult {
  if (c.versionId === undefined) return replicated(store, c, result);
  forgetRemovedVersion(store, c, result);
  return result;
}

function openEnv(path: string, durable: boolean): Database<any, Buffer> {
  const options = {
    path,
    keyEncoding: 'binary' as const,
    compression: false,
    overlappingSync: false,
    noSync: !durable,
    // Values as plain MessagePack maps: lmdb-js's default (msgpackr records, with no shared
    // structures) puts a structure definition in every value, which each read parses again
    // (about 10% of a member's CPU under creates). Values written that way still decode.
    // lmdb-js hands useRecords to msgpackr; its types do not list it, hence no object literal.
    useRecords: false,
  };
  return open<any, Buffer>(options);
}
