import assert from 'node:assert';
import { type Database, open } from 'lmdb';
import * as K from './keys.ts';
import { createBucket, deleteBucket, setBucketAttr } from './ops-buckets.ts';
import * as data from './ops-data.ts';
import * as mp from './ops-multipart.ts';
import * as ns from './ops-namespace.ts';
import * as obj from './ops-objects.ts';
import { rename } from './ops-rename.ts';
import { createReader } from './reader.ts';
import { CommandError, fail, Store } from './store.ts';
import {
  type Command,
  type CommandResult,
  type Inode,
  type MetadataReader,
  ROOT_INO,
} from './types.ts';

// The metadata state machine: apply(command) runs one LMDB write transaction, deterministic in
// its inputs (no clock, no randomness: time and ids come inside the command). An error aborts the
// transaction and comes back as a value; the applied index advances either way, as a replicated
// log entry that fails is still applied.
export class MetadataStateMachine {
  readonly reader: MetadataReader;
  private readonly db: Database<any, Buffer>;
  private readonly store: Store;

  private constructor(db: Database<any, Buffer>) {
    this.db = db;
    this.store = new Store(db);
    this.reader = createReader(this.store);
  }

  static open(path: string): MetadataStateMachine {
    // overlappingSync (lmdb-js's default on Linux) returns from a commit before its fsync; with it
    // off, every transactionSync has reached the disk when it returns, so apply() is durable.
    const db = open<any, Buffer>({
      path,
      keyEncoding: 'binary',
      compression: false,
      overlappingSync: false,
    });
    const machine = new MetadataStateMachine(db);
    machine.initialise();
    return machine;
  }

  private initialise(): void {
    if (this.store.inode(ROOT_INO)) return;
    this.db.transactionSync(() => {
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

  // `index`: the log index of the command (Raft); without it, the next one.
  apply(command: Command, index?: number): CommandResult {
    const previous = this.appliedIndex();
    const next = index ?? previous + 1;
    assert(Number.isSafeInteger(next) && next > previous, `index ${next} already applied`);
    try {
      return this.db.transactionSync(() => {
        const result = dispatch(this.store, command);
        this.db.putSync(K.appliedKey(), next);
        return result;
      });
    } catch (error) {
      // Anything else is a broken invariant: it aborted the transaction and must stop the caller.
      if (!(error instanceof CommandError)) throw error;
      this.db.transactionSync(() => this.db.putSync(K.appliedKey(), next));
      return { ok: false, code: error.code, message: error.message };
    }
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
    case 'createBucket':
      return createBucket(store, c);
    case 'deleteBucket':
      return deleteBucket(store, c);
    case 'putObject':
      return obj.putObject(store, c);
    case 'deleteObject':
      return obj.deleteObject(store, c);
    case 'copyObject':
      return obj.copyObject(store, c);
    case 'setObjectTags':
      return obj.setObjectTags(store, c);
    case 'setObjectAcl':
      return obj.setObjectAcl(store, c);
    case 'setBucketAttr':
      return setBucketAttr(store, c);
    case 'createUpload':
      return mp.createUpload(store, c);
    case 'putPart':
      return mp.putPart(store, c);
    case 'completeUpload':
      return mp.completeUpload(store, c);
    case 'abortUpload':
      return mp.abortUpload(store, c);
    case 'registerDataServer':
      return data.registerDataServer(store, c);
    case 'gcDone':
      return data.gcDone(store, c);
    case 'markOrphans':
      return data.markOrphans(store, c);
    default:
      return fail('EINVAL', `unknown command ${(c as { op: string }).op}`);
  }
}
