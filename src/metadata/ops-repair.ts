// The repair's commands: one shard of a stripe moves from where the repair found it to where it
// was rebuilt (src/metadata/repair/, the driver in src/cluster/repair-driver.ts), one at a time
// (relocateShard) or several per Raft entry (relocateShards). The extents pointing into the
// stripe keep the locations it was written with; the move is recorded once per stripe
// (Store.currentStripe), so every file, copy and part sharing the stripe sees it.
import assert from 'node:assert';
import { clearAbsentShard } from './absent-shards.ts';
import { STRIPE_ID } from './extent-ops.ts';
import * as K from './keys.ts';
import { moveShardCount } from './shard-counts.ts';
import { CommandError, fail, type Store } from './store.ts';
import { checkRelocationDomain } from './stripe-placement.ts';
import type {
  Command,
  DataServerInfo,
  PartInfo,
  Relocation,
  RelocationOutcome,
  ShardLocation,
  Stripe,
  StripeSite,
} from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

// Moves per relocateShards: one Raft entry and one transaction stay small (a move is ~200 bytes
// and a few key writes), while a repair at hundreds of shards a second pays one commit per batch.
export const RELOCATIONS_PER_COMMAND_MAX = 256;

export function relocateShard(store: Store, c: Op<'relocateShard'>) {
  relocate(store, c);
  return { ok: true as const };
}

// Each move is judged and applied alone, in order: relocate() checks everything before it writes,
// so a refused move (a CommandError) has written nothing and the next one goes on.
export function relocateShards(store: Store, c: Op<'relocateShards'>) {
  const { moves } = c;
  if (!Array.isArray(moves) || moves.length === 0 || moves.length > RELOCATIONS_PER_COMMAND_MAX)
    fail('EINVAL', `relocateShards takes 1 to ${RELOCATIONS_PER_COMMAND_MAX} moves`);
  const relocations: RelocationOutcome[] = moves.map((move) => {
    try {
      relocate(store, move);
      return { ok: true };
    } catch (error) {
      if (!(error instanceof CommandError)) throw error; // a broken invariant: stop the replica
      return { ok: false, code: error.code, message: error.message };
    }
  });
  assert.equal(relocations.length, moves.length, 'one outcome per move');
  return { ok: true as const, relocations };
}

// Refused with PRECONDITION_FAILED, changing nothing, unless the stripe is still referenced, still
// at `at` (the file extent or upload part where the repair found it), and still records `from`
// for the shard: a stale, duplicate or replayed commit (an earlier leader's task, a retry after
// success) is refused the same way on every replica, so a rebuilt shard is committed at most once.
// With the planner's placement epoch, still current, the move must keep the domain rule too
// (PLACEMENT_VIOLATION otherwise: a planner bug). A stripe placed in a pool stays in it, whatever
// the epoch (checkRelocationPool).
function relocate(store: Store, c: Relocation): void {
  if (c === null || typeof c !== 'object') fail('EINVAL', 'a relocation is an object');
  if (typeof c.stripeId !== 'string' || !STRIPE_ID.test(c.stripeId))
    fail('EINVAL', `bad stripe id ${String(c.stripeId)}`);
  checkLocation(c.from, 'from');
  checkLocation(c.to, 'to');
  const stripe = stripeAt(store, c.stripeId, c.at);
  if (!Number.isInteger(c.shardIndex) || c.shardIndex < 0 || c.shardIndex >= stripe.shards.length)
    fail('EINVAL', `stripe ${c.stripeId} has no shard ${c.shardIndex}`);
  if (store.refCount(c.stripeId) === 0)
    fail('PRECONDITION_FAILED', `stripe ${c.stripeId} is no longer referenced`);
  const current = store.currentStripe(stripe);
  if (!sameLocation(current.shards[c.shardIndex], c.from)) {
    fail(
      'PRECONDITION_FAILED',
      `shard ${c.shardIndex} of stripe ${c.stripeId} is at ${show(current.shards[c.shardIndex])}, ` +
        `not ${show(c.from)}`,
    );
  }
  if (sameLocation(c.from, c.to)) {
    // Rebuilt where the record names it (a shard missing on a live disk no other disk could
    // take: scheduler.ts, inPlaceTask): nothing moves, so no pool, domain or count changes; the
    // shard exists now.
    clearAbsentShard(store, c.stripeId, c.shardIndex);
    return;
  }
  if (current.shards.some((s) => sameLocation(s, c.to)))
    fail('PRECONDITION_FAILED', `${show(c.to)} already holds a shard of stripe ${c.stripeId}`);
  const server =
    store.servers().find((s) => s.serverId === c.to.serverId) ??
    fail('EINVAL', `no registered disk ${show(c.to)}`);
  if (!server.disks.some((d) => d.disk === c.to.disk))
    fail('EINVAL', `no registered disk ${show(c.to)}`);
  checkRelocationPool(current, server);
  const shards = current.shards.map((s, i) => (i === c.shardIndex ? { ...c.to } : s));
  assert.equal(shards.length, stripe.k + stripe.m, 'a stripe keeps k+m shards');
  checkRelocationDomain(store, { ...current, shards }, c.to, c.placementEpoch);
  // Nothing below refuses: a refusal above has written nothing.
  store.setStripeShards(c.stripeId, shards);
  moveShardCount(store, c.from, c.to);
  clearAbsentShard(store, c.stripeId, c.shardIndex);
}

// A stripe placed in a pool (an archive class's, on the servers labelled data.pool) keeps every
// shard on that pool's servers: a repair, drain or rebalance that moved one to another server
// would leave a cold stripe on hot disks, outside what its storage class promises, and judged
// against the wrong servers' domain rule ever after. Unlike the domain rule this holds at any
// placement epoch: a server's pool is its label, not its liveness. A stripe with no pool (its
// class's, or placed on every server because no server carried the pool's label) may go anywhere.
function checkRelocationPool(stripe: Stripe, target: DataServerInfo): void {
  if (stripe.pool === undefined) return;
  if (target.domain?.pool === stripe.pool) return;
  const label = target.domain?.pool === undefined ? 'no pool' : `pool ${target.domain.pool}`;
  fail(
    'PLACEMENT_VIOLATION',
    `moving a shard of stripe ${stripe.id} to ${target.serverId} (${label}) takes it out of ` +
      `its pool ${stripe.pool}`,
  );
}

// The stripe as the extent or part at `site` names it; PRECONDITION_FAILED when that site no
// longer points into it (the object was overwritten or deleted since the repair found it).
export function stripeAt(store: Store, stripeId: string, site: StripeSite): Stripe {
  let found: Stripe | undefined;
  if (site !== null && typeof site === 'object' && 'ino' in site) {
    const { ino, fileOffset } = site;
    if (
      !Number.isSafeInteger(ino) ||
      !Number.isSafeInteger(fileOffset) ||
      ino < 1 ||
      fileOffset < 0
    )
      fail('EINVAL', 'bad file extent site');
    const stored = store.db.get(K.extentKey(ino, fileOffset)) as { stripe?: Stripe } | undefined;
    found = stored?.stripe;
  } else if (site !== null && typeof site === 'object' && 'uploadId' in site) {
    if (typeof site.uploadId !== 'string' || !Number.isInteger(site.partNumber))
      fail('EINVAL', 'bad upload part site');
    const part = store.db.get(K.partKey(site.uploadId, site.partNumber)) as PartInfo | undefined;
    found = part?.extents.find((e) => e.stripe.id === stripeId)?.stripe;
  } else {
    fail('EINVAL', 'a relocation names the extent or part where the stripe was found');
  }
  if (found?.id !== stripeId)
    fail('PRECONDITION_FAILED', `stripe ${stripeId} is no longer where the repair found it`);
  return found as Stripe;
}

function checkLocation(location: ShardLocation, name: string): void {
  if (
    typeof location?.serverId !== 'string' ||
    location.serverId === '' ||
    !Number.isInteger(location.disk) ||
    location.disk < 0
  )
    fail('EINVAL', `bad ${name} location`);
}

function sameLocation(a: ShardLocation | undefined, b: ShardLocation): boolean {
  return a !== undefined && a.serverId === b.serverId && a.disk === b.disk;
}

function show(location: ShardLocation | undefined): string {
  return location === undefined ? 'nowhere' : `${location.serverId}/${location.disk}`;
}
