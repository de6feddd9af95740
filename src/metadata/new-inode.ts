// A new inode's attributes, from what its creator gives: pure, so that a mount answering a create
// before it is applied (write-behind, src/metadata/ops-delegation.ts) makes exactly the inode the
// state machine will.
import type { Caller, Inode, InodeType } from './types.ts';

export function inodeFields(
  ino: number,
  type: InodeType,
  mode: number,
  caller: Caller,
  nowMs: number,
  parentDir?: Inode,
): Inode {
  // Directories under a setgid directory inherit its group and the setgid bit.
  const inheritGroup = parentDir !== undefined && (parentDir.mode & 0o2000) !== 0;
  const setgid = inheritGroup && type === 'dir' ? 0o2000 : 0;
  return {
    ino,
    type,
    mode: (mode & 0o7777) | setgid,
    uid: caller.uid,
    gid: inheritGroup ? (parentDir as Inode).gid : caller.gid,
    size: 0,
    nlink: type === 'dir' ? 2 : 1,
    atimeMs: nowMs,
    mtimeMs: nowMs,
    ctimeMs: nowMs,
    birthtimeMs: nowMs,
    xattrs: {},
  };
}
