// The repair scheduler, pure: from the stripe records, the servers' states and scrub findings, the
// repair tasks to start now. Stripes with the fewest spare shards come first (a stripe one loss
// away from unreadable before one with two to spare), then drains. Each task names k readable
// source shards and a target chosen by the placement strategy: never a disk that holds or held a
// shard of the stripe (but a shard missing on a live disk no other may take is rebuilt there:
// inPlaceTask), with the domain rule kept (a server may then hold more than one shard, up
// to the rule's cap: with 3 servers and 4+2 a lost disk is rebuilt on another disk of its server). The same input gives the same plan, and a shard
// with a task in flight gets no second one.
// Last come moves (reason 'rebalance'): a stripe whose shards are all healthy but break the domain
// rule against today's live view (written or repaired while a domain was down, which left the rule
// unenforced) has its excess shards moved, like drained ones, to targets placed with its other
// shards kept. A stripe within the rule gets no task.
// Then balance moves (reason 'balance'), when the caller passes fair-share budgets: see planBalance.
// A stripe placed in a pool (Stripe.pool: an archive class's) is planned within that pool's
// servers only, for every reason: targets, the domain rule and the spread cap are the pool's
// (pool-maps.ts), and a shard found outside its pool is moved back into it (reason 'rebalance').
import assert from 'node:assert/strict';
import { isStrataError } from '../../common/errors.ts';
import type { ClusterMap } from '../placement/cluster-map.ts';
import { domainSizes, locationKey, minimalCap, serverDomainKey } from '../placement/domains.ts';
import { placeShards } from '../placement/place-shards.ts';
import type { PlacementServer, PlacementStrategy } from '../placement/types.ts';
import type { ShardLocation } from '../types.ts';
import type { BalanceBudget } from './fair-share.ts';
import { PoolMaps } from './pool-maps.ts';
import type {
  RepairLimits,
  RepairPlan,
  RepairStripe,
  RepairTask,
  ScrubFinding,
  ShardCondition,
} from './types.ts';

export interface RepairInput {
  stripes: readonly RepairStripe[];
  servers: readonly PlacementServer[];
  findings: readonly ScrubFinding[];
  inFlight: readonly RepairTask[]; // tasks issued earlier and not done (from replicated state)
  // Disks found to hold a file of the shard already (a stale copy from before a move, not yet
  // collected), by task id: they are not chosen again as that shard's target.
  occupied?: ReadonlyMap<string, readonly ShardLocation[]>;
  strategy: PlacementStrategy;
  limits: RepairLimits;
  // Fair share (fair-share.ts): shards each disk still gives and may take. Without it, or with
  // nothing to give, no balance move is planned.
  balance?: BalanceBudget;
}

interface Need {
  stripe: RepairStripe;
  shardIndex: number;
  reason: RepairTask['reason'];
  spareShards: number;
}

export function planRepairs(input: RepairInput): RepairPlan {
  const { limits } = input;
  assert.ok(limits.tasksInFlightMax >= 1 && limits.bytesInFlightMax >= 1, 'limits are positive');
  const servers = new Map(input.servers.map((s) => [s.serverId, s]));
  const maps = new PoolMaps(input.servers);
  const findings = new Set(input.findings.map((f) => `${f.stripeId}/${f.shardIndex}`));
  const missing = new Set(
    input.findings
      .filter((f) => f.problem === 'missing')
      .map((f) => `${f.stripeId}/${f.shardIndex}`),
  );
  const active = input.inFlight.filter((t) => t.phase !== 'done');
  const activeIds = new Set(active.map((t) => t.id));
  const plan: RepairPlan = { tasks: [], waiting: [], unrecoverable: [], unjudged: 0 };
  const needs: Need[] = [];
  const balanceable: Array<{ stripe: RepairStripe; spareShards: number }> = [];
  for (const stripe of input.stripes) {
    const conditions = stripe.shards.map((location, i) =>
      conditionOf(location, servers, findings.has(`${stripe.id}/${i}`)),
    );
    const readable = conditions.filter((c) => c === 'healthy' || c === 'draining').length;
    const coming = conditions.filter((c) => c === 'unavailable').length;
    if (readable + coming < stripe.k) plan.unrecoverable.push(stripe.id);
    conditions.forEach((condition, shardIndex) => {
      if (condition !== 'lost' && condition !== 'draining') return;
      if (activeIds.has(`${stripe.id}/${shardIndex}`)) return;
      const reason = condition === 'lost' ? 'lost' : 'drain';
      needs.push({ stripe, shardIndex, reason, spareShards: readable - stripe.k });
    });
    if (conditions.every((c) => c === 'healthy')) {
      const spareShards = readable - stripe.k;
      const map = maps.of(stripe.pool);
      const misplaced = misplacedShards(stripe, map, active, input.strategy);
      for (const shardIndex of misplaced)
        needs.push({ stripe, shardIndex, reason: 'rebalance', spareShards });
      if (misplaced.length === 0) balanceable.push({ stripe, spareShards });
    } else plan.unjudged++;
  }
  needs.sort(byPriority);
  const room: Room = {
    tasksInFlight: active.length,
    bytesInFlight: active.reduce((sum, t) => sum + t.sizeBytes, 0),
    throttled: false,
  };
  const planned = [...active];
  for (const need of needs) {
    const id = `${need.stripe.id}/${need.shardIndex}`;
    if (!admit(room, need.stripe.shardSizeBytes, limits)) {
      plan.waiting.push({
        stripeId: need.stripe.id,
        shardIndex: need.shardIndex,
        reason: need.reason,
        why: 'throttled',
      });
      continue;
    }
    const occupied = input.occupied?.get(id) ?? [];
    const map = maps.of(need.stripe.pool);
    let made = makeTask(need, id, servers, findings, map, planned, input.strategy, occupied);
    if (typeof made === 'string' && missing.has(id))
      made = inPlaceTask(need, id, servers, findings, occupied) ?? made;
    if (typeof made === 'string') {
      const { stripe, shardIndex, reason } = need;
      plan.waiting.push({ stripeId: stripe.id, shardIndex, reason, why: made });
      continue;
    }
    take(room, plan, planned, made);
  }
  if (input.balance !== undefined && input.balance.moves > 0) {
    const context = { input, servers, findings, maps, planned, plan, room };
    planBalance(context, input.balance, balanceable);
  }
  assert.ok(
    plan.tasks.every((t) => !activeIds.has(t.id)),
    'no task is issued twice',
  );
  return plan;
}

// What the throttle has left in this plan. Once it is spent, nothing of lower priority overtakes
// (a large shard is not starved).
interface Room {
  tasksInFlight: number;
  bytesInFlight: number;
  throttled: boolean;
}

function admit(room: Room, sizeBytes: number, limits: RepairLimits): boolean {
  // With nothing in flight a task goes even above the byte budget, or it would never go.
  const fits =
    room.tasksInFlight === 0 || room.bytesInFlight + sizeBytes <= limits.bytesInFlightMax;
  room.throttled ||= room.tasksInFlight >= limits.tasksInFlightMax || !fits;
  return !room.throttled;
}

function take(room: Room, plan: RepairPlan, planned: RepairTask[], task: RepairTask): void {
  plan.tasks.push(task);
  planned.push(task);
  room.tasksInFlight++;
  room.bytesInFlight += task.sizeBytes;
}

interface PlanContext {
  input: RepairInput;
  servers: ReadonlyMap<string, PlacementServer>;
  findings: ReadonlySet<string>;
  maps: PoolMaps;
  planned: RepairTask[];
  plan: RepairPlan;
  room: Room;
}

// Balance moves come last, within the budgets (fair-share.ts): a stripe with nothing else to do
// gives one shard from a disk still giving, to a disk still taking, placed by the strategy with
// the stripe's other shards kept (so the domain rule holds). Each of its shards on a giving disk
// is tried in turn; a stripe whose shards fit nowhere is passed over (an optional move, not
// reported as waiting). Throttled ones wait, at most as many as the budget still gives.
function planBalance(
  context: PlanContext,
  budget: BalanceBudget,
  stripes: ReadonlyArray<{ stripe: RepairStripe; spareShards: number }>,
): void {
  const { input, plan, room } = context;
  const give = new Map(budget.give);
  const takes = new Map(budget.take);
  let owed = budget.moves;
  let closed = notTaking(context.maps.all, takes);
  const busy = new Set(context.planned.map((t) => t.stripeId));
  for (const { stripe, spareShards } of stripes) {
    if (owed <= 0 || takes.size === 0) return;
    if (busy.has(stripe.id)) continue;
    const giving = stripe.shards.flatMap((at, i) =>
      (give.get(locationKey(at)) ?? 0) > 0 ? [i] : [],
    );
    if (giving.length === 0) continue;
    if (!admit(room, stripe.shardSizeBytes, input.limits)) {
      const why = 'throttled';
      plan.waiting.push({ stripeId: stripe.id, shardIndex: giving[0], reason: 'balance', why });
      owed--;
      continue;
    }
    for (const shardIndex of giving) {
      const id = `${stripe.id}/${shardIndex}`;
      const need: Need = { stripe, shardIndex, reason: 'balance', spareShards };
      const avoid = [...(input.occupied?.get(id) ?? []), ...closed];
      const { servers, findings, maps, planned } = context;
      const map = maps.of(stripe.pool); // a pool's stripe takes only its pool's disks
      const made = makeTask(need, id, servers, findings, map, planned, input.strategy, avoid);
      if (typeof made === 'string') continue;
      setOrDrop(give, locationKey(made.from), (give.get(locationKey(made.from)) ?? 0) - 1);
      const target = locationKey(made.target);
      setOrDrop(takes, target, (takes.get(target) ?? 0) - 1);
      if (!takes.has(target)) closed = notTaking(context.maps.all, takes);
      take(room, plan, planned, made);
      owed--;
      break;
    }
  }
}

// Moves after every loss and drain, and balance moves after the domain rule's; then fewest spare
// shards first; losses before drains; then by stripe and shard, so ties are stable.
const RANK: Record<RepairTask['reason'], number> = { lost: 0, drain: 0, rebalance: 1, balance: 2 };

function byPriority(a: Need, b: Need): number {
  if (RANK[a.reason] !== RANK[b.reason]) return RANK[a.reason] - RANK[b.reason];
  if (a.spareShards !== b.spareShards) return a.spareShards - b.spareShards;
  if (a.reason !== b.reason) return a.reason === 'lost' ? -1 : 1;
  if (a.stripe.id !== b.stripe.id) return a.stripe.id < b.stripe.id ? -1 : 1;
  return a.shardIndex - b.shardIndex;
}

export function conditionOf(
  location: ShardLocation,
  servers: ReadonlyMap<string, PlacementServer>,
  reported: boolean,
): ShardCondition {
  const server = servers.get(location.serverId);
  const disk = server?.disks.find((d) => d.disk === location.disk);
  if (!server || !disk || reported) return 'lost';
  if (server.state === 'down' || server.state === 'removed' || disk.state === 'failed') {
    return 'lost';
  }
  if (server.state === 'suspect') return 'unavailable'; // not yet: a reboot is not a rebuild
  if (server.state === 'draining' || disk.state === 'draining') return 'draining';
  return 'healthy';
}

function makeTask(
  need: Need,
  id: string,
  servers: ReadonlyMap<string, PlacementServer>,
  findings: ReadonlySet<string>,
  map: ClusterMap,
  planned: readonly RepairTask[],
  strategy: PlacementStrategy,
  occupied: readonly ShardLocation[],
): RepairTask | string {
  const { stripe, shardIndex } = need;
  const sources = chooseSources(stripe, shardIndex, servers, findings);
  if (sources.length < stripe.k) return `only ${sources.length} of k = ${stripe.k} sources`;
  const pending = planned.filter((t) => t.stripeId === stripe.id);
  // Targets of this stripe's other tasks count as held: two rebuilds must not pick one disk, and
  // both count against their domains' caps. A move keeps every other shard where it will be once
  // the stripe's other tasks land (so the moved stripe keeps the rule). A rebuild or drain counts
  // the other shards that stay readable, each where it will be once its task lands: a shard
  // being drained counts at its target only. Counted at both (two drains of one stripe off one
  // server), the second target was judged without the first and could put m+1 shards in one
  // domain, which the state machine then refused (the pool property test found it).
  const replaced = new Set(pending.map((t) => t.shardIndex));
  const kept =
    need.reason === 'rebalance' || need.reason === 'balance'
      ? withTasks(stripe.shards, pending).filter((_, i) => i !== shardIndex)
      : stripe.shards
          .filter((s, i) => {
            if (i === shardIndex || replaced.has(i)) return false;
            return conditionOf(s, servers, findings.has(`${stripe.id}/${i}`)) !== 'lost';
          })
          .concat(pending.map((t) => t.target));
  assert.ok(kept.length <= stripe.k + stripe.m - 1, 'kept shards leave room for the one placed');
  const avoid = new Set(
    [...stripe.shards, ...pending.map((t) => t.target), ...occupied].map(locationKey),
  );
  const width = stripe.k + stripe.m;
  let target: ShardLocation;
  try {
    [target] = placeShards({
      strategy,
      stripeId: stripe.id,
      width,
      m: stripe.m,
      count: 1,
      cluster: map,
      kept: kept.slice(0, width - 1),
      avoidDisks: avoid,
      // A move (for the rule or for balance) goes only where it keeps the stripe spread, or
      // balance and spread would undo each other; a rebuild takes any target within the rule.
      ...(need.reason === 'rebalance' || need.reason === 'balance'
        ? { avoidServers: crowdedServers(stripe, map, kept.slice(0, width - 1), strategy) }
        : {}),
    });
  } catch (error) {
    if (isStrataError(error, 'NOT_ENOUGH_TARGETS')) return `no target: ${error.message}`;
    throw error;
  }
  assert.ok(!avoid.has(locationKey(target)), 'a target disk never holds a shard of its stripe');
  assert.ok(
    stripe.pool === undefined || map.server(target.serverId)?.domain.pool === stripe.pool,
    `a target of stripe ${stripe.id} is in its pool ${stripe.pool}`,
  );
  return newTask(need, id, sources, target);
}

// A task in its first phase: rebuild shard `need.shardIndex` from `sources` onto `target`.
function newTask(
  need: Need,
  id: string,
  sources: RepairTask['sources'],
  target: ShardLocation,
): RepairTask {
  const { stripe, shardIndex } = need;
  return {
    id,
    stripeId: stripe.id,
    shardIndex,
    reason: need.reason,
    spareShards: need.spareShards,
    sources,
    from: stripe.shards[shardIndex],
    target,
    sizeBytes: stripe.shardSizeBytes,
    phase: 'rebuild',
  };
}

// A shard missing where its record names it (a `missing` finding: the repair driver makes them
// of a degraded write's absent shards) on a disk that is up on a server that is up, when no other
// disk may take it: rebuilt where the record names it, so the record does not change (target =
// from). On a cluster of exactly k + m disks, or a domain down to the disks that hold the
// stripe, that is the only place the domain rule leaves; elsewhere a new disk is preferred (the
// disk that missed the write may be flaky). Undefined when the disk is not up, or is noted
// occupied (a file of the shard there was being written).
function inPlaceTask(
  need: Need,
  id: string,
  servers: ReadonlyMap<string, PlacementServer>,
  findings: ReadonlySet<string>,
  occupied: readonly ShardLocation[],
): RepairTask | undefined {
  const { stripe, shardIndex } = need;
  const at = stripe.shards[shardIndex];
  const server = servers.get(at.serverId);
  const disk = server?.disks.find((d) => d.disk === at.disk);
  if (server?.state !== 'up' || disk?.state !== 'up') return undefined;
  if (occupied.some((o) => locationKey(o) === locationKey(at))) return undefined;
  const sources = chooseSources(stripe, shardIndex, servers, findings);
  if (sources.length < stripe.k) return undefined;
  return newTask(need, id, sources, at);
}

// Whether a task rebuilds its shard where the record already names it (inPlaceTask).
export function rebuildsInPlace(task: Pick<RepairTask, 'from' | 'target'>): boolean {
  return locationKey(task.from) === locationKey(task.target);
}

// k readable shards other than the one repaired, healthy before draining, lowest index first (data
// shards first: decoding from them alone is a copy).
function chooseSources(
  stripe: RepairStripe,
  shardIndex: number,
  servers: ReadonlyMap<string, PlacementServer>,
  findings: ReadonlySet<string>,
): RepairTask['sources'] {
  const readable = stripe.shards
    .map((location, i) => ({
      shardIndex: i,
      location,
      condition: conditionOf(location, servers, findings.has(`${stripe.id}/${i}`)),
    }))
    .filter((s) => s.shardIndex !== shardIndex)
    .filter((s) => s.condition === 'healthy' || s.condition === 'draining');
  readable.sort((a, b) =>
    a.condition !== b.condition
      ? a.condition === 'healthy'
        ? -1
        : 1
      : a.shardIndex - b.shardIndex,
  );
  return readable
    .slice(0, stripe.k)
    .sort((a, b) => a.shardIndex - b.shardIndex)
    .map(({ shardIndex: i, location }) => ({ shardIndex: i, location }));
}

// The shards of a stripe (all healthy) to move so that it keeps the domain rule of `map`, judged on
// where its shards will be once its tasks in flight land: in each domain at the rule's level
// holding more than the spread cap (below), the excess, highest indices first (parity before
// data: a data shard read alone is a plain copy). None when the rule is not enforced (too few
// live domains).
// The spread cap is the rule's cap m, or less when the live domains allow a wider spread: with
// 8 servers and 4+2, one shard per server. A stripe rebuilt while fewer than k+m domains were
// live holds 2 shards in some domain, within the rule but exposed: two more failures could take
// 3 of its shards. Once the domains are back it is spread again, so that after a repair any
// two more can fail (issue 12: k+m+2 servers).
// For a pool's stripe `map` is its pool's, and shards outside the pool come first (outsidePool).
export function misplacedShards(
  stripe: RepairStripe,
  map: ClusterMap,
  inFlight: readonly RepairTask[] = [],
  strategy: PlacementStrategy = 'spread-domains',
): number[] {
  const tasks = inFlight.filter((t) => t.stripeId === stripe.id);
  const shards = withTasks(stripe.shards, tasks);
  const outside = outsidePool(stripe, shards, map, tasks);
  if (outside.length > 0) return outside; // back into the pool first; the rule after
  const rule = map.rule(stripe.k + stripe.m, stripe.m);
  if (!rule.enforced) return [];
  const cap = spreadCap(map, stripe.k + stripe.m, stripe.m, strategy);
  assert.ok(cap >= 1 && cap <= stripe.m, `a spread cap within the rule, got ${cap}`);
  const moving = new Set(tasks.map((t) => t.shardIndex));
  const byDomain = new Map<string, number[]>();
  shards.forEach((location, i) => {
    const server = map.server(location.serverId);
    if (!server) return;
    const key = serverDomainKey(server, rule.level);
    byDomain.set(key, [...(byDomain.get(key) ?? []), i]);
  });
  const excess: number[] = [];
  for (const indices of byDomain.values()) {
    if (indices.length <= cap) continue;
    const movable = indices.filter((i) => !moving.has(i));
    excess.push(...movable.slice(-(indices.length - cap)));
  }
  return excess.sort((a, b) => a - b);
}

// Shards of a pool's stripe on servers outside its pool (`map` is the pool's: pool-maps.ts), not
// already moving: left by a repair before repair kept to the pool. Each is moved back, as a
// misplaced shard is; the state machine refuses any move out of a pool, so none arises now.
function outsidePool(
  stripe: RepairStripe,
  shards: readonly ShardLocation[],
  map: ClusterMap,
  tasks: readonly RepairTask[],
): number[] {
  if (stripe.pool === undefined) return [];
  const moving = new Set(tasks.map((t) => t.shardIndex));
  return shards.flatMap((location, i) =>
    moving.has(i) || map.server(location.serverId)?.domain.pool === stripe.pool ? [] : [i],
  );
}

// The most shards of one stripe a domain at the rule's level should hold. Under spread-domains:
// the fewest that let the live domains hold the stripe (water-filling), at most m, which is what
// its writes do, so a stripe rebuilt 2-per-server while servers were down is spread again once
// they are back. Under random and least-loaded, whose writes only keep the rule's cap, the cap
// itself: spreading further would move shards after every write, undoing their own placement.
// Only where the rule is enforced.
function spreadCap(map: ClusterMap, width: number, m: number, strategy: PlacementStrategy): number {
  const rule = map.rule(width, m);
  assert.ok(rule.enforced, 'a spread is judged only where the rule is enforced');
  if (strategy !== 'spread-domains') return rule.cap;
  return Math.min(rule.cap, minimalCap(domainSizes(map.candidates, rule.level), width));
}

// Servers a move of this stripe must not target: those in a domain (at the rule's level) that
// already holds the spread cap of its other shards, so a move never crowds another domain.
function crowdedServers(
  stripe: RepairStripe,
  map: ClusterMap,
  kept: ShardLocation[],
  strategy: PlacementStrategy,
): Set<string> {
  const width = stripe.k + stripe.m;
  const rule = map.rule(width, stripe.m);
  if (!rule.enforced) return new Set();
  const cap = spreadCap(map, width, stripe.m, strategy);
  const held = new Map<string, number>();
  for (const location of kept) {
    const server = map.server(location.serverId);
    if (!server) continue;
    const key = serverDomainKey(server, rule.level);
    held.set(key, (held.get(key) ?? 0) + 1);
  }
  return new Set(
    map.servers
      .filter((s) => (held.get(serverDomainKey(s, rule.level)) ?? 0) >= cap)
      .map((s) => s.serverId),
  );
}

// The stripe's shard list with each task's target in place of its shard.
function withTasks(
  shards: readonly ShardLocation[],
  tasks: readonly RepairTask[],
): ShardLocation[] {
  const moved = shards.slice();
  for (const t of tasks) moved[t.shardIndex] = t.target;
  return moved;
}

// Every candidate disk that may take no more balance moves.
function notTaking(map: ClusterMap, take: ReadonlyMap<string, number>): ShardLocation[] {
  return map.candidates
    .filter((c) => (take.get(locationKey(c)) ?? 0) <= 0)
    .map((c) => ({ serverId: c.serverId, disk: c.disk }));
}

function setOrDrop(map: Map<string, number>, key: string, value: number): void {
  if (value > 0) map.set(key, value);
  else map.delete(key);
}
