import assert from 'node:assert';
import { type Database, open } from 'lmdb';
import { writeExtents } from './extent-ops.ts';
import * as K from './keys.ts';
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
    const db = open<any, Buffer>({ path, keyEncoding: 'binary', compression: false });
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

  apply(command: Command, index?: number): CommandResult {
    const next = index ?? this.appliedIndex() + 1;
    assert(next > this.appliedIndex(), `index ${next} already applied`);
    try {
      return this.db.transactionSync(() => {
        const result = dispatch(this.store, command);
        this.db.putSync(K.appliedKey(), next);
        return result;
      });
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      this.db.transactionSync(() => this.db.putSync(K.appliedKey(), next));
      return { ok: false, code: error.code, message: error.message };
    }
  }

  // Resolves when every commit so far is on disk (LMDB flushes after commit, overlapped with the
  // next transactions); replies wait for it so an acknowledged command survives power loss.
  flushed(): Promise<void> {
    return Promise.resolve(this.db.flushed).then(() => undefined);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}

function dispatch(store: Store, c: Command): CommandResult {
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
      return write(store, c);
    case 'createBucket':
      return obj.createBucket(store, c);
    case 'deleteBucket':
      return obj.deleteBucket(store, c);
    case 'putObject':
      return obj.putObject(store, c);
    case 'deleteObject':
      return obj.deleteObject(store, c);
    case 'copyObject':
      return obj.copyObject(store, c);
    case 'setObjectTags':
      return obj.setObjectTags(store, c);
    case 'createUpload':
      return obj.createUpload(store, c);
    case 'putPart':
      return obj.putPart(store, c);
    case 'completeUpload':
      return obj.completeUpload(store, c);
    case 'abortUpload':
      return obj.abortUpload(store, c);
    case 'registerDataServer':
      store.db.putSync(K.serverKey(c.server.serverId), { ...c.server, registeredAtMs: c.nowMs });
      return { ok: true };
    case 'markOrphans': {
      const marked: string[] = [];
      for (const id of c.stripeIds) {
        if (store.refCount(id) > 0 || store.db.get(K.gcKey(id)) !== undefined) continue;
        store.db.putSync(K.orphanKey(id), c.nowMs);
        marked.push(id);
      }
      return { ok: true, marked };
    }
    case 'gcDone':
      for (const id of c.stripeIds) store.db.removeSync(K.gcKey(id));
      return { ok: true };
    default:
      return fail('EINVAL', `unknown command ${(c as { op: string }).op}`);
  }
}

function write(store: Store, c: Extract<Command, { op: 'write' }>): CommandResult {
  const inode = store.mustInode(c.ino);
  if (inode.type !== 'file') fail(inode.type === 'dir' ? 'EISDIR' : 'EINVAL', 'writes go to files');
  const end = writeExtents(store, c.ino, c.extents);
  const next = {
    ...inode,
    size: Math.max(inode.size, end),
    mtimeMs: c.nowMs,
    ctimeMs: c.nowMs,
    object: inode.object ? { ...inode.object, etag: '' } : undefined,
  };
  store.putInode(next);
  return { ok: true, inode: next };
}
