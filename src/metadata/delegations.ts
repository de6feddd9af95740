// The delegation table ('D' + directory ino → the mount session holding it) and each mount's
// reserved inode numbers ('G' + mount id): read and dropped here, granted and used by
// ops-delegation.ts. Store.checkDelegation is the rule every entry change passes.
import * as K from './keys.ts';
import { locationIn } from './links.ts';
import { CommandError, type Delegation, type Store } from './store.ts';
import type { BucketInfo, ReservedInodes } from './types.ts';

export function delegations(store: Store): Array<{ dir: number; held: Delegation }> {
  const out: Array<{ dir: number; held: Delegation }> = [];
  for (const { key, value } of store.db.getRange({
    start: K.delegationPrefix(),
    end: K.delegationPrefixEnd(),
  }))
    out.push({ dir: K.dirFromDelegationKey(key as Buffer), held: value as Delegation });
  return out;
}

export function mountInodes(store: Store, mountId: string): ReservedInodes {
  return (store.db.get(K.mountInodesKey(mountId)) as ReservedInodes | undefined) ?? { ranges: [] };
}

// The session ended: its directories are free again and its unused inode numbers are dropped
// (never handed out again: numbers are not reused).
export function dropMountDelegations(store: Store, mountId: string): void {
  for (const { dir, held } of delegations(store))
    if (held.mountId === mountId) store.db.removeSync(K.delegationKey(dir));
  store.db.removeSync(K.mountInodesKey(mountId));
}

// EDELEGATED while a directory of the bucket is delegated: turning versioning on changes what a
// create or unlink there does, which the holding mount answered without it.
export function refuseWhileDelegatedIn(store: Store, bucketIno: number): void {
  for (const { dir } of delegations(store)) {
    if (bucketOfDir(store, dir)?.ino === bucketIno)
      throw new CommandError('EDELEGATED', `directory ${dir} of the bucket is delegated`, dir);
  }
}

// The bucket a directory is in; undefined for one no longer linked.
export function bucketOfDir(store: Store, dir: number): BucketInfo | undefined {
  // locationIn walks up from an entry's directory; any name will do.
  return locationIn(store, dir, 'x')?.bucket;
}
