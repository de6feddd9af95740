// Reads that must not be answered while a mount holds a directory they look into: the mount has
// answered changes there that it has not sent yet (ops-delegation.ts), so another client that
// reads the directory now could miss a file that was created and closed before it looked. The
// service refuses such a read (EDELEGATED), asks the mount to give the directory back, and the
// client reads again once it has: what close-to-open asks of two mounts.
import { bucketOfDir, delegations } from './delegations.ts';
import type { Store } from './store.ts';
import { ROOT_INO } from './types.ts';

// The delegated directory a read looks into, if any (the first found). `mountId`: the mount the
// read comes from, which reads its own directories (after its batches: it orders its calls).
export function delegatedDirOfRead(
  store: Store,
  fn: string,
  args: unknown[],
  mountId?: string,
): number | undefined {
  const held = delegations(store).filter((d) => d.held.mountId !== mountId);
  if (held.length === 0) return undefined; // the common case: one empty range read
  const isHeld = (dir: unknown) => held.some((d) => d.dir === dir);
  const first = (dirs: unknown[]) => dirs.find(isHeld) as number | undefined;
  switch (fn) {
    case 'lookup':
    case 'readdir':
    case 'getattr':
      // getattr: a delegated directory's own times and link count move with its mount's changes.
      return first([args[0]]);
    case 'getattrMany':
      return Array.isArray(args[0]) ? first(args[0]) : undefined;
    case 'resolvePath':
      return typeof args[0] === 'string' ? first(dirsOfPath(store, args[0])) : undefined;
    case 'objectVersion':
    case 'objectRead':
    case 'lifecycleFacts':
      return typeof args[0] === 'string' && typeof args[1] === 'string'
        ? first(dirsOfPath(store, `/${args[0]}/${args[1]}`))
        : undefined;
    case 'listObjects':
    case 'listObjectVersions': {
      const name = (args[0] as { bucket?: unknown } | null)?.bucket;
      const bucket = typeof name === 'string' ? store.bucket(name) : undefined;
      if (bucket === undefined) return undefined;
      return held.find((d) => bucketOfDir(store, d.dir)?.ino === bucket.ino)?.dir;
    }
    default:
      return undefined;
  }
}

// The directories a path's lookups read: the root's child (the bucket) and every directory below
// it that the path names before its last component.
function dirsOfPath(store: Store, path: string): number[] {
  const names = path.split('/').filter((s) => s.length > 0);
  const dirs: number[] = [];
  let at = ROOT_INO;
  for (const name of names.slice(0, -1)) {
    const entry = store.dirent(at, name);
    if (entry === undefined || entry.type !== 'dir') break;
    at = entry.ino;
    dirs.push(at);
  }
  return dirs;
}
