// What the simulator checks. Safety, on the whole cluster every simulated second (deletes are also
// checked as they happen, in cluster.ts):
// - every stripe's committed record names k+m distinct, known disks;
// - every recorded location on a disk that has not failed holds its shard's file: a file the
//   record names is never deleted, and no commit names a location where nothing was written;
// - no stripe has more than m recorded shards whose files are gone for good (failed disk, server
//   dead for good). The fault schedule never takes a stripe there by itself (faults.ts), so a
//   stripe that gets there, having had k, was lost by repair;
// - a stripe placed in a pool records every shard on a server of that pool (profile.pools).
// Convergence, once the faults stopped: every stripe has its k+m shards readable on servers and
// disks recorded up, no task is in flight, the planner (the real planRepairs, over today's view)
// plans nothing and leaves nothing waiting, every stripe keeps the placement rule against its
// pool's servers (as the state machine judges it), and no stale or orphan file is left on a live
// disk.
import {
  type ClusterMap,
  checkPlacement,
  locationKey,
} from '../../../../src/metadata/placement/index.ts';
import { planRepairs } from '../../../../src/metadata/repair/index.ts';
import type { SimCluster } from './cluster.ts';
import { shardKey, show } from './cluster.ts';
import type { SimRepairDriver, TaskRun } from './driver.ts';
import type { Profile } from './profile.ts';
import { poolMap } from './writes.ts';

export function checkSafety(cluster: SimCluster, fail: (message: string) => never): void {
  for (const stripe of cluster.stripes.values()) {
    if (stripe.shards.length !== stripe.k + stripe.m)
      fail(`stripe ${stripe.id} records ${stripe.shards.length} shards`);
    if (new Set(stripe.shards.map(locationKey)).size !== stripe.shards.length)
      fail(`stripe ${stripe.id} records two shards on one disk: ${stripe.shards.map(show)}`);
    let gone = 0;
    stripe.shards.forEach((location, index) => {
      const server = cluster.server(location.serverId);
      const disk = cluster.disk(location);
      const key = shardKey(stripe.id, index);
      const absent = cluster.absent.has(`${key}@${show(location)}`); // a degraded write's
      if (!disk.failed && !disk.files.has(key) && !absent)
        fail(`stripe ${stripe.id} records shard ${index} at ${show(location)}, where no file is`);
      if (disk.failed || server.permanent) gone++;
      if (stripe.pool !== undefined && server.domain.pool !== stripe.pool)
        fail(
          `stripe ${stripe.id} of pool ${stripe.pool} records shard ${index} at ${show(location)}`,
        );
    });
    if (gone > stripe.m)
      fail(
        `stripe ${stripe.id} lost: ${gone} of its recorded shards are gone for good (m = ${stripe.m})`,
      );
  }
}

// What keeps the cluster from having converged, or [] once it has.
export function convergenceGaps(
  cluster: SimCluster,
  profile: Profile,
  driver: SimRepairDriver | undefined,
  ghosts: readonly TaskRun[],
): string[] {
  if (driver === undefined) return ['no leader'];
  const gaps: string[] = [];
  if (driver.running.size > 0 || ghosts.length > 0 || driver.walking)
    gaps.push(`${driver.running.size + ghosts.length} tasks in flight`);
  for (const stripe of cluster.stripes.values()) {
    stripe.shards.forEach((location, index) => {
      const record = cluster.records.get(location.serverId);
      const healthy =
        record?.state === 'up' &&
        cluster.recordedDiskState(location) === 'up' &&
        cluster.readable(location, shardKey(stripe.id, index));
      if (!healthy) gaps.push(`shard ${stripe.id}/${index} at ${show(location)} not healthy`);
    });
  }
  for (const key of cluster.absentTable.keys()) gaps.push(`shard ${key} still listed absent`);
  if (gaps.length > 0) return gaps; // the planner's and the files' turn once these are done
  const view = cluster.view();
  const plan = planRepairs({
    stripes: [...cluster.stripes.values()],
    servers: view,
    findings: [],
    inFlight: [],
    strategy: profile.strategy,
    limits: { tasksInFlightMax: 1_000_000, bytesInFlightMax: Number.MAX_SAFE_INTEGER },
  });
  for (const task of plan.tasks) gaps.push(`planner still plans ${task.reason} ${task.id}`);
  for (const w of plan.waiting)
    gaps.push(`planner has ${w.stripeId}/${w.shardIndex} waiting: ${w.why}`);
  const maps = new Map<string | undefined, ClusterMap>();
  for (const stripe of cluster.stripes.values()) {
    const map = maps.get(stripe.pool) ?? poolMap(cluster, stripe.pool);
    maps.set(stripe.pool, map);
    for (const v of checkPlacement(stripe, map)) gaps.push(v.message);
  }
  gaps.push(...leftoverFiles(cluster));
  return gaps;
}

// Files on live disks of running servers that no record names there (stale or orphan).
function leftoverFiles(cluster: SimCluster): string[] {
  const left: string[] = [];
  for (const server of cluster.servers.values()) {
    if (server.process !== 'running') continue;
    for (const disk of server.disks) {
      if (disk.failed) continue;
      for (const key of disk.files.keys()) {
        const slash = key.lastIndexOf('/');
        const named = cluster.stripes.get(key.slice(0, slash))?.shards[
          Number(key.slice(slash + 1))
        ];
        if (named?.serverId !== server.serverId || named.disk !== disk.disk)
          left.push(`file ${key} left on ${server.serverId}/${disk.disk}`);
      }
    }
  }
  return left;
}

// A bound on the time to converge after the faults stop: detection and the repair delay, every
// shard of every stripe rebuilt once at the slowest task time through the allowed concurrency,
// twice over, and the collector's grace and period for the stale files.
export function deadlineMs(profile: Profile, cluster: SimCluster): number {
  const width = profile.k + profile.m;
  const stripesMax =
    cluster.stripes.size + Math.ceil(profile.faultsUntilMs / profile.writeEveryMs) + 1;
  const taskMs =
    20 +
    ((profile.k + 1) * profile.shardSizeBytesMax * 1500) / profile.repairBytesPerSecond +
    profile.commitLatencyMsMax;
  const workMs = (2 * stripesMax * width * taskMs) / profile.tasksInFlightMax;
  return Math.ceil(
    profile.faultsUntilMs +
      profile.downAfterMs +
      10_000 +
      workMs +
      profile.orphanGraceMs +
      Math.min(profile.occupiedForgetAfterMs, 600_000) +
      2 * profile.scrubIntervalMs +
      30_000,
  );
}
