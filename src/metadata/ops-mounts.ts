// Mount sessions: what a FUSE mount holds in the namespace beyond names (its locks, and the
// files it unlinked while they were open) lives exactly as long as its session. A session is
// renewed by any of the mount's commands and ended by mountClose, or by expireMounts once it has
// not been seen for its ttl (the mount died or lost the cluster). The leader proposes
// expireMounts; apply compares only the times stamped into commands.
import assert from 'node:assert';
import { dropMountDelegations } from './delegations.ts';
import { releaseAll } from './extent-ops.ts';
import * as K from './keys.ts';
import {
  checkMountId,
  dropInodeLocks,
  dropMountLocks,
  isExpired,
  mountSession,
  renewSession,
} from './ops-locks.ts';
import { freeRestoredCopy } from './restored-copy.ts';
import { fail, type Store } from './store.ts';
import type { Command, CommandResult, Inode, MountSession } from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

const MOUNTS_MAX = 10_000;
const TTL_MS_MIN = 100;
const TTL_MS_MAX = 24 * 3600 * 1000;
const DESCRIPTION_CHARS_MAX = 256;

// The last link of a file is gone (and no mount keeps it): its data and locks go too.
export function freeInode(store: Store, ino: number): void {
  const inode = store.inode(ino);
  if (inode !== undefined) freeRestoredCopy(store, inode);
  releaseAll(store, ino);
  dropInodeLocks(store, ino);
  store.removeInode(ino);
}

// Keeps a file whose last link was just removed, for a live mount that has it open. False when
// there is no such session (the caller frees the inode).
export function keepOrphan(store: Store, inode: Inode, mountId: string, nowMs: number): boolean {
  assert(inode.type !== 'dir' && inode.nlink === 1, 'only a last link leaves an orphan');
  checkMountId(mountId);
  const session = mountSession(store, mountId);
  if (!session || isExpired(session, nowMs)) return false;
  store.putInode({ ...inode, nlink: 0, ctimeMs: nowMs });
  store.db.putSync(K.mountOrphanKey(mountId, inode.ino), nowMs);
  return true;
}

export function keepsOrphan(store: Store, mountId: string, ino: number): boolean {
  if (typeof mountId !== 'string' || !Number.isSafeInteger(ino)) return false;
  return store.db.get(K.mountOrphanKey(mountId, ino)) !== undefined;
}

export function orphansOf(store: Store, mountId: string): number[] {
  return [...store.db.getKeys(K.mountOrphanRange(mountId))].map((key) =>
    K.inoFromMountIndexKey(key as Buffer),
  );
}

function releaseOrphanOf(store: Store, mountId: string, ino: number): void {
  store.db.removeSync(K.mountOrphanKey(mountId, ino));
  const inode = store.inode(ino);
  if (inode && inode.nlink === 0) freeInode(store, ino);
}

// Releases the session's locks and delegated directories, frees its orphans, forgets it.
function endSession(store: Store, mountId: string): void {
  dropMountLocks(store, mountId);
  dropMountDelegations(store, mountId);
  for (const ino of orphansOf(store, mountId)) releaseOrphanOf(store, mountId, ino);
  store.db.removeSync(K.mountKey(mountId));
}

export function sessions(store: Store): MountSession[] {
  return [...store.db.getRange({ start: K.mountPrefix(), end: K.mountPrefixEnd() })].map(
    ({ value }) => value as MountSession,
  );
}

export function mountOpen(store: Store, c: Op<'mountOpen'>) {
  checkMountId(c.mountId);
  if (!Number.isSafeInteger(c.ttlMs) || c.ttlMs < TTL_MS_MIN || c.ttlMs > TTL_MS_MAX)
    fail('EINVAL', `a mount ttl is ${TTL_MS_MIN} to ${TTL_MS_MAX} ms, not ${c.ttlMs}`);
  if (
    c.description !== undefined &&
    (typeof c.description !== 'string' || c.description.length > DESCRIPTION_CHARS_MAX)
  )
    fail('EINVAL', `a mount description is at most ${DESCRIPTION_CHARS_MAX} characters`);
  if (c.user !== undefined && (typeof c.user !== 'string' || c.user.length === 0))
    fail('EINVAL', 'a mount session user is a user name');
  let existing = mountSession(store, c.mountId);
  // A session that expired before it was reaped has lost its locks: it starts again empty.
  if (existing && isExpired(existing, c.nowMs)) {
    endSession(store, c.mountId);
    existing = undefined;
  }
  // A live session is its mount's: another user (or the operator) cannot take it over, with its
  // locks and the files it keeps open.
  if (existing && existing.user !== c.user)
    fail('EACCES', `mount session ${c.mountId} belongs to another user`);
  if (
    !existing &&
    store.db.getKeysCount({ start: K.mountPrefix(), end: K.mountPrefixEnd() }) >= MOUNTS_MAX
  )
    fail('EBUSY', `${MOUNTS_MAX} mount sessions open`);
  const session: MountSession = {
    mountId: c.mountId,
    ttlMs: c.ttlMs,
    lastSeenMs: Math.max(existing?.lastSeenMs ?? 0, c.nowMs),
    openedAtMs: existing?.openedAtMs ?? c.nowMs,
  };
  if (c.description !== undefined) session.description = c.description;
  if (c.user !== undefined) session.user = c.user;
  store.db.putSync(K.mountKey(c.mountId), session);
  return { ok: true as const };
}

// ESTALE when the session is gone; one found expired is ended here, and the error is returned
// as a value so that ending commits (a thrown error would abort it).
export function mountHeartbeat(store: Store, c: Op<'mountHeartbeat'>): CommandResult {
  checkMountId(c.mountId);
  const session = mountSession(store, c.mountId);
  if (session && isExpired(session, c.nowMs)) {
    endSession(store, c.mountId);
    return { ok: false, code: 'ESTALE', message: `mount session ${c.mountId} expired` };
  }
  renewSession(store, c.mountId, c.nowMs);
  return { ok: true };
}

// Idempotent: closing a session that is gone succeeds.
export function mountClose(store: Store, c: Op<'mountClose'>) {
  checkMountId(c.mountId);
  if (mountSession(store, c.mountId)) endSession(store, c.mountId);
  return { ok: true as const };
}

export function expireMounts(store: Store, c: Op<'expireMounts'>) {
  const expired = sessions(store)
    .filter((s) => isExpired(s, c.nowMs))
    .map((s) => s.mountId);
  for (const mountId of expired) endSession(store, mountId);
  return { ok: true as const, expired };
}

// The mount closed its last handle on an unlinked file. Idempotent: an inode that is no orphan
// of the mount (released already, or freed when the session ended) is left alone.
export function releaseOrphan(store: Store, c: Op<'releaseOrphan'>) {
  checkMountId(c.mountId);
  if (!Number.isSafeInteger(c.ino) || c.ino < 1) fail('EINVAL', `bad inode ${c.ino}`);
  if (store.db.get(K.mountOrphanKey(c.mountId, c.ino)) !== undefined)
    releaseOrphanOf(store, c.mountId, c.ino);
  return { ok: true as const };
}
