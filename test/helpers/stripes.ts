// What the cluster records about stripes, and what the data servers' disks hold: for tests that
// check repair against the files themselves.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { MetadataClient } from '../../src/client/metadata-client.ts';
import type { Stripe } from '../../src/metadata/types.ts';

// Whether the data server with this data directory holds shard `index` of the stripe on `disk`
// ("<stripeId>.<index>" under the disk's shards directory).
export function hasShardFile(
  dataDir: string,
  disk: number,
  stripeId: string,
  index: number,
): boolean {
  const root = join(dataDir, 'disks', `d${disk}`, 'shards');
  if (!existsSync(root)) return false;
  const name = `${stripeId}.${index}`;
  return readdirSync(root, { recursive: true, withFileTypes: true }).some(
    (e) => e.isFile() && basename(e.name) === name,
  );
}

// Every stripe the metadata records, with its current (relocated) shard locations.
export async function allStripes(metadata: MetadataClient): Promise<Stripe[]> {
  const stripes = new Map<string, Stripe>();
  let cursor: string | undefined;
  do {
    const page = await metadata.read('scanStripes', cursor, 100);
    for (const { stripe } of page.stripes) stripes.set(stripe.id, stripe);
    cursor = page.next;
  } while (cursor !== undefined);
  return [...stripes.values()];
}
