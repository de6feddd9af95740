// Commands about data rather than names: POSIX writes, metadata members, and the
// bookkeeping of stripe collection (gcDone) and orphan shards (markOrphans).
import {
  checkExtents,
  checkInlineRule,
  inlineLimit,
  punch,
  STRIPE_ID,
  writeExtents,
} from './extent-ops.ts';
import * as K from './keys.ts';
import { afterWrite, checkPosixWrite } from './object-encryption.ts';
import { dataReadable } from './storage-class.ts';
import { fail, type Store } from './store.ts';
import type { Command, InlineExtent, Inode } from './types.ts';
import { beginChange } from './versions.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

const STRIPE_IDS_PER_COMMAND_MAX = 10_000;

// An archived file's bytes are not changed in place: a write would mix stripes of another policy
// into it, a partial write would read around the restore, and once restored its reads come from
// the restored copy, which a write would leave behind (copy the object to another class
// instead). Only a restore recorded before restores made copies still lets writes through.
export function refuseArchived(inode: Inode, nowMs: number): void {
  if (!dataReadable(inode.object, nowMs) || inode.object?.restore?.copyIno !== undefined)
    fail('INVALID_OBJECT_STATE', `inode ${inode.ino} is archived (${inode.object?.storageClass})`);
}

// Whether the file's inline extents are exactly `expected` (offsets, lengths and bytes).
function sameInline(store: Store, ino: number, expected: unknown): boolean {
  if (!Array.isArray(expected)) return fail('EINVAL', 'ifInline is a list of inline extents');
  const list: unknown[] = expected;
  const current = store.allExtents(ino).filter((e) => e.inline !== undefined);
  return (
    current.length === list.length &&
    current.every((e, i) => {
      const x = list[i] as Partial<InlineExtent> | undefined;
      return (
        x !== undefined &&
        x.fileOffset === e.fileOffset &&
        x.length === e.length &&
        x.inline instanceof Uint8Array &&
        Buffer.from(x.inline).equals(Buffer.from(e.inline as Uint8Array))
      );
    })
  );
}

export function write(store: Store, c: Op<'write'>) {
  const inode = store.mustInode(c.ino);
  if (inode.type !== 'file') fail(inode.type === 'dir' ? 'EISDIR' : 'EINVAL', 'writes go to files');
  refuseArchived(inode, c.nowMs);
  checkExtents(c.extents, undefined, inlineLimit(store));
  checkPosixWrite(inode, c.extents);
  if (
    (c.ifCtimeMs !== undefined && c.ifCtimeMs !== inode.ctimeMs) ||
    (c.ifInline !== undefined && !sameInline(store, c.ino, c.ifInline))
  )
    fail('PRECONDITION_FAILED', `file ${c.ino} changed since its inline bytes were read`);
  beginChange(store, inode, c.nowMs, c.saveToken);
  const end = writeExtents(store, c.ino, c.extents);
  const next: Inode = { ...inode, size: Math.max(inode.size, end), mtimeMs: c.nowMs };
  next.ctimeMs = c.nowMs;
  checkInlineRule(store, next);
  // The S3 view's ETag described the old bytes; '' tells the gateway it has none.
  if (inode.object) next.object = { ...inode.object, etag: '', partSizes: undefined };
  next.object = afterWrite(next.object, c.extents);
  store.putInode(next);
  return { ok: true as const, inode: next };
}

// fallocate(PUNCH_HOLE): the range reads as zeros afterwards and its stripes lose a reference;
// the size does not change.
export function punchHole(store: Store, c: Op<'punch'>) {
  const inode = store.mustInode(c.ino);
  if (inode.type !== 'file') fail(inode.type === 'dir' ? 'EISDIR' : 'EINVAL', 'holes are in files');
  refuseArchived(inode, c.nowMs);
  if (!Number.isSafeInteger(c.offset) || !Number.isSafeInteger(c.length) || c.offset < 0)
    fail('EINVAL', 'bad hole range');
  beginChange(store, inode, c.nowMs, c.saveToken);
  punch(store, c.ino, c.offset, Math.min(inode.size, c.offset + c.length));
  const next: Inode = { ...inode, mtimeMs: c.nowMs, ctimeMs: c.nowMs };
  if (inode.object) next.object = { ...inode.object, etag: '', partSizes: undefined };
  store.putInode(next);
  return { ok: true as const, inode: next };
}

export function setMember(store: Store, c: Op<'setMember'>) {
  if (!Number.isSafeInteger(c.nodeId) || c.nodeId <= 0) fail('EINVAL', 'a member id is > 0');
  if (c.addr === null) store.db.removeSync(K.memberKey(c.nodeId));
  else if (typeof c.addr === 'string' && /^[^\s]+:\d+$/.test(c.addr))
    store.db.putSync(K.memberKey(c.nodeId), c.addr);
  else fail('EINVAL', `bad member address ${String(c.addr)}`);
  return { ok: true as const };
}

function checkStripeIds(ids: string[]): void {
  if (!Array.isArray(ids) || ids.length > STRIPE_IDS_PER_COMMAND_MAX)
    fail('EINVAL', `at most ${STRIPE_IDS_PER_COMMAND_MAX} stripe ids per command`);
  for (const id of ids)
    if (typeof id !== 'string' || !STRIPE_ID.test(id)) fail('EINVAL', `bad stripe id ${id}`);
}

export function gcDone(store: Store, c: Op<'gcDone'>) {
  checkStripeIds(c.stripeIds);
  for (const id of c.stripeIds) store.db.removeSync(K.gcKey(id));
  return { ok: true as const };
}

// Marks stripes that nothing references and nothing collects, so none can be referenced again.
export function markOrphans(store: Store, c: Op<'markOrphans'>) {
  checkStripeIds(c.stripeIds);
  const marked: string[] = [];
  for (const id of c.stripeIds) {
    if (store.refCount(id) > 0 || store.isQueuedForCollection(id)) continue;
    store.db.putSync(K.orphanKey(id), c.nowMs);
    marked.push(id);
  }
  return { ok: true as const, marked };
}
