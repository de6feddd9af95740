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
      const parent = Number((key as Buffer).readBigUInt64BE(1));
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
  return [...store.db.getKeys({ ...K.linkRange(ino), limit })].map((key) =>
    K.linkFromKey(key as Buffer),
  );
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

// The buckets of every name of `ino` (its first `limit` links): a directory has one name, a file
// one per hard link. The root is in no bucket; a bucket's own directory is in that bucket.
export function bucketsOfInode(
  store: Store,
  ino: number,
  limit: number,
): { buckets: string[]; complete: boolean } {
  assert(Number.isSafeInteger(limit) && limit > 0, 'a positive link limit');
  if (!Number.isSafeInteger(ino) || ino === ROOT_INO) return { buckets: [], complete: true };
  const links = linksOf(store, ino, limit + 1);
  const buckets = new Set<string>();
  for (const link of links.slice(0, limit)) {
    if (link.parent === ROOT_INO) buckets.add(link.name);
    else {
      const at = locationIn(store, link.parent, link.name);
      if (at !== undefined) buckets.add(at.bucket.name);
    }
  }
  return { buckets: [...buckets], complete: links.length <= limit };
}
