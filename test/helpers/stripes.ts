// What the cluster records about stripes, and what the data servers' disks hold: for tests that
// check repair against the files themselves.
import { existsSync, readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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

// How long a shard found missing is looked for again: a move (its new place committed, then the
// old file deleted) or the repair of a shard a degraded write left absent ends well within it.
const RELOOKS = 20;
const RELOOK_INTERVAL_MS = 500;

// The recorded shards of the stripes `select` keeps that are not files where the metadata says,
// as "<stripeId>.<index>@<serverId>/<disk>" (" absent" added for one its stripe records absent).
// A move between reading the listing and looking for a file would make a shard look missing, so
// one found missing is looked for again in a fresh listing: missing twice at the same recorded
// place is a lost shard, returned at once; one that moved is looked for where it went. A shard
// its stripe records absent (a degraded write's) is no loss: it is waited for, as a move is.
// [] when every recorded shard is on its disk.
export async function shardsNotOnDisk(
  metadata: MetadataClient,
  dataDirOf: ReadonlyMap<string, string>,
  select: (stripe: Stripe) => boolean = () => true,
): Promise<string[]> {
  const missingNow = async () =>
    (await allStripes(metadata)).filter(select).flatMap((stripe) =>
      stripe.shards.flatMap((at, index) => {
        const dir = dataDirOf.get(at.serverId);
        if (dir !== undefined && hasShardFile(dir, at.disk, stripe.id, index)) return [];
        const absent = stripe.absentShards?.includes(index) ? ' absent' : '';
        return [`${stripe.id}.${index}@${at.serverId}/${at.disk}${absent}`];
      }),
    );
  let missing = await missingNow();
  for (let look = 0; look < RELOOKS && missing.length > 0; look++) {
    await sleep(RELOOK_INTERVAL_MS);
    const again = await missingNow();
    const lost = again.filter((shard) => !shard.endsWith(' absent') && missing.includes(shard));
    if (lost.length > 0) return lost;
    missing = again;
  }
  return missing;
}

// Every line of the processes' output that names one of these shards' stripes: what a failed
// shardsNotOnDisk check prints, so that a failure in CI says what happened to them.
export function logLinesNaming(
  processes: ReadonlyArray<{ output(): string }>,
  shards: readonly string[],
): string {
  return processes
    .flatMap((p) =>
      p
        .output()
        .split('\n')
        .filter((line) => shards.some((shard) => line.includes(shard.slice(0, 32)))),
    )
    .join('\n');
}
