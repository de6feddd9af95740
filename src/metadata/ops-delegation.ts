// Write-behind namespace changes (docs/architecture/overview.md, "Write-behind namespace
// changes"). A mount that creates or removes many names in one directory asks for the directory
// (delegateDir). While it holds it, no one else changes its entries or its own inode
// (Store.checkDelegation: EDELEGATED, and the service asks the mount to give it back), so the
// mount knows the outcome of its own creates and unlinks there before they are applied: it
// answers them at once and sends them later, in order, as dirBatch commands. A dirBatch is
// applied whole or not at all, so what the cluster holds of a mount's changes is always a prefix
// of the order it made them in.
//
// Only directories whose changes have no outcome the mount cannot predict are delegated: in a
// bucket without versioning (so without Object Lock and replication, which need it); turning
// versioning on waits until none of the bucket's directories is delegated.
import { bucketOfDir, delegations, mountInodes } from './delegations.ts';
import * as K from './keys.ts';
import { renewSession } from './ops-locks.ts';
import { create, directory, unlink } from './ops-namespace.ts';
import { CommandError, fail, type Store } from './store.ts';
import { type Command, type DirBatchOp, type InodeRange, ROOT_INO } from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

export const DELEGATIONS_PER_MOUNT_MAX = 64;
export const DELEGATIONS_MAX = 4096;
export const RESERVED_INODES_MAX = 65_536;
export const DIR_BATCH_OPS_MAX = 1024;

export function delegateDir(store: Store, c: Op<'delegateDir'>) {
  renewSession(store, c.mountId, c.nowMs);
  if (!Number.isSafeInteger(c.inodes) || c.inodes < 1 || c.inodes > RESERVED_INODES_MAX)
    fail('EINVAL', `a mount reserves 1 to ${RESERVED_INODES_MAX} inode numbers`);
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
  return { ok: true as const, delegated: true, inodeRange: reserveInodes(store, c) };
}

// Keeps the mount's range, or starts a new one when fewer than half the numbers asked are left
// (the rest of the old one is never used).
function reserveInodes(store: Store, c: Op<'delegateDir'>): InodeRange {
  const range = mountInodes(store, c.mountId);
  if (range !== undefined && range.end - range.next >= c.inodes / 2) return range;
  const next = store.nextCounter('ino', ROOT_INO + 1);
  const fresh = { next, end: next + c.inodes, lastBatch: range?.lastBatch };
  store.db.putSync(K.counterKey('ino'), fresh.end - 1);
  store.db.putSync(K.mountInodesKey(c.mountId), fresh);
  return fresh;
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
  const seen = mountInodes(store, c.mountId);
  if (c.batch <= (seen?.lastBatch ?? 0)) return { ok: true as const };
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
  const range = mountInodes(store, c.mountId);
  if (range !== undefined)
    store.db.putSync(K.mountInodesKey(c.mountId), { ...range, lastBatch: c.batch });
  return { ok: true as const };
}

function applyOp(store: Store, mountId: string, op: DirBatchOp): void {
  if (typeof op !== 'object' || op === null || !Number.isSafeInteger(op.nowMs))
    fail('EINVAL', 'a dirBatch op is an object with an integer nowMs');
  if (store.delegation(op.parent)?.mountId !== mountId)
    fail('ESTALE', `directory ${op.parent} is not delegated to mount ${mountId}`);
  switch (op.op) {
    case 'create': {
      const range = mountInodes(store, mountId);
      if (range === undefined || !Number.isSafeInteger(op.ino))
        fail('EINVAL', `inode ${op.ino} is not reserved for mount ${mountId}`);
      const { next, end } = range as InodeRange;
      if (op.ino < next || op.ino >= end)
        fail('EINVAL', `inode ${op.ino} is outside mount ${mountId}'s range [${next}, ${end})`);
      store.db.putSync(K.mountInodesKey(mountId), { ...range, next: op.ino + 1 });
      const { nowMs, parent, name, mode, caller } = op;
      create(store, { op: 'create', nowMs, parent, name, mode, caller, exclusive: true }, op.ino);
      return;
    }
    case 'unlink': {
      if (op.keepForMount !== undefined && op.keepForMount !== mountId)
        fail('EINVAL', 'a dirBatch unlink keeps an open file for its own mount only');
      const { nowMs, parent, name, keepForMount } = op;
      unlink(store, { op: 'unlink', nowMs, parent, name, keepForMount });
      return;
    }
    default:
      fail('EINVAL', `a dirBatch op is create or unlink, not ${(op as { op: unknown }).op}`);
  }
}
