// The fault schedule: kills (the server and its files unreachable; a temporary one returns with
// its files, now stale where repair replaced them), hangs (no heartbeats, no answers, then it
// resumes), disk failures (the disk's files gone for good), joins (a new empty server) and leader
// changes. Temporary faults are bounded (profile.unavailableMax servers out at once); a permanent
// loss (a disk failure, a kill for good) is made only if its pool keeps k+2m live disks and every
// stripe keeps at least k recorded shards that still exist somewhere, so that each stripe can
// always be repaired in the end and any stripe lost is lost by repair.
import type { RepairTask } from '../../../../src/metadata/repair/index.ts';
import type { SeededPrng } from '../../../../src/raft/index.ts';
import { type SimCluster, type SimServer, show } from './cluster.ts';
import type { Profile } from './profile.ts';

export interface FaultStats {
  kills: number;
  killsForGood: number;
  hangs: number;
  diskFailures: number;
  joins: number;
  leaderChanges: number;
}

export interface FaultContext {
  cluster: SimCluster;
  profile: Profile;
  prng: SeededPrng;
  nowMs: number;
  stats: FaultStats;
  note: (message: string) => void;
  changeLeader: () => void;
  addServer: () => void;
  // Repair tasks in flight (the leader's and a former leader's): each may still commit its target.
  pendingTasks: () => RepairTask[];
}

type FaultKind = 'kill' | 'hang' | 'disk' | 'join' | 'leader';
const weights: ReadonlyArray<[FaultKind, number]> = [
  ['kill', 30],
  ['hang', 20],
  ['disk', 12],
  ['join', 8],
  ['leader', 15],
];

export function injectFault(ctx: FaultContext): void {
  const total = weights.reduce((sum, [, w]) => sum + w, 0);
  let draw = ctx.prng.nextInt(total);
  let kind: FaultKind = 'kill';
  for (const [k, w] of weights) {
    if (draw < w) {
      kind = k;
      break;
    }
    draw -= w;
  }
  if (kind === 'kill') kill(ctx);
  else if (kind === 'hang') hang(ctx);
  else if (kind === 'disk') failDisk(ctx);
  else if (kind === 'join' && ctx.cluster.servers.size < ctx.profile.serversMax) {
    ctx.stats.joins++;
    ctx.addServer();
  } else if (kind === 'leader') {
    ctx.stats.leaderChanges++;
    ctx.changeLeader();
  }
}

function candidates(ctx: FaultContext): SimServer[] {
  return [...ctx.cluster.servers.values()].filter((s) => s.process === 'running' && !s.exempt);
}

// Servers out now (dead or hung) that may come back, plus dead ones still named by a record.
function unavailable(ctx: FaultContext): number {
  const named = recordedServers(ctx.cluster);
  return [...ctx.cluster.servers.values()].filter(
    (s) => s.process !== 'running' && (!s.permanent || named.has(s.serverId)),
  ).length;
}

function recordedServers(cluster: SimCluster): Set<string> {
  const named = new Set<string>();
  for (const stripe of cluster.stripes.values())
    for (const location of stripe.shards) named.add(location.serverId);
  return named;
}

function kill(ctx: FaultContext): void {
  const pool = candidates(ctx);
  if (pool.length === 0 || unavailable(ctx) >= ctx.profile.unavailableMax) return;
  const server = ctx.prng.pick(pool);
  server.process = 'dead';
  ctx.stats.kills++;
  const disksLeft =
    liveDisks(ctx.cluster, server.domain.pool) - server.disks.filter((d) => !d.failed).length;
  const forGood = disksLeft >= ctx.profile.k + 2 * ctx.profile.m;
  if (
    forGood &&
    ctx.prng.chance(0.25) &&
    keepsEveryStripe(ctx.cluster, ctx.pendingTasks(), server)
  ) {
    server.permanent = true;
    server.returnAtMs = undefined;
    ctx.stats.killsForGood++;
    ctx.note(`fault: kill ${server.serverId} for good`);
    return;
  }
  const outMs = 2_000 + ctx.prng.nextInt(2 * ctx.profile.downAfterMs + 20_000);
  server.returnAtMs = ctx.nowMs + outMs;
  ctx.note(`fault: kill ${server.serverId} for ${outMs} ms`);
}

function hang(ctx: FaultContext): void {
  const pool = candidates(ctx);
  if (pool.length === 0 || unavailable(ctx) >= ctx.profile.unavailableMax) return;
  const server = ctx.prng.pick(pool);
  const outMs = 500 + ctx.prng.nextInt(Math.floor(1.5 * ctx.profile.downAfterMs));
  server.process = 'hung';
  server.returnAtMs = ctx.nowMs + outMs;
  ctx.stats.hangs++;
  ctx.note(`fault: hang ${server.serverId} for ${outMs} ms`);
}

function failDisk(ctx: FaultContext): void {
  const disks = [...ctx.cluster.servers.values()]
    .filter((s) => !s.permanent && !s.exempt)
    .flatMap((s) => s.disks.filter((d) => !d.failed).map((d) => ({ s, d })));
  if (disks.length === 0) return;
  const { s, d } = ctx.prng.pick(disks);
  // Enough disks left for every stripe to be whole again after the rebuild.
  if (liveDisks(ctx.cluster, s.domain.pool) - 1 < ctx.profile.k + 2 * ctx.profile.m) return;
  if (!keepsEveryStripe(ctx.cluster, ctx.pendingTasks(), { serverId: s.serverId, disk: d.disk }))
    return;
  d.failed = true;
  d.files.clear();
  d.usedBytes = 0;
  ctx.stats.diskFailures++;
  ctx.note(`fault: disk ${s.serverId}/${d.disk} failed`);
}

// Disks that exist and may serve again (not failed, not on a server dead for good), in the pool
// given (undefined: the servers in no pool, every server without --pools): a pool's stripes are
// rebuilt only within it, so each pool keeps room for them (seed 154 with --pools lost 9 of 13
// one-disk cold servers for good, and its stripes waited for targets forever).
function liveDisks(cluster: SimCluster, pool: string | undefined): number {
  return [...cluster.servers.values()]
    .filter((s) => !s.permanent && s.domain.pool === pool)
    .reduce((n, s) => n + s.disks.filter((d) => !d.failed).length, 0);
}

// Whether every stripe would still have at least k recorded shards whose files survive
// somewhere (not on a failed disk nor on a server dead for good, nor never written) after
// losing `what`. A task in flight may still commit its target as the shard's location, so a
// shard counts as lost when either its recorded location or a pending target for it is (a kill
// just before such a commit would otherwise lose a stripe the schedule judged safe: seed 67 once
// did).
function keepsEveryStripe(
  cluster: SimCluster,
  pending: readonly RepairTask[],
  what: { serverId: string; disk?: number },
) {
  const isLost = (location: { serverId: string; disk: number }) => {
    const server = cluster.server(location.serverId);
    const hit =
      location.serverId === what.serverId &&
      (what.disk === undefined || what.disk === location.disk);
    return hit || server.permanent || server.disks[location.disk].failed;
  };
  const targets = new Map<string, RepairTask[]>();
  for (const task of pending)
    targets.set(task.stripeId, [...(targets.get(task.stripeId) ?? []), task]);
  for (const stripe of cluster.stripes.values()) {
    let lost = 0;
    stripe.shards.forEach((location, index) => {
      const moving = (targets.get(stripe.id) ?? []).filter((t) => t.shardIndex === index);
      // A shard a degraded write left absent has no file anywhere until it is rebuilt.
      const absent = cluster.absent.has(`${stripe.id}/${index}@${show(location)}`);
      if (absent || isLost(location) || moving.some((t) => isLost(t.target))) lost++;
    });
    if (lost > stripe.m) return false;
  }
  return true;
}
