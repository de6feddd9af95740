// The shape and pace of one simulated run, all drawn from the seed: topology, erasure profile,
// placement strategy, detector and repair settings, fault rates. Printed with a failure, so a
// failing run can be read without replaying it.

import type { PlacementStrategy } from '../../../../src/metadata/placement/index.ts';
import { placementStrategies } from '../../../../src/metadata/placement/index.ts';
import type { SeededPrng } from '../../../../src/raft/index.ts';

export interface Profile {
  k: number;
  m: number;
  zones: number;
  racksPerZone: number;
  serversPerRack: number;
  disksPerServer: number;
  strategy: PlacementStrategy;
  initialStripes: number;
  shardSizeBytesMax: number;
  heartbeatJitterMs: number; // each heartbeat comes 1 s +- this after the previous one
  downAfterMs: number; // metadata.server_down_after_seconds
  tasksInFlightMax: number; // repair.max_concurrent
  repairBytesPerSecond: number; // one task's read + write rate (no contention modelled)
  commitLatencyMsMax: number; // a Raft commit of relocateShard
  scrubIntervalMs: number; // the orphan scrubber's period
  orphanGraceMs: number; // files younger than this are never collected
  occupiedForgetAfterMs: number; // a target that held a stale file is avoided this long
  faultsUntilMs: number; // faults and writes stop here; then the cluster must converge
  faultEveryMsMean: number;
  writeEveryMs: number; // the write load, during the fault period
  // Servers that may be dead or hung at once (temporary faults). m keeps every stripe readable
  // when the domain rule is at the server level; m + 1 exercises stripes unreadable for a while.
  unavailableMax: number;
  serversMax: number; // joins stop here
  // Commit a stripe with k+1 of its k+m shards written, the rest absent where the record names
  // them, as the real client does (off by default: see writes.ts; --degraded-writes).
  degradedWrites: boolean;
  // A second set of servers like the first, labelled pool "cold" (data.pool), and half the
  // writes placed there as an archive class's stripes are (Stripe.pool): repair, drain and
  // rebalance must keep them there (off by default: the seeds' draws stay as they were; --pools).
  pools: boolean;
}

export const SIM_POOL = 'cold';

// The profile with a cold pool: twice the servers, so joins still have room.
export function withPools(profile: Profile): Profile {
  return { ...profile, pools: true, serversMax: 2 * (profile.serversMax - 3) + 3 };
}

export function drawProfile(prng: SeededPrng): Profile {
  const [k, m] = prng.pick([
    [4, 2],
    [4, 2],
    [2, 1],
    [3, 2],
    [6, 3],
  ]);
  const zones = prng.pick([1, 1, 2, 3]);
  const racksPerZone = prng.pick([1, 2, 3]);
  const disksPerServer = prng.pick([1, 2, 3]);
  // Enough servers for k+m disks with up to m + 1 servers out, and one spare to rebuild on.
  const serversNeeded = Math.ceil((k + m) / disksPerServer) + m + 2;
  const racks = zones * racksPerZone;
  const serversPerRack = Math.max(1, Math.ceil(serversNeeded / racks)) + prng.nextInt(2);
  const downAfterMs = prng.pick([8_000, 15_000, 30_000, 60_000]);
  return {
    k,
    m,
    zones,
    racksPerZone,
    serversPerRack,
    disksPerServer,
    strategy: prng.pick(placementStrategies),
    initialStripes: 20 + prng.nextInt(100),
    shardSizeBytesMax: prng.pick([1, 4, 16, 64]) * 1024 * 1024,
    heartbeatJitterMs: prng.pick([0, 50, 200, 400]),
    downAfterMs,
    tasksInFlightMax: prng.pick([1, 4, 16]),
    repairBytesPerSecond: prng.pick([50, 200, 800]) * 1024 * 1024,
    commitLatencyMsMax: prng.pick([5, 50, 500]),
    scrubIntervalMs: prng.pick([10_000, 30_000]),
    orphanGraceMs: prng.pick([20_000, 60_000]),
    occupiedForgetAfterMs: prng.pick([10_000, 60_000, 300_000]),
    faultsUntilMs: prng.pick([60_000, 120_000, 240_000]),
    faultEveryMsMean: prng.pick([2_000, 5_000, 15_000]),
    writeEveryMs: prng.pick([500, 2_000, 10_000]),
    unavailableMax: prng.chance(0.8) ? m : m + 1,
    serversMax: zones * racksPerZone * serversPerRack + 3,
    degradedWrites: false,
    pools: false,
  };
}
