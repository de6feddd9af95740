// Write-behind namespace changes (docs/architecture/overview.md, "Write-behind namespace
// changes"). A mount that creates or removes many names in one directory asks for the directory
// (delegateDir). While it holds it, no one else changes its entries or its own inode
// (Store.checkDelegation: EDELEGATED, and the service asks the mount to give it back), so the
// mount knows the outcome of its own creates, mkdirs, unlinks and renames there before they are
// applied: it answers them at once and sends them later, in order, as dirBatch commands. A
// dirBatch is applied whole or not at all, so what the cluster holds of a mount's changes is
// always a prefix of the order it made them in.
//
// Only directories whose changes have no outcome the mount cannot predict are delegated: in a
// bucket without versioning (so without Object Lock and replication, which need it); turning
// versioning on waits until none of the bucket's directories is delegated.
import { bucketOfDir, delegations, mountInodes } from './delegations.ts';
import * as K from './keys.ts';
import { renewSession } from './ops-locks.ts';
import { create, directory, mkdir, unlink } from './ops-namespace.ts';
import { rename } from './ops-rename.ts';
import { CommandError, fail, type Store } from './store.ts';
import { type Command, type DirBatchOp, type InodeRange, ROOT_INO } from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

export const DELEGATIONS_PER_MOUNT_MAX = 64;
export const DELEGATIONS_MAX = 4096;
export const RESERVED_INODES_MAX = 65_536;
export const DIR_BATCH_OPS_MAX = 1024;
const RANGES_MAX = 4;

export function delegateDir(store: Store, c: Op<'delegateDir'>) {
  renewSession(store, c.mountId, c.nowMs);
  if (!Number.isSafeInteger(c.inodes) || c.inodes < 0 || c.inodes > RESERVED_INODES_MAX)
    fail('EINVAL', `a mount reserves 0 to ${RESERVED_INODES_MAX} more inode numbers`);
  const dir = directory(store, c.dir);
  if (dir.ino === ROOT_INO) fail('EINVAL', 'the top level is not delegated');
  const held = store.delegation(dir.ino);
  if (held === undefined) {
    const bucket = bucketOfDir(store, dir.ino);
    // Unlinked, or versioned: creates and unlinks there have outcomes the mount cannot know.
    if (bucket === undefined || bucket.versioning !== undefined)
      return { ok: true as const, delegated: false };
    const all = delegations(store);
    if (
      all.length >= DELEGATIONS_MAX ||
      all.filter((d) => d.held.mountId === c.mountId).length >= DELEGATIONS_PER_MOUNT_MAX
    )
      return { ok: true as const, delegated: false };
    store.db.putSync(K.delegationKey(dir.ino), { mountId: c.mountId, grantedMs: c.nowMs });
  } else if (held.mountId !== c.mountId) {
    return { ok: true as const, delegated: false };
  }
  return { ok: true as const, delegated: true, reserved: reserveInodes(store, c) };
}

export function reserveInodesFor(store: Store, c: Op<'reserveInodes'>) {
  renewSession(store, c.mountId, c.nowMs);
  if (!Number.isSafeInteger(c.inodes) || c.inodes < 1 || c.inodes > RESERVED_INODES_MAX)
    fail('EINVAL', `a mount reserves 1 to ${RESERVED_INODES_MAX} more inode numbers`);
  return { ok: true as const, reserved: reserveInodes(store, c) };
}

// A new range of `c.inodes` numbers after the mount's others, unless it holds RANGES_MAX not used
// up already (it asks again later). A range is never taken back while the session lives: the
// mount may have answered creates with its numbers that are not applied yet.
function reserveInodes(store: Store, c: { mountId: string; inodes: number }): InodeRange[] {
  const reserved = mountInodes(store, c.mountId);
  const ranges = reserved.ranges.filter((r) => r.next < r.end);
  if (c.inodes > 0 && ranges.length < RANGES_MAX) {
    const next = store.nextCounter('ino', ROOT_INO + 1);
    store.db.putSync(K.counterKey('ino'), next + c.inodes - 1);
    ranges.push({ next, end: next + c.inodes });
  }
  store.db.putSync(K.mountInodesKey(c.mountId), { ...reserved, ranges });
  return ranges;
}

// Idempotent: a directory no longer the mount's is left as it is.
export function releaseDirs(store: Store, c: Op<'releaseDirs'>) {
  if (!Array.isArray(c.dirs) || c.dirs.length > DELEGATIONS_MAX)
    fail('EINVAL', `releaseDirs names up to ${DELEGATIONS_MAX} directories`);
  for (const dir of c.dirs) {
    if (!Number.isSafeInteger(dir) || dir < 1) fail('EINVAL', `bad directory ${dir}`);
    if (store.delegation(dir)?.mountId === c.mountId) store.db.removeSync(K.delegationKey(dir));
  }
  return { ok: true as const };
}

export function dirBatch(store: Store, c: Op<'dirBatch'>) {
  renewSession(store, c.mountId, c.nowMs);
  if (!Array.isArray(c.ops) || c.ops.length === 0 || c.ops.length > DIR_BATCH_OPS_MAX)
    fail('EINVAL', `a dirBatch has 1 to ${DIR_BATCH_OPS_MAX} ops`);
  if (!Number.isSafeInteger(c.batch) || c.batch < 1) fail('EINVAL', `bad batch number ${c.batch}`);
  if (c.batch <= (mountInodes(store, c.mountId).lastBatch ?? 0)) return { ok: true as const };
  store.actingMount = c.mountId;
  try {
    for (let i = 0; i < c.ops.length; i++) {
      try {
        applyOp(store, c.mountId, c.ops[i]);
      } catch (error) {
        if (error instanceof CommandError) error.failedOp = i;
        throw error;
      }
    }
  } finally {
    store.actingMount = undefined;
  }
  const reserved = mountInodes(store, c.mountId);
  store.db.putSync(K.mountInodesKey(c.mountId), { ...reserved, lastBatch: c.batch });
  return { ok: true as const };
}

function applyOp(store: Store, mountId: string, op: DirBatchOp): void {
  if (typeof op !== 'object' || op === null || !Number.isSafeInteger(op.nowMs))
    fail('EINVAL', 'a dirBatch op is an object with an integer nowMs');
  if (store.delegation(op.parent)?.mountId !== mountId)
    fail('ESTALE', `directory ${op.parent} is not delegated to mount ${mountId}`);
  switch (op.op) {
    case 'create': {
      useInode(store, mountId, op.ino);
      const { nowMs, parent, name, mode, caller } = op;
      create(store, { op: 'create', nowMs, parent, name, mode, caller, exclusive: true }, op.ino);
      return;
    }
    case 'mkdir': {
      useInode(store, mountId, op.ino);
      const { nowMs, parent, name, mode, caller } = op;
      mkdir(store, { op: 'mkdir', nowMs, parent, name, mode, caller }, op.ino);
      return;
    }
    case 'unlink': {
      if (op.keepForMount !== undefined && op.keepForMount !== mountId)
        fail('EINVAL', 'a dirBatch unlink keeps an open file for its own mount only');
      const { nowMs, parent, name, keepForMount } = op;
      unlink(store, { op: 'unlink', nowMs, parent, name, keepForMount });
      return;
    }
    case 'rename': {
      if (op.keepReplacedForMount !== undefined && op.keepReplacedForMount !== mountId)
        fail('EINVAL', 'a dirBatch rename keeps a replaced open file for its own mount only');
      const { nowMs, parent, name, newName, keepReplacedForMount } = op;
      const source = store.dirent(parent, name);
      if (source?.type === 'dir') fail('EINVAL', 'a dirBatch rename moves a non-directory');
      rename(store, {
        op: 'rename',
        nowMs,
        srcParent: parent,
        srcName: name,
        dstParent: parent,
        dstName: newName,
        keepReplacedForMount,
      });
      return;
    }
    default:
      fail(
        'EINVAL',
        `a dirBatch op is create, mkdir, unlink or rename, not ${(op as { op: unknown }).op}`,
      );
  }
}

// A create's number: in one of the mount's ranges, at or after the last one used there. The ranges
// before it are dropped (the mount uses them in order).
function useInode(store: Store, mountId: string, ino: number): void {
  const reserved = mountInodes(store, mountId);
  const at = reserved.ranges.findIndex((r) => ino >= r.next && ino < r.end);
  if (!Number.isSafeInteger(ino) || at < 0)
    fail('EINVAL', `inode ${ino} is not one mount ${mountId} may use now`);
  const ranges = reserved.ranges.slice(at);
  ranges[0] = { next: ino + 1, end: ranges[0].end };
  store.db.putSync(K.mountInodesKey(mountId), { ...reserved, ranges });
}
