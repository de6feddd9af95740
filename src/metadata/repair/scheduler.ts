// The repair scheduler, pure: from the stripe records, the servers' states and scrub findings, the
// repair tasks to start now. Stripes with the fewest spare shards come first (a stripe one loss
// away from unreadable before one with two to spare), then drains. Each task names k readable
// source shards and a target chosen by the placement strategy: never a disk that holds or held a
// shard of the stripe, with the domain rule kept (a server may then hold more than one shard, up
// to the rule's cap: with 3 servers and 4+2 a lost disk is rebuilt on another disk of its server). The same input gives the same plan, and a shard
// with a task in flight gets no second one.
import assert from 'node:assert/strict';
import { isStrataError } from '../../common/errors.ts';
import { ClusterMap } from '../placement/cluster-map.ts';
import { locationKey } from '../placement/domains.ts';
import { placeShards } from '../placement/place-shards.ts';
import type { PlacementServer, PlacementStrategy } from '../placement/types.ts';
import type { ShardLocation } from '../types.ts';
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
  strategy: PlacementStrategy;
  limits: RepairLimits;
}

interface Need {
  stripe: RepairStripe;
  shardIndex: number;
  reason: 'lost' | 'drain';
  spareShards: number;
}

export function planRepairs(input: RepairInput): RepairPlan {
  const { limits } = input;
  assert.ok(limits.tasksInFlightMax >= 1 && limits.bytesInFlightMax >= 1, 'limits are positive');
  const servers = new Map(input.servers.map((s) => [s.serverId, s]));
  const map = ClusterMap.of(input.servers);
  const findings = new Set(input.findings.map((f) => `${f.stripeId}/${f.shardIndex}`));
  const active = input.inFlight.filter((t) => t.phase !== 'done');
  const activeIds = new Set(active.map((t) => t.id));
  const plan: RepairPlan = { tasks: [], waiting: [], unrecoverable: [] };
  const needs: Need[] = [];
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
  }
  needs.sort(byPriority);
  let tasksInFlight = active.length;
  let bytesInFlight = active.reduce((sum, t) => sum + t.sizeBytes, 0);
  const planned = [...active];
  // Once the budget is spent, nothing of lower priority overtakes (a large shard is not starved).
  let throttled = false;
  for (const need of needs) {
    const id = `${need.stripe.id}/${need.shardIndex}`;
    const size = need.stripe.shardSizeBytes;
    // With nothing in flight a task goes even above the byte budget, or it would never go.
    const fits = tasksInFlight === 0 || bytesInFlight + size <= limits.bytesInFlightMax;
    throttled ||= tasksInFlight >= limits.tasksInFlightMax || !fits;
    if (throttled) {
      plan.waiting.push({
        stripeId: need.stripe.id,
        shardIndex: need.shardIndex,
        why: 'throttled',
      });
      continue;
    }
    const made = makeTask(need, id, servers, findings, map, planned, input.strategy);
    if (typeof made === 'string') {
      plan.waiting.push({ stripeId: need.stripe.id, shardIndex: need.shardIndex, why: made });
      continue;
    }
    plan.tasks.push(made);
    planned.push(made);
    tasksInFlight++;
    bytesInFlight += size;
  }
  assert.ok(
    plan.tasks.every((t) => !activeIds.has(t.id)),
    'no task is issued twice',
  );
  return plan;
}

// Fewest spare shards first; losses before drains; then by stripe and shard, so ties are stable.
function byPriority(a: Need, b: Need): number {
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
): RepairTask | string {
  const { stripe, shardIndex } = need;
  const sources = chooseSources(stripe, shardIndex, servers, findings);
  if (sources.length < stripe.k) return `only ${sources.length} of k = ${stripe.k} sources`;
  const pending = planned.filter((t) => t.stripeId === stripe.id);
  // Targets of this stripe's other tasks count as held: two rebuilds must not pick one disk, and
  // both count against their domains' caps.
  const kept = stripe.shards
    .filter((_, i) => i !== shardIndex)
    .filter((s, i) => conditionOf(s, servers, findings.has(`${stripe.id}/${i}`)) !== 'lost')
    .concat(pending.map((t) => t.target));
  const avoid = new Set([...stripe.shards, ...pending.map((t) => t.target)].map(locationKey));
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
    });
  } catch (error) {
    if (isStrataError(error, 'NOT_ENOUGH_TARGETS')) return `no target: ${error.message}`;
    throw error;
  }
  assert.ok(!avoid.has(locationKey(target)), 'a target disk never holds a shard of its stripe');
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
