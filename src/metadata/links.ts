// The link index: every directory entry seen from its child ('P' + child + parent + name), kept by
// Store.putDirent and removeDirent in the entry's own transaction. It lets a command that names a
// file by inode number (a POSIX write, truncate or punch) find the bucket and key the file is,
// which versioning needs (versions.ts). A state from before the index gets it rebuilt once at
// opening; like the shard counts it is a function of the entries alone, so every replica holds
// the same index at the same applied index however it got there.
import assert from 'node:assert/strict';
import * as K from './keys.ts';
import type { Dirent, Store } from './store.ts';
import { type BucketInfo, ROOT_INO } from './types.ts';

// Deeper than any path a 1,024-byte key can name (each segment takes at least two bytes).
const PATH_DEPTH_MAX = 1024;

export function ensureLinks(store: Store): boolean {
  if (store.db.get(K.linksReadyKey()) !== undefined) return false;
  store.db.transactionSync(() => {
    const entries = { start: Buffer.of(K.TAG.dirent), end: Buffer.of(K.TAG.dirent + 1) };
    for (const { key, value } of store.db.getRange(entries)) {
      const parent = K.readU64(key as Buffer, 1);
      const sortName = K.sortNameFromKey(key as Buffer);
      const entry = value as Dirent;
      const name = entry.type === 'dir' ? sortName.slice(0, -1) : sortName;
      store.db.putSync(K.linkKey(entry.ino, parent, name), true);
    }
    store.db.putSync(K.linksReadyKey(), true);
  });
  return true;
}

// For a fresh state (only the root, which no entry names): the index starts maintained.
export function markLinksReady(store: Store): void {
  store.db.putSync(K.linksReadyKey(), true);
}

export function linksOf(
  store: Store,
  ino: number,
  limit = 2,
): Array<{ parent: number; name: string }> {
  const memo = limit === 1 ? store.linkMemo : undefined;
  if (memo?.has(ino)) {
    const link = memo.get(ino);
    return link === undefined ? [] : [link];
  }
  const out: Array<{ parent: number; name: string }> = [];
  for (const key of store.db.getKeys({ ...K.linkRange(ino), limit }))
    out.push(K.linkFromKey(key as Buffer));
  memo?.set(ino, out[0]);
  return out;
}

export interface ObjectLocation {
  bucket: BucketInfo;
  key: string;
}

// The bucket and path below it of the entry `name` in directory `parent`; undefined at the top
// level (buckets themselves) or for a directory no longer linked (an unlinked tree).
export function locationIn(store: Store, parent: number, name: string): ObjectLocation | undefined {
  const names = [name];
  let at = parent;
  for (let depth = 0; depth < PATH_DEPTH_MAX; depth++) {
    if (at === ROOT_INO) return undefined;
    const [link] = linksOf(store, at, 1);
    if (link === undefined) return undefined;
    if (link.parent === ROOT_INO) {
      const bucket = store.bucket(link.name);
      assert(
        bucket !== undefined && bucket.ino === at,
        `directory ${at} under the root is a bucket`,
      );
      return { bucket, key: names.join('/') };
    }
    names.unshift(link.name);
    at = link.parent;
  }
  assert.fail(`directory ${parent} is deeper than ${PATH_DEPTH_MAX} levels`);
}

// Where a file is, when it has exactly one name (a hard-linked file has no single key).
export function locationOf(store: Store, ino: number): ObjectLocation | undefined {
  const links = linksOf(store, ino, 2);
  if (links.length !== 1) return undefined;
  return locationIn(store, links[0].parent, links[0].name);
}

export interface InodeName {
  bucket: string;
  // The path of the name below its bucket ("a/b/c"; "" for the bucket's own directory), without
  // the "/" a directory's key ends in (the caller knows the inode's type).
  path: string;
}

// Where each name of `ino` is (its first `linkLimit` links): a directory has one name, a file one
// per hard link; a name in a directory no longer linked (an unlinked tree) is in no bucket and
// left out. The walk up to the bucket is bounded: `complete` is false when there were more links
// than `linkLimit` or a name is deeper than `depthMax` directories, so a caller that must know
// every name refuses rather than guesses (a mount can nest directories past any key's length).
export function namesOfInode(
  store: Store,
  ino: number,
  linkLimit: number,
  depthMax: number,
): { names: InodeName[]; complete: boolean } {
  assert(Number.isSafeInteger(linkLimit) && linkLimit > 0, 'a positive link limit');
  assert(Number.isSafeInteger(depthMax) && depthMax > 0, 'a positive depth limit');
  if (!Number.isSafeInteger(ino) || ino === ROOT_INO) return { names: [], complete: true };
  const links = linksOf(store, ino, linkLimit + 1);
  const names: InodeName[] = [];
  for (const link of links.slice(0, linkLimit)) {
    const segments = [link.name];
    let at = link.parent;
    let depth = 0;
    while (at !== ROOT_INO) {
      if (depth++ >= depthMax) return { names, complete: false };
      const [up] = linksOf(store, at, 1);
      if (up === undefined) break; // an unlinked tree: in no bucket
      segments.unshift(up.name);
      at = up.parent;
    }
    if (at === ROOT_INO) names.push({ bucket: segments[0], path: segments.slice(1).join('/') });
  }
  return { names, complete: links.length <= linkLimit };
}
