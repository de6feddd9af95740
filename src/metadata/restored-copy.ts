// The restored copy of an archived version (RestoreState.copyIno) lives exactly as long as the
// version's restore: an inode with no name whose extents reference STANDARD stripes, and whose
// restoredCopyOf names the one file that owns it. Every command that ends a restore, or the file
// holding it, releases the copy here, in the same command, so its stripes are queued for
// collection only once that command has committed.
import assert from 'node:assert/strict';
import { addRef, releaseAll, releaseExtents, removeAllExtents } from './extent-ops.ts';
import type { Store } from './store.ts';
import type { Inode } from './types.ts';

// Releases the copy `owner`'s restore holds, if `owner` still owns it (a noncurrent version made
// from the live file took it over: versions.ts, freezeCopy). The caller drops the record.
export function freeRestoredCopy(store: Store, owner: Inode): void {
  const copyIno = owner.object?.restore?.copyIno;
  if (copyIno === undefined) return;
  const copy = store.inode(copyIno);
  if (copy?.restoredCopyOf !== owner.ino) return;
  assert(copy.type === 'file' && copy.nlink === 0, 'a restored copy is a nameless file');
  releaseAll(store, copyIno);
  store.removeInode(copyIno);
}

// The copy follows its version when the live file's data becomes a noncurrent version.
export function moveRestoredCopy(store: Store, from: Inode, to: Inode): void {
  const copyIno = from.object?.restore?.copyIno;
  if (copyIno === undefined) return;
  assert(to.object?.restore?.copyIno === copyIno, 'the new owner records the same copy');
  const copy = store.inode(copyIno);
  if (copy?.restoredCopyOf !== from.ino) return;
  store.putInode({ ...copy, restoredCopyOf: to.ino });
}

// The copy's stripes become the file's own and the archive's are released (a copy of a restored
// archived object onto itself into a class that is not archived: AWS's way to keep it restored).
// The copy inode goes; the caller drops the restore record and sets the class.
export function adoptRestoredCopy(store: Store, owner: Inode): void {
  const copyIno = owner.object?.restore?.copyIno;
  if (copyIno === undefined || store.inode(copyIno)?.restoredCopyOf !== owner.ino) return;
  const adopted = store.allExtents(copyIno);
  for (const e of adopted) if (e.stripe !== undefined) addRef(store, e.stripe, 1);
  const archive = removeAllExtents(store, owner.ino);
  for (const e of adopted) store.putExtent(owner.ino, e);
  releaseExtents(store, archive);
  freeRestoredCopy(store, owner);
}
