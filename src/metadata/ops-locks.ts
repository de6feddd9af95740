// Cluster-wide file locks, held in the replicated state so every mount sees the same table.
//
// Semantics are Linux's. POSIX (fcntl) locks belong to an owner (mount id + the kernel's
// lock_owner): an owner's locks on an inode never conflict with each other; setting a range
// replaces whatever the owner held on it (splitting its locks), unlock cuts the range out, and
// adjacent ranges of the same type merge. flock locks are whole-file and owner-based; a second
// flock by the same owner converts the first. The two kinds never conflict with each other.
// A write lock conflicts with any overlapping lock of another owner, a read lock with an
// overlapping write lock. A conflicting request fails with EAGAIN and changes nothing: waiting
// (F_SETLKW) is the mount's job, by retrying.
import assert from 'node:assert';
import * as K from './keys.ts';
import { fail, type Store } from './store.ts';
import {
  type Command,
  type FileLock,
  LOCK_END_MAX,
  type LockKind,
  type LockType,
  type MountSession,
} from './types.ts';

type SetLock = Extract<Command, { op: 'setLock' }>;

const LOCKS_PER_INODE_MAX = 4096;
const OWNER_BYTES_MAX = 64;
const MOUNT_ID_BYTES_MAX = 128;

export interface LockRequest {
  mountId: string;
  owner: string;
  kind: LockKind;
  type: LockType | 'unlock';
  start: number;
  end: number; // inclusive
  pid: number;
}

const isSameOwner = (a: LockRequest | FileLock, b: LockRequest | FileLock) =>
  a.mountId === b.mountId && a.owner === b.owner && a.kind === b.kind;
const overlaps = (a: { start: number; end: number }, b: { start: number; end: number }) =>
  a.start <= b.end && b.start <= a.end;

// A deterministic order (kind, mount, owner, start), so equal tables are equal values.
function compareLocks(a: FileLock, b: FileLock): number {
  if (a.kind !== b.kind) return a.kind < b.kind ? -1 : 1;
  if (a.mountId !== b.mountId) return a.mountId < b.mountId ? -1 : 1;
  if (a.owner !== b.owner) return a.owner < b.owner ? -1 : 1;
  return a.start - b.start;
}

// The first lock of another owner that a lock of this type on this range would conflict with.
export function findConflict(
  locks: readonly FileLock[],
  want: LockRequest & { type: LockType },
): FileLock | undefined {
  return locks.find(
    (held) =>
      held.kind === want.kind &&
      !isSameOwner(held, want) &&
      overlaps(held, want) &&
      (want.type === 'write' || held.type === 'write'),
  );
}

// Joins an owner's touching ranges of the same type (its ranges no longer overlap here).
function mergeAdjacent(own: FileLock[]): FileLock[] {
  const sorted = [...own].sort((a, b) => a.start - b.start);
  const out: FileLock[] = [];
  for (const lock of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined) assert(last.end < lock.start, 'an owner holds overlapping ranges');
    if (last !== undefined && last.type === lock.type && last.end + 1 === lock.start) {
      out[out.length - 1] = { ...last, end: lock.end };
    } else {
      out.push(lock);
    }
  }
  return out;
}

// The inode's lock table after the request, or the lock that refuses it. Pure (the property
// test drives it against a byte-per-offset model).
export function applyLock(
  locks: readonly FileLock[],
  request: LockRequest,
): { locks: FileLock[] } | { conflict: FileLock } {
  assert(request.start <= request.end, 'a lock range is start <= end');
  if (request.type !== 'unlock') {
    const conflict = findConflict(locks, { ...request, type: request.type });
    if (conflict) return { conflict };
  }
  const others = locks.filter((l) => !isSameOwner(l, request));
  const own: FileLock[] = [];
  for (const lock of locks) {
    if (!isSameOwner(lock, request)) continue;
    if (!overlaps(lock, request)) {
      own.push(lock);
      continue;
    }
    if (lock.start < request.start) own.push({ ...lock, end: request.start - 1 });
    if (lock.end > request.end) own.push({ ...lock, start: request.end + 1 });
  }
  if (request.type !== 'unlock') {
    const { mountId, owner, kind, type, start, end, pid } = request;
    own.push({ mountId, owner, kind, type, start, end, pid });
  }
  return { locks: [...others, ...mergeAdjacent(own)].sort(compareLocks) };
}

export function readLocks(store: Store, ino: number): FileLock[] {
  if (!Number.isSafeInteger(ino) || ino < 1) return [];
  return (store.db.get(K.lockKey(ino)) as FileLock[] | undefined) ?? [];
}

// Stores an inode's table and keeps the mount → inode index of `mountIds` in step with it.
function writeLocks(store: Store, ino: number, locks: FileLock[], mountIds: string[]): void {
  if (locks.length === 0) store.db.removeSync(K.lockKey(ino));
  else store.db.putSync(K.lockKey(ino), locks);
  for (const mountId of mountIds) {
    if (locks.some((l) => l.mountId === mountId)) store.db.putSync(K.mountLockKey(mountId, ino), 1);
    else store.db.removeSync(K.mountLockKey(mountId, ino));
  }
}

// An inode is being freed: its locks go with it.
export function dropInodeLocks(store: Store, ino: number): void {
  const locks = readLocks(store, ino);
  if (locks.length === 0) return;
  writeLocks(store, ino, [], [...new Set(locks.map((l) => l.mountId))]);
}

// A session ends: every lock it held, on every inode, is released.
export function dropMountLocks(store: Store, mountId: string): void {
  const inos = [...store.db.getKeys(K.mountLockRange(mountId))].map((key) =>
    K.inoFromMountIndexKey(key as Buffer),
  );
  for (const ino of inos) {
    const kept = readLocks(store, ino).filter((l) => l.mountId !== mountId);
    writeLocks(store, ino, kept, [mountId]);
  }
}

export function checkMountId(mountId: string): void {
  if (
    typeof mountId !== 'string' ||
    mountId.length === 0 ||
    mountId.includes('\0') ||
    Buffer.byteLength(mountId, 'utf8') > MOUNT_ID_BYTES_MAX
  )
    fail('EINVAL', `a mount id is 1 to ${MOUNT_ID_BYTES_MAX} bytes without NUL`);
}

export const isExpired = (session: MountSession, nowMs: number) =>
  session.lastSeenMs + session.ttlMs < nowMs;

export function mountSession(store: Store, mountId: string): MountSession | undefined {
  return store.db.get(K.mountKey(mountId)) as MountSession | undefined;
}

// The mount's session, renewed; ESTALE when it is gone or has expired (its locks are, or are
// about to be, released by expireMounts).
export function renewSession(store: Store, mountId: string, nowMs: number): MountSession {
  checkMountId(mountId);
  const session = mountSession(store, mountId);
  if (!session) return fail('ESTALE', `mount session ${mountId} does not exist`);
  if (isExpired(session, nowMs)) fail('ESTALE', `mount session ${mountId} expired`);
  const renewed = { ...session, lastSeenMs: Math.max(session.lastSeenMs, nowMs) };
  store.db.putSync(K.mountKey(mountId), renewed);
  return renewed;
}

function checkLockRequest(c: SetLock): LockRequest {
  if (c.kind !== 'posix' && c.kind !== 'flock') fail('EINVAL', `bad lock kind ${c.kind}`);
  if (c.type !== 'read' && c.type !== 'write' && c.type !== 'unlock')
    fail('EINVAL', `bad lock type ${c.type}`);
  if (
    typeof c.owner !== 'string' ||
    c.owner.length === 0 ||
    Buffer.byteLength(c.owner) > OWNER_BYTES_MAX
  )
    fail('EINVAL', `a lock owner is 1 to ${OWNER_BYTES_MAX} bytes`);
  if (!Number.isSafeInteger(c.pid)) fail('EINVAL', `bad pid ${c.pid}`);
  // flock has no ranges: it is the whole file whatever the caller said.
  const [start, end] = c.kind === 'flock' ? [0, LOCK_END_MAX] : [c.start, c.end];
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start)
    fail('EINVAL', `bad lock range ${start}..${end}`);
  const { mountId, owner, kind, type, pid } = c;
  return { mountId, owner, kind, type, start, end, pid };
}

export function setLock(store: Store, c: SetLock) {
  const request = checkLockRequest(c);
  renewSession(store, c.mountId, c.nowMs);
  store.mustInode(c.ino);
  const outcome = applyLock(readLocks(store, c.ino), request);
  if ('conflict' in outcome) {
    const held = outcome.conflict;
    return fail(
      'EAGAIN',
      `${held.type} lock ${held.start}..${held.end} held by mount ${held.mountId} ` +
        `owner ${held.owner} pid ${held.pid}`,
    );
  }
  if (outcome.locks.length > LOCKS_PER_INODE_MAX)
    fail('ENOLCK', `more than ${LOCKS_PER_INODE_MAX} locks on inode ${c.ino}`);
  writeLocks(store, c.ino, outcome.locks, [c.mountId]);
  return { ok: true as const };
}

// F_GETLK for the reader: flock requests cover the whole file.
export function getLock(
  store: Store,
  ino: number,
  request: Omit<LockRequest, 'pid' | 'type'> & { type: LockType },
): FileLock | undefined {
  const whole = request.kind === 'flock';
  const want = {
    ...request,
    start: whole ? 0 : request.start,
    end: whole ? LOCK_END_MAX : request.end,
    pid: 0,
  };
  return findConflict(readLocks(store, ino), want);
}
