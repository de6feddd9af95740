// Buckets with their object counts and bytes, as the console shows them. The metadata keeps no
// per-bucket totals, so they are counted by listing, page by page, with a limit: a bucket with
// more objects shows the count and bytes so far, marked as a lower bound.
import type { StrataClient } from '../client/strata-client.ts';

export const BUCKETS_MAX = 200; // buckets counted per refresh; more are listed as not counted
export const OBJECTS_COUNTED_MAX = 10_000; // per bucket: 10 pages of 1000
const PAGE_KEYS = 1_000;

export interface BucketUsage {
  name: string;
  createdAtMs: number;
  objects: number;
  bytes: number;
  complete: boolean; // false: more objects than counted (objects and bytes are lower bounds)
}

export async function bucketUsage(client: StrataClient): Promise<BucketUsage[]> {
  const buckets = (await client.listBuckets()).sort((a, b) => a.name.localeCompare(b.name));
  const out: BucketUsage[] = [];
  for (const [i, bucket] of buckets.entries()) {
    const usage = { name: bucket.name, createdAtMs: bucket.createdAtMs, objects: 0, bytes: 0 };
    if (i >= BUCKETS_MAX) {
      out.push({ ...usage, complete: false });
      continue;
    }
    let startAfter: string | undefined;
    let complete = false;
    while (usage.objects < OBJECTS_COUNTED_MAX) {
      const page = await client.listObjects({
        bucket: bucket.name,
        prefix: '',
        maxKeys: PAGE_KEYS,
        ...(startAfter === undefined ? {} : { startAfter }),
      });
      for (const o of page.objects) {
        usage.objects += 1;
        usage.bytes += o.size;
      }
      startAfter = page.nextStartAfter;
      if (!page.isTruncated || startAfter === undefined) {
        complete = true;
        break;
      }
    }
    out.push({ ...usage, complete });
  }
  return out;
}
