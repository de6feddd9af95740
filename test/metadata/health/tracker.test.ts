// The leader's liveness tracker, the disk-report filter and the cluster health line, fed
// simulated milliseconds and recorded states.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  clusterHealth,
  diskUpdates,
  FREE_BYTES_CHANGE_MIN,
  LivenessTracker,
  type TrackedServer,
} from '../../../src/metadata/health/index.ts';

const downAfterMs = 10_000;
const tracker = (beganAtMs = 0) => new LivenessTracker(beganAtMs, { liveness: { downAfterMs } });

// Applies the tracker's changes to the recorded states, as the state machine would.
function step(t: LivenessTracker, nowMs: number, servers: TrackedServer[]): string[] {
  const changes = t.changes(nowMs, servers);
  for (const c of changes) {
    const server = servers.find((s) => s.serverId === c.serverId);
    assert.ok(server);
    server.state = c.to;
  }
  return changes.map((c) => `${c.serverId}:${c.from}->${c.to}`);
}

test('a new leader marks no recorded-up server down for as long as a live one keeps beating', () => {
  // The leader changed at 100 s: its tracker has no history of anyone.
  const t = tracker(100_000);
  const servers = [
    { serverId: 'a', state: 'up' as const },
    { serverId: 'b', state: 'up' as const },
  ];
  const seen: string[] = [];
  for (let nowMs = 100_000; nowMs <= 160_000; nowMs += 250) {
    if (nowMs % 1000 === 0) t.heartbeat('a', nowMs, 1000); // b is dead: silent throughout
    seen.push(...step(t, nowMs, servers));
  }
  assert.deepEqual(seen, ['b:up->suspect', 'b:suspect->down']);
  assert.equal(servers[0].state, 'up', 'the live server never left up');
});

test('after a leader change a dead server is suspected only a detection time after the new leader began', () => {
  const t = tracker(50_000);
  const servers = [{ serverId: 'dead', state: 'up' as const }];
  let suspectedAtMs: number | undefined;
  for (let nowMs = 50_000; nowMs <= 70_000 && suspectedAtMs === undefined; nowMs += 10) {
    if (step(t, nowMs, servers).length > 0) suspectedAtMs = nowMs;
  }
  assert.ok(suspectedAtMs !== undefined, 'suspected');
  // The grace: at least the acceptable pause (3 s) beyond one interval after the leader began.
  assert.ok(suspectedAtMs - 50_000 >= 4_000, `suspected after ${suspectedAtMs - 50_000} ms`);
});

test('a server recorded suspect and never heard by the new leader goes down downAfterMs after it began', () => {
  const t = tracker(0);
  const servers: TrackedServer[] = [{ serverId: 's', state: 'suspect' }];
  assert.deepEqual(step(t, downAfterMs - 1, servers), []);
  assert.deepEqual(step(t, downAfterMs, servers), ['s:suspect->down']);
});

test('a down server comes back up with its first heartbeat, and a recorded-down one stays down without one', () => {
  const t = tracker(0);
  const servers: TrackedServer[] = [
    { serverId: 'back', state: 'down' },
    { serverId: 'gone', state: 'down' },
  ];
  assert.deepEqual(step(t, 5_000, servers), []);
  t.heartbeat('back', 6_000, 1000);
  assert.deepEqual(step(t, 6_000, servers), ['back:down->up']);
});

test('draining and removed are never changed by the detector', () => {
  const t = tracker(0);
  const servers: TrackedServer[] = [
    { serverId: 'd', state: 'draining' },
    { serverId: 'r', state: 'removed' },
  ];
  assert.deepEqual(step(t, 1_000_000, servers), []);
});

test('a detector is dropped with its server record, and a server registered later starts seeded', () => {
  const t = tracker(0);
  t.heartbeat('x', 0, 1000);
  assert.equal(t.trackedCount, 1);
  step(t, 100, []);
  assert.equal(t.trackedCount, 0);
  const servers: TrackedServer[] = [{ serverId: 'new', state: 'up' }];
  assert.deepEqual(step(t, 200_000, servers), [], 'first seen: counts as heard from');
  assert.deepEqual(step(t, 204_000, servers), []);
  assert.deepEqual(step(t, 230_000, servers), ['new:up->down'], 'silent past both delays');
});

test('disk reports are recorded on a state change or a noticeable change of space only', () => {
  const GiB = 1024 ** 3;
  const recorded = [
    { disk: 0, state: 'up' as const, capacityBytes: 100 * GiB, freeBytes: 50 * GiB },
  ];
  const report = (freeBytes: number, online = true) => [
    { disk: 0, online, capacityBytes: 100 * GiB, freeBytes },
  ];
  assert.deepEqual(diskUpdates(recorded, report(50 * GiB + FREE_BYTES_CHANGE_MIN / 2)), []);
  assert.deepEqual(diskUpdates(recorded, report(49 * GiB)), [
    { disk: 0, state: 'up', capacityBytes: 100 * GiB, freeBytes: 49 * GiB },
  ]);
  assert.deepEqual(diskUpdates(recorded, report(50 * GiB, false)), [
    { disk: 0, state: 'failed', capacityBytes: 0, freeBytes: 0 },
  ]);
  const draining = [{ ...recorded[0], state: 'draining' as const }];
  assert.deepEqual(diskUpdates(draining, report(50 * GiB)), [], 'draining is kept');
  const fresh = [{ disk: 0, state: 'up' as const, capacityBytes: 0, freeBytes: 0 }];
  assert.equal(diskUpdates(fresh, report(50 * GiB)).length, 1, 'the first figures are recorded');
  assert.deepEqual(diskUpdates(recorded, [{ ...report(1)[0], disk: 9 }]), [], 'unknown disk');
});

test('a disk reported with another identity is failed while it records shards, then adopted empty', () => {
  const GiB = 1024 ** 3;
  const OLD = 'a'.repeat(32);
  const NEW = 'b'.repeat(32);
  const sizes = { capacityBytes: 100 * GiB, freeBytes: 50 * GiB };
  const recorded = [{ disk: 0, state: 'up' as const, diskId: OLD, ...sizes }];
  const report = (diskId?: string) => [
    { disk: 0, online: true, ...sizes, ...(diskId ? { diskId } : {}) },
  ];
  const holding = (shards: number) => (disk: number) => (disk === 0 ? shards : 0);
  assert.deepEqual(diskUpdates(recorded, report(OLD), holding(7)), [], 'the same disk');
  assert.deepEqual(diskUpdates(recorded, report(), holding(7)), [], 'a server without identities');
  assert.deepEqual(
    diskUpdates(recorded, report(NEW), holding(7)),
    [{ disk: 0, state: 'failed', ...sizes }],
    'the shards recorded there are gone: failed, identity kept',
  );
  const failed = [{ ...recorded[0], state: 'failed' as const }];
  assert.deepEqual(diskUpdates(failed, report(NEW), holding(3)), [], 'failed until emptied');
  assert.deepEqual(
    diskUpdates(failed, report(NEW), holding(0)),
    [{ disk: 0, state: 'up', ...sizes, diskId: NEW }],
    'emptied by repair: the new disk is adopted and up',
  );
  const unknown = [{ disk: 0, state: 'up' as const, ...sizes }];
  assert.deepEqual(
    diskUpdates(unknown, report(NEW), holding(7)),
    [{ disk: 0, state: 'up', ...sizes, diskId: NEW }],
    'the first identity heard is adopted, shards or not',
  );
});

const members = [
  { nodeId: 1, reachable: true, role: 'leader' },
  { nodeId: 2, reachable: true, role: 'follower' },
];
const upServers = (count: number, disks = 2) =>
  Array.from({ length: count }, (_, i) => ({
    serverId: `s${i}`,
    state: 'up' as const,
    disks: Array.from({ length: disks }, (_, disk) => ({ disk, state: 'up' as const })),
  }));
const erasure = { k: 4, m: 2 };

test('health: HEALTHY when every server and member is fine', () => {
  assert.deepEqual(clusterHealth({ servers: upServers(3), members, erasure }), {
    status: 'HEALTHY',
    reasons: [],
  });
});

test('health: DEGRADED with a server down, a failed disk or a member unreachable, naming them', () => {
  const servers = upServers(4);
  servers[2] = { ...servers[2], state: 'down' as never };
  const down = clusterHealth({ servers, members, erasure });
  assert.equal(down.status, 'DEGRADED');
  assert.match(down.reasons.join('\n'), /1 data server\(s\) down: s2/);
  const disk = upServers(4);
  disk[0].disks[1] = { disk: 1, state: 'failed' as never };
  assert.match(
    clusterHealth({ servers: disk, members, erasure }).reasons[0],
    /s0 disk\(s\) failed: 1/,
  );
  const member = [members[0], { nodeId: 2, reachable: false }];
  assert.equal(
    clusterHealth({ servers: upServers(3), members: member, erasure }).status,
    'DEGRADED',
  );
});

test('health: UNAVAILABLE without a leader or with fewer live disks than a write needs', () => {
  const follower = [{ nodeId: 1, reachable: true, role: 'follower' }];
  assert.equal(
    clusterHealth({ servers: upServers(3), members: follower, erasure }).status,
    'UNAVAILABLE',
  );
  const servers = upServers(3);
  servers[0] = { ...servers[0], state: 'down' as never };
  servers[1] = { ...servers[1], state: 'suspect' as never };
  const few = clusterHealth({ servers, members, erasure });
  assert.equal(few.status, 'UNAVAILABLE');
  assert.match(few.reasons[0], /2 live disk\(s\); a write needs at least 5/);
  const removed = upServers(4).map((s, i) => (i === 0 ? { ...s, state: 'removed' as never } : s));
  assert.equal(clusterHealth({ servers: removed, members, erasure }).status, 'HEALTHY');
});
