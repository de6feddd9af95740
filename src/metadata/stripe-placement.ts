// The placement invariant in the state machine: a stripe's locations are checked when a command
// first commits it (its first reference), against the state machine's own server records.
//
// What "live" means at apply time. Placement picks live disks (server up, disk up with room) in
// the writer's view; by the time the stripe commits, a server may have been marked suspect or
// down. That stripe is still good (a degraded write, repaired later), so liveness is not checked
// here: only structure (k+m shards on distinct disks of known servers) and the domain rule.
// The rule's level depends on which disks are live, and the two views can differ:
// - The live view only shrank since placement: a stripe that kept the rule then keeps it now
//   (a domain's shards are at most its wider domain's, and fewer live disks only move the rule
//   to a narrower level or leave it unenforced), so the rule is checked against today's view.
// - The live view grew (a server came back up, a disk reported room): the rule may now be wider
//   than what the writer could have known, and refusing would fail writes at every recovery.
// The placement epoch tells the two apart: a counter in replicated state, bumped by every change
// that may widen the live view. A writer reads it with the server list (reader `placementView`)
// and records it in the stripe; the rule is checked when the stripe's epoch is today's, and not
// judged (structure only) when it is older or absent (writers before this check).
//
// A stripe within the rule may still be crowded: more shards in one domain than the recorded
// strategy's spread allows over today's live view (a writer that placed a failed shard again
// beside the others, around a server that hung but was never recorded suspect). Nothing else
// would have repair look at it (no record changed), and such a stripe loses more shards to the
// loss of that domain than a spread one: each is counted (`crowdedWrites`, in replicated state),
// and the repair driver walks when the count moved since its last complete walk, moving the
// excess as it does after a return.
import * as K from './keys.ts';
import { clusterConfig, normaliseServer } from './ops-cluster.ts';
import {
  ClusterMap,
  checkPlacement,
  liveCandidates,
  locationKey,
  placementServers,
  serverDomainKey,
} from './placement/index.ts';
import { placementView } from './repair/cluster-view.ts';
import { misplacedShards } from './repair/scheduler.ts';
import { fail, type Store } from './store.ts';
import type { DataServerInfo, ShardLocation, Stripe } from './types.ts';

const EPOCH_COUNTER = 'placementEpoch';
const CROWDED_COUNTER = 'crowdedWrites';
const SHARDS_PER_STRIPE_MAX = 256; // k + m <= 256, as the erasure code allows

export function placementEpoch(store: Store): number {
  return (store.db.get(K.counterKey(EPOCH_COUNTER)) as number | undefined) ?? 0;
}

// How many stripes were committed crowded (see the top of this file).
export function crowdedWrites(store: Store): number {
  return (store.db.get(K.counterKey(CROWDED_COUNTER)) as number | undefined) ?? 0;
}

// Called by every command that changes a server record: bumps the epoch when the record gained
// a live disk (a new server's first report, a server back up, a disk with room again), in
// writers' view or in repair's. The two differ on a disk registered but not yet reported: a
// writer places on it at the smallest weight (placementServers), repair's planner counts it once
// it reports its space (placementView). Without the second, a server that joined was walked at
// its registration, judged without its disks, and never again once they reported: stripes that
// should have spread onto it stayed crowded (the cluster simulator, seed 30,517).
export function notePlacementChange(
  store: Store,
  before: DataServerInfo | undefined,
  after: DataServerInfo,
): void {
  const live = (record: DataServerInfo | undefined) => {
    if (record === undefined) return new Set<string>();
    const normalised = normaliseServer(record);
    return new Set([
      ...liveCandidates(placementServers([normalised])).map((c) => `w ${locationKey(c)}`),
      ...liveCandidates(placementView([normalised])).map((c) => `r ${locationKey(c)}`),
    ]);
  };
  const was = live(before);
  for (const key of live(after)) {
    if (was.has(key)) continue;
    store.nextCounter(EPOCH_COUNTER, 1);
    return;
  }
}

// One command may commit thousands of stripes (a large PUT): the cluster map is built once per
// command, keyed by the applied index (the same for every stripe of a command, never reused).
// Only a cache: a member without it (restarted, or given a snapshot) builds the same map.
const maps = new WeakMap<Store, { appliedIndex: unknown; map: ClusterMap }>();

function clusterMapOf(store: Store, pool?: string): ClusterMap {
  const appliedIndex = store.db.get(K.appliedKey());
  const cached = maps.get(store);
  if (pool === undefined && cached !== undefined && cached.appliedIndex === appliedIndex)
    return cached.map;
  const servers = store.servers().map(normaliseServer);
  // A stripe placed in a pool is judged against that pool's servers only: the domain rule of the
  // whole cluster may be wider than the pool can keep.
  const inPool = pool === undefined ? servers : servers.filter((s) => s.domain.pool === pool);
  const map = ClusterMap.of(placementServers(inPool));
  if (pool === undefined) maps.set(store, { appliedIndex, map });
  return map;
}

// Refuses (PLACEMENT_VIOLATION) a stripe whose locations break the invariant. Only replicated
// state is read, so every member decides the same.
export function checkNewStripe(store: Store, stripe: Stripe): void {
  const { k, m, shards } = stripe;
  if (!Number.isSafeInteger(k) || !Number.isSafeInteger(m) || k < 1 || m < 0)
    fail('EINVAL', `stripe ${stripe.id}: bad erasure profile ${k}+${m}`);
  if (
    k + m > SHARDS_PER_STRIPE_MAX ||
    !Array.isArray(shards) ||
    shards.length > SHARDS_PER_STRIPE_MAX
  )
    fail('EINVAL', `stripe ${stripe.id}: at most ${SHARDS_PER_STRIPE_MAX} shard locations`);
  for (const s of shards)
    if (typeof s?.serverId !== 'string' || !Number.isSafeInteger(s.disk))
      fail('EINVAL', `stripe ${stripe.id}: bad shard location ${JSON.stringify(s)}`);
  const epoch = stripe.placementEpoch;
  if (epoch !== undefined && (!Number.isSafeInteger(epoch) || epoch < 0))
    fail('EINVAL', `stripe ${stripe.id}: bad placement epoch ${String(epoch)}`);
  const judgeRule = epoch === placementEpoch(store);
  if (stripe.pool !== undefined && typeof stripe.pool !== 'string')
    fail('EINVAL', `stripe ${stripe.id}: a pool is a label`);
  const map = clusterMapOf(store, stripe.pool);
  const violations = checkPlacement(stripe, map).filter(
    (v) => judgeRule || v.code !== 'DOMAIN_OVERLOADED',
  );
  if (violations.length === 0) {
    const strategy = clusterConfig(store)?.placement.strategy;
    if (strategy !== undefined && misplacedShards(stripe, map, [], strategy).length > 0)
      store.nextCounter(CROWDED_COUNTER, 1);
    return;
  }
  fail(
    'PLACEMENT_VIOLATION',
    `stripe ${stripe.id} breaks the placement invariant: ` +
      violations.map((v) => v.message).join('; '),
  );
}

// A repair's move (relocateShard) keeps the domain rule: after it, the target's domain at the
// rule's level holds at most m shards of the stripe. Only the target's domain is judged: a stripe
// that broke the rule before (written while domains were down) may still be repaired, and the
// move that spreads it again is the planner's. As for new stripes, the rule is judged only when
// the planner's epoch is today's (a view that grew since may ask a wider level than it knew) and
// not at all without one (commands of leaders before this check, replayed from the log).
export function checkRelocationDomain(
  store: Store,
  after: Stripe,
  to: ShardLocation,
  epoch: number | undefined,
): void {
  if (epoch === undefined) return;
  if (!Number.isSafeInteger(epoch) || epoch < 0)
    fail('EINVAL', `bad placement epoch ${String(epoch)}`);
  if (epoch !== placementEpoch(store)) return;
  const map = clusterMapOf(store, after.pool);
  const rule = map.rule(after.k + after.m, after.m);
  const target = map.server(to.serverId);
  if (!rule.enforced || target === undefined) return;
  const domain = serverDomainKey(target, rule.level);
  const held = after.shards.filter((s) => {
    const server = map.server(s.serverId);
    return server !== undefined && serverDomainKey(server, rule.level) === domain;
  }).length;
  if (held <= after.m) return;
  fail(
    'PLACEMENT_VIOLATION',
    `moving a shard of stripe ${after.id} to ${to.serverId}/${to.disk} puts ${held} shards in ` +
      `${rule.level} ${domain.replaceAll('\n', '/')}, more than m = ${after.m}`,
  );
}
