// A bounded walk over every stripe the namespace references, for the repair driver: file extents
// in key order, then upload parts, a page at a time with an opaque cursor, so finding degraded
// stripes in millions never holds one read transaction (or the event loop) for long. A stripe
// referenced by several extents appears once per extent; the repair's task ids make that harmless.
import { StrataError } from '../common/errors.ts';
import * as K from './keys.ts';
import type { Store, StoredExtent } from './store.ts';
import type { PartInfo, StripeScanPage, StripeSite } from './types.ts';

export const STRIPE_SCAN_LIMIT_MAX = 10_000;

const TABLES = [
  { name: 'x', start: Buffer.of(K.TAG.extent), end: Buffer.of(K.TAG.extent + 1) },
  { name: 'p', start: Buffer.of(K.TAG.part), end: Buffer.of(K.TAG.part + 1) },
] as const;

// cursor: absent to start; `next` of the previous page to go on. No `next`: the walk is complete.
export function scanStripes(
  store: Store,
  cursor: string | undefined,
  limit: number,
): StripeScanPage {
  const max = Math.min(Math.max(1, Math.floor(limit) || 1), STRIPE_SCAN_LIMIT_MAX);
  let { table, after } = parseCursor(cursor);
  const stripes: StripeScanPage['stripes'] = [];
  let entries = 0;
  for (; table < TABLES.length; table++, after = undefined) {
    const { name, start, end } = TABLES[table];
    // The first key after `after`: any key extending it sorts after it, and nothing in between.
    const from = after === undefined ? start : Buffer.concat([after, Buffer.of(0)]);
    for (const { key, value } of store.db.getRange({ start: from, end, limit: max - entries })) {
      const k = key as Buffer;
      entries++;
      if (name === 'x') {
        const site: StripeSite = {
          ino: Number(k.readBigUInt64BE(1)),
          fileOffset: Number(k.readBigUInt64BE(9)),
        };
        const stored = value as StoredExtent;
        // Inline extents hold their bytes: no stripe to repair.
        if (stored.stripe !== undefined)
          stripes.push({ stripe: store.currentStripe(stored.stripe), at: site });
      } else {
        const part = value as PartInfo;
        const uploadId = k.subarray(1, k.length - 5).toString('utf8');
        for (const stripe of new Map(part.extents.map((e) => [e.stripe.id, e.stripe])).values())
          stripes.push({
            stripe: store.currentStripe(stripe),
            at: { uploadId, partNumber: part.partNumber },
          });
      }
      if (entries === max) return { stripes, next: `${table}:${k.toString('hex')}` };
    }
  }
  return { stripes };
}

function parseCursor(cursor: string | undefined): { table: number; after: Buffer | undefined } {
  if (cursor === undefined || cursor === null) return { table: 0, after: undefined };
  const match = typeof cursor === 'string' ? /^([01]):([0-9a-f]+)$/.exec(cursor) : null;
  if (!match) throw new StrataError('EINVAL', `bad stripe scan cursor ${String(cursor)}`);
  return { table: Number(match[1]), after: Buffer.from(match[2], 'hex') };
}
