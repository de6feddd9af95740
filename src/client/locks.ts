// Mount sessions and cluster-wide locks for the FUSE mount (commands in src/metadata/ops-locks.ts
// and ops-mounts.ts). A conflicting lock fails with EAGAIN; a session that is gone (expired, or
// closed) fails with ESTALE, after which the mount's locks and unlinked open files are lost.
import { StrataError } from '../common/errors.ts';
import {
  type FileLock,
  type Inode,
  LOCK_END_MAX,
  type LockKind,
  type LockType,
  type MountSession,
} from '../metadata/types.ts';
import type { MetadataClient } from './metadata-client.ts';

export { LOCK_END_MAX };

export interface LockSpec {
  ino: number;
  owner: string; // the lock owner within the mount (FUSE lock_owner, as a decimal string)
  kind: LockKind;
  type: LockType | 'unlock';
  start: number;
  end: number; // inclusive; LOCK_END_MAX: to the end of the file (flock: ignored, whole file)
  pid: number;
}

export type LockQuery = Omit<LockSpec, 'pid' | 'type'> & { type: LockType };

// The proposer stamps time (the metadata leader stamps these again with its own clock).
const now = () => Date.now();

export async function mountOpen(
  metadata: MetadataClient,
  mountId: string,
  ttlMs: number,
  description?: string,
): Promise<void> {
  await metadata.apply({ op: 'mountOpen', nowMs: now(), mountId, ttlMs, description });
}

export async function mountHeartbeat(metadata: MetadataClient, mountId: string): Promise<void> {
  await metadata.apply({ op: 'mountHeartbeat', nowMs: now(), mountId });
}

export async function mountClose(metadata: MetadataClient, mountId: string): Promise<void> {
  await metadata.apply({ op: 'mountClose', nowMs: now(), mountId });
}

export async function setLock(
  metadata: MetadataClient,
  mountId: string,
  lock: LockSpec,
): Promise<void> {
  await metadata.apply({ op: 'setLock', nowMs: now(), mountId, ...lock });
}

// F_GETLK: the lock that would refuse this one, or undefined when it would be granted.
export function getLock(
  metadata: MetadataClient,
  mountId: string,
  query: LockQuery,
): Promise<FileLock | undefined> {
  const { ino, owner, kind, type, start, end } = query;
  return metadata.read('getLock', ino, mountId, owner, kind, type, start, end);
}

export async function releaseOrphan(
  metadata: MetadataClient,
  mountId: string,
  ino: number,
): Promise<void> {
  await metadata.apply({ op: 'releaseOrphan', nowMs: now(), mountId, ino });
}

// unlink by parent inode; keepForMount: an open file's last link leaves it alive for the mount.
export async function unlinkAt(
  metadata: MetadataClient,
  parent: number,
  name: string,
  options: { keepForMount?: string } = {},
): Promise<Inode | undefined> {
  const { keepForMount } = options;
  const result = await metadata.apply({ op: 'unlink', nowMs: now(), parent, name, keepForMount });
  return result.parent;
}

export interface RenameAtOptions {
  noReplace?: boolean;
  exchange?: boolean;
  keepReplacedForMount?: string; // a replaced target file that the mount has open survives
}

export async function renameAt(
  metadata: MetadataClient,
  from: { parent: number; name: string },
  to: { parent: number; name: string },
  options: RenameAtOptions = {},
): Promise<void> {
  await metadata.apply({
    op: 'rename',
    nowMs: now(),
    srcParent: from.parent,
    srcName: from.name,
    dstParent: to.parent,
    dstName: to.name,
    ...options,
  });
}

export async function mountSessions(metadata: MetadataClient): Promise<MountSession[]> {
  return (await metadata.read('mounts')) ?? [];
}

export function isLockConflict(error: unknown): boolean {
  return error instanceof StrataError && error.code === 'EAGAIN';
}
