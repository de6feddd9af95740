// Extent bookkeeping inside a write transaction: replacing byte ranges of a file and keeping the
// reference count of every stripe, so a stripe's shards are queued for deletion exactly when no
// extent points into it any more.
import assert from 'node:assert';
import { fail, type Store } from './store.ts';
import type { Extent, Stripe } from './types.ts';

export function addRef(store: Store, stripe: Stripe, delta: number): void {
  // A new reference to a stripe the scrubber already took: its shards are (being) deleted.
  if (delta > 0 && store.refCount(stripe.id) === 0 && store.isOrphan(stripe.id)) {
    fail(
      'EIO',
      `stripe ${stripe.id} was written too long ago and collected as an orphan; write again`,
    );
  }
  // Nor to one queued for collection: the collector may be deleting its shards right now.
  if (delta > 0 && store.refCount(stripe.id) === 0 && store.isQueuedForCollection(stripe.id)) {
    fail('EIO', `stripe ${stripe.id} is being collected; write again`);
  }
  const count = store.refCount(stripe.id) + delta;
  assert(count >= 0, `stripe ${stripe.id} reference count below zero`);
  store.setRefCount(stripe, count);
}

// Removes [start, end) from the file's extents: extents inside go, extents across an edge are
// trimmed, an extent across both edges becomes two (both keep the same stripe).
export function punch(store: Store, ino: number, start: number, end: number): void {
  if (end <= start) return;
  for (const extent of store.extents(ino, start, end - start)) {
    const extentEnd = extent.fileOffset + extent.length;
    const keepLeft = extent.fileOffset < start;
    const keepRight = extentEnd > end;
    if (keepLeft) {
      store.putExtent(ino, { ...extent, length: start - extent.fileOffset });
    } else {
      store.removeExtent(ino, extent.fileOffset);
    }
    if (keepRight) {
      store.putExtent(ino, {
        fileOffset: end,
        length: extentEnd - end,
        stripe: extent.stripe,
        stripeOffset: extent.stripeOffset + (end - extent.fileOffset),
      });
    }
    addRef(store, extent.stripe, (keepLeft ? 1 : 0) + (keepRight ? 1 : 0) - 1);
  }
}

// Writes extents over whatever covered their ranges. `refsHeld`: the caller's extents already
// hold a reference each (multipart parts moving into their object).
export function writeExtents(
  store: Store,
  ino: number,
  extents: Extent[],
  refsHeld = false,
): number {
  let end = 0;
  for (const extent of extents) {
    assert(extent.length > 0 && extent.fileOffset >= 0, 'extent has a positive length');
    assert(
      extent.stripeOffset + extent.length <= extent.stripe.dataLengthBytes,
      'extent inside its stripe',
    );
    punch(store, ino, extent.fileOffset, extent.fileOffset + extent.length);
    store.putExtent(ino, extent);
    if (!refsHeld) addRef(store, extent.stripe, 1);
    end = Math.max(end, extent.fileOffset + extent.length);
  }
  return end;
}

export function releaseAll(store: Store, ino: number): void {
  for (const extent of store.allExtents(ino)) {
    store.removeExtent(ino, extent.fileOffset);
    addRef(store, extent.stripe, -1);
  }
}

export function releaseExtents(store: Store, extents: Extent[]): void {
  for (const extent of extents) addRef(store, extent.stripe, -1);
}
