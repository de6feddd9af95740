// Buckets with their object counts and bytes, as the console shows them: read from the usage
// the metadata keeps for every directory (src/metadata/dir-usage.ts), so a bucket of millions of
// objects costs one read, not a listing.
import type { StrataClient } from '../client/strata-client.ts';

export const BUCKETS_MAX = 1_000; // buckets shown per refresh (one read of their usage)

export interface BucketUsage {
  name: string;
  createdAtMs: number;
  objects: number;
  bytes: number;
}

export interface BucketUsageList {
  buckets: BucketUsage[];
  bucketsNotShown: number; // more buckets than BUCKETS_MAX
}

export async function bucketUsage(client: StrataClient): Promise<BucketUsageList> {
  const all = (await client.listBuckets()).sort((a, b) => a.name.localeCompare(b.name));
  const shown = all.slice(0, BUCKETS_MAX);
  const usage = await client.directoryUsage(shown.map((b) => b.ino));
  return {
    buckets: shown.map((bucket, i) => ({
      name: bucket.name,
      createdAtMs: bucket.createdAtMs,
      objects: usage[i].files,
      bytes: usage[i].bytes,
    })),
    bucketsNotShown: all.length - shown.length,
  };
}
