// The repair scheduler and task phases against their invariants.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkPlacement, type PlacementServer } from '../../../src/metadata/placement/index.ts';
import {
  advanceTask,
  commitRepair,
  mayDeleteShard,
  planRepairs,
  type RepairInput,
  type RepairStripe,
  rebuildsInPlace,
  sameLocation,
} from '../../../src/metadata/repair/index.ts';
import { cluster, serverOf } from '../placement/topology.ts';

// 9 hosts of 2 disks in 3 racks; 4+2 stripes: the rule is at most 2 shards per rack.
const shape = { zones: 1, racksPerZone: 3, hostsPerRack: 3, disksPerHost: 2 };
const shardSizeBytes = 1 << 20;

function servers(): PlacementServer[] {
  return cluster(shape);
}

// Stripe i on hosts: two shards per rack, one per host, disk 0.
function stripeOn(id: string, hostIds: string[]): RepairStripe {
  return {
    id,
    k: 4,
    m: 2,
    shardSizeBytes,
    shards: hostIds.map((serverId) => ({ serverId, disk: 0 })),
  };
}

const hostsA = ['s-0-0-0', 's-0-0-1', 's-0-1-0', 's-0-1-1', 's-0-2-0', 's-0-2-1'];
const hostsB = ['s-0-0-1', 's-0-0-2', 's-0-1-1', 's-0-1-2', 's-0-2-1', 's-0-2-2'];

function input(overrides: Partial<RepairInput> = {}): RepairInput {
  return {
    stripes: [stripeOn('a', hostsA), stripeOn('b', hostsB)],
    servers: servers(),
    findings: [],
    inFlight: [],
    strategy: 'spread-domains',
    limits: { tasksInFlightMax: 100, bytesInFlightMax: 1 << 30 },
    ...overrides,
  };
}

function withState(list: PlacementServer[], serverId: string, state: PlacementServer['state']) {
  return list.map((s) => (s.serverId === serverId ? { ...s, state } : s));
}

test('a stripe with fewer spare shards is repaired first', () => {
  // s-0-0-1 is in both stripes; s-0-1-2 only in b: b has lost 2 (0 spare), a lost 1 (1 spare).
  let list = withState(servers(), 's-0-0-1', 'down');
  list = withState(list, 's-0-1-2', 'down');
  const plan = planRepairs(input({ servers: list }));
  assert.deepEqual(
    plan.tasks.map((t) => [t.id, t.spareShards]),
    [
      ['b/0', 0],
      ['b/3', 0],
      ['a/1', 1],
    ],
  );
});

test('each task names k readable sources, never the lost shard nor a down or suspect server', () => {
  let list = withState(servers(), 's-0-0-1', 'down');
  list = withState(list, 's-0-2-0', 'suspect');
  const plan = planRepairs(input({ servers: list }));
  assert.ok(plan.tasks.length > 0);
  for (const task of plan.tasks) {
    assert.equal(task.sources.length, 4);
    assert.equal(new Set(task.sources.map((s) => s.shardIndex)).size, 4);
    for (const source of task.sources) {
      assert.notEqual(source.shardIndex, task.shardIndex);
      assert.ok(!['s-0-0-1', 's-0-2-0'].includes(source.location.serverId), task.id);
    }
  }
});

test('a suspect server is not rebuilt (the repair delay); a down one is', () => {
  const suspect = planRepairs(input({ servers: withState(servers(), 's-0-0-0', 'suspect') }));
  assert.deepEqual(suspect.tasks, []);
  const down = planRepairs(input({ servers: withState(servers(), 's-0-0-0', 'down') }));
  assert.deepEqual(
    down.tasks.map((t) => t.id),
    ['a/0'],
  );
});

test('a target disk never holds a shard of the stripe and the repaired stripe keeps the domain rule', () => {
  for (const lost of [...new Set([...hostsA, ...hostsB])]) {
    const list = withState(servers(), lost, 'down');
    const plan = planRepairs(input({ servers: list }));
    for (const task of plan.tasks) {
      const stripe = input().stripes.find((s) => s.id === task.stripeId)!;
      assert.ok(!stripe.shards.some((s) => sameLocation(s, task.target)), task.id);
      const repaired = commitRepair(stripe, { ...task, phase: 'commit' })!;
      assert.deepEqual(checkPlacement(repaired, list, {}), [], `${task.id} after ${lost}`);
    }
  }
});

test('a scrub finding on a healthy server is repaired elsewhere', () => {
  const findings = [{ stripeId: 'a', shardIndex: 2, problem: 'corrupt' as const }];
  const plan = planRepairs(input({ findings }));
  assert.deepEqual(
    plan.tasks.map((t) => t.id),
    ['a/2'],
  );
  assert.ok(!sameLocation(plan.tasks[0].target, { serverId: 's-0-1-0', disk: 0 }));
});

// Six servers of one disk with 4+2 (exactly k + m disks): every server holds a shard of every
// stripe, so a shard a degraded write left absent, or whose file went, has nowhere to go but the
// disk its record names. Found missing there (never corrupt), on a live disk, it is rebuilt in
// place; with a seventh server it goes there instead.
test('a shard missing on a live disk no other disk may take is rebuilt where it is recorded', () => {
  const hosts = (n: number) =>
    cluster({ zones: 1, racksPerZone: 1, hostsPerRack: n, disksPerHost: 1 });
  const six = hosts(6);
  const stripe = stripeOn(
    'd',
    six.map((s) => s.serverId),
  );
  const at = stripe.shards[3];
  const missing = [{ stripeId: 'd', shardIndex: 3, problem: 'missing' as const }];
  const plan = planRepairs(input({ stripes: [stripe], servers: six, findings: missing }));
  assert.deepEqual(plan.waiting, []);
  assert.deepEqual(
    plan.tasks.map((t) => [t.id, t.target]),
    [['d/3', at]],
  );
  const [task] = plan.tasks;
  assert.ok(rebuildsInPlace(task));
  assert.ok(sameLocation(task.from, at));
  assert.ok(!task.sources.some((s) => s.shardIndex === 3), 'never its own source');
  assert.deepEqual(commitRepair(stripe, { ...task, phase: 'commit' }), stripe, 'record unchanged');
  // Corrupt (its file is there), on a server not up, or with a file of it found there before
  // (occupied): it waits, with the reason.
  const corrupt = [{ ...missing[0], problem: 'corrupt' as const }];
  const waits = (overrides: Partial<RepairInput>) => {
    const waiting = planRepairs(input({ stripes: [stripe], servers: six, ...overrides }));
    assert.deepEqual(waiting.tasks, []);
    assert.match(waiting.waiting[0]?.why ?? '', /no target/);
  };
  waits({ findings: corrupt });
  waits({ findings: missing, servers: withState(six, at.serverId, 'suspect') });
  waits({ findings: missing, occupied: new Map([['d/3', [at]]]) });
  // A seventh server: a disk that did not miss the write is preferred.
  const seven = hosts(7);
  const elsewhere = planRepairs(input({ stripes: [stripe], servers: seven, findings: missing }));
  assert.deepEqual(
    elsewhere.tasks.map((t) => [t.id, t.target.serverId]),
    [['d/3', seven[6].serverId]],
  );
});

// 3 servers of 6 disks with 4+2: each holds 2 shards of every stripe (the rule's cap). A lost
// disk can only be rebuilt on another disk of the same server, which then holds 2 again.
test('with 3 servers and 4+2 a lost disk is rebuilt on another disk of its own server', () => {
  const three = cluster({ zones: 1, racksPerZone: 1, hostsPerRack: 3, disksPerHost: 6 });
  const stripe: RepairStripe = {
    id: 'c',
    k: 4,
    m: 2,
    shardSizeBytes,
    shards: ['s-0-0-0', 's-0-0-0', 's-0-0-1', 's-0-0-1', 's-0-0-2', 's-0-0-2'].map(
      (serverId, i) => ({ serverId, disk: i % 2 }),
    ),
  };
  const list = three.map((s) =>
    s.serverId === 's-0-0-1'
      ? { ...s, disks: s.disks.map((d) => (d.disk === 1 ? { ...d, state: 'failed' as const } : d)) }
      : s,
  );
  const plan = planRepairs(input({ stripes: [stripe], servers: list }));
  assert.deepEqual(plan.waiting, []);
  assert.deepEqual(
    plan.tasks.map((t) => t.id),
    ['c/3'],
  );
  const [task] = plan.tasks;
  assert.equal(task.target.serverId, 's-0-0-1');
  assert.ok(![0, 1].includes(task.target.disk), `target disk ${task.target.disk}`);
  const repaired = commitRepair(stripe, { ...task, phase: 'commit' })!;
  assert.deepEqual(checkPlacement(repaired, list, {}), []);
});

test('draining shards move after lost ones', () => {
  let list = withState(servers(), 's-0-2-2', 'draining'); // b/5
  list = withState(list, 's-0-0-0', 'down'); // a/0
  const plan = planRepairs(input({ servers: list }));
  assert.deepEqual(
    plan.tasks.map((t) => [t.id, t.reason]),
    [
      ['a/0', 'lost'],
      ['b/5', 'drain'],
    ],
  );
});

test('the same input gives the same plan, and a task in flight is not issued twice', () => {
  const list = withState(servers(), 's-0-0-1', 'down');
  const first = planRepairs(input({ servers: list }));
  assert.deepEqual(planRepairs(input({ servers: [...list].reverse() })), first);
  const again = planRepairs(input({ servers: list, inFlight: first.tasks }));
  assert.deepEqual(again.tasks, []);
  const done = first.tasks.map((t) => ({ ...t, phase: 'done' as const }));
  assert.equal(planRepairs(input({ servers: list, inFlight: done })).tasks.length, 2);
});

test('two rebuilds of one stripe never pick the same disk, and keep the domain rule', () => {
  let list = withState(servers(), 's-0-0-1', 'down');
  list = withState(list, 's-0-1-2', 'down');
  const b = planRepairs(input({ servers: list })).tasks.filter((t) => t.stripeId === 'b');
  assert.equal(b.length, 2);
  assert.ok(!sameLocation(b[0].target, b[1].target));
  let repaired = input().stripes[1];
  for (const task of b) repaired = commitRepair(repaired, { ...task, phase: 'commit' })!;
  assert.deepEqual(checkPlacement(repaired, list, {}), []);
});

test('two drains of one stripe off one server keep the domain rule together', () => {
  // 4 servers of 3 disks, 3+2 (at most 2 shards per server): the draining one holds 2 shards of
  // the stripe and the first move takes the last slot the rule leaves 's-0-0-3'. The second must not
  // count the first shard at its old place and put a third there (the state machine refuses it).
  const list = withState(
    Array.from({ length: 4 }, (_, i) => serverOf(0, 0, i, 3)),
    's-0-0-2',
    'draining',
  );
  const at = (serverId: string, disk: number) => ({ serverId, disk });
  const stripe: RepairStripe = {
    id: 'd10', // one whose two targets rank 's-0-0-3' first
    k: 3,
    m: 2,
    shardSizeBytes,
    shards: [
      at('s-0-0-2', 2),
      at('s-0-0-3', 0),
      at('s-0-0-0', 2),
      at('s-0-0-1', 2),
      at('s-0-0-2', 0),
    ],
  };
  const plan = planRepairs(input({ stripes: [stripe], servers: list }));
  assert.equal(plan.tasks.length, 2);
  let moved = stripe;
  for (const task of plan.tasks) moved = commitRepair(moved, { ...task, phase: 'commit' })!;
  const live = list.filter((s) => s.serverId !== 's-0-0-2');
  assert.deepEqual(checkPlacement(moved, [...live, list[2]], {}), []);
  assert.ok(moved.shards.every((s) => s.serverId !== 's-0-0-2'));
});

test('repair is throttled by tasks and by bytes in flight, in priority order', () => {
  let list = withState(servers(), 's-0-0-1', 'down');
  list = withState(list, 's-0-1-2', 'down');
  const byTasks = planRepairs(
    input({ servers: list, limits: { tasksInFlightMax: 2, bytesInFlightMax: 1 << 30 } }),
  );
  assert.deepEqual(
    byTasks.tasks.map((t) => t.id),
    ['b/0', 'b/3'],
  );
  assert.deepEqual(
    byTasks.waiting.map((w) => w.why),
    ['throttled'],
  );
  const byBytes = planRepairs(
    input({ servers: list, limits: { tasksInFlightMax: 100, bytesInFlightMax: shardSizeBytes } }),
  );
  assert.deepEqual(
    byBytes.tasks.map((t) => t.id),
    ['b/0'],
  );
  // Nothing in flight: a shard above the byte budget still goes, or it would wait forever.
  const tiny = planRepairs(
    input({ servers: list, limits: { tasksInFlightMax: 100, bytesInFlightMax: 1 } }),
  );
  assert.deepEqual(
    tiny.tasks.map((t) => t.id),
    ['b/0'],
  );
  const busy = planRepairs(
    input({
      servers: list,
      inFlight: byBytes.tasks,
      limits: { tasksInFlightMax: 100, bytesInFlightMax: shardSizeBytes },
    }),
  );
  assert.deepEqual(busy.tasks, []);
});

test('a stripe with fewer than k readable shards is reported unrecoverable and gets no task', () => {
  let list = servers();
  for (const host of ['s-0-0-0', 's-0-1-0', 's-0-2-0']) list = withState(list, host, 'down');
  const plan = planRepairs(input({ servers: list }));
  assert.deepEqual(plan.unrecoverable, ['a']);
  assert.ok(plan.tasks.every((t) => t.stripeId !== 'a'));
  assert.ok(plan.waiting.some((w) => w.stripeId === 'a' && /sources/.test(w.why)));
});

test('a shard is deleted only after its replacement is committed', () => {
  const list = withState(servers(), 's-0-0-0', 'down');
  const [task] = planRepairs(input({ servers: list })).tasks;
  const stripe = input().stripes[0];
  assert.throws(() => advanceTask(task, 'released'), /not allowed in phase rebuild/);
  assert.throws(() => advanceTask(task, 'committed'), /not allowed in phase rebuild/);
  assert.throws(() => commitRepair(stripe, task), /only after its shard is rebuilt/);
  const rebuilt = advanceTask(task, 'rebuilt')!;
  assert.equal(mayDeleteShard(stripe, task.shardIndex, task.from), false, 'still in the record');
  const committed = commitRepair(stripe, rebuilt)!;
  assert.equal(mayDeleteShard(committed, task.shardIndex, task.from), true);
  assert.equal(mayDeleteShard(committed, task.shardIndex, task.target), false);
  const releasing = advanceTask(rebuilt, 'committed')!;
  assert.equal(releasing.phase, 'release');
  assert.equal(advanceTask(releasing, 'failed')?.phase, 'release', 'a failed delete is retried');
  assert.equal(advanceTask(releasing, 'released')?.phase, 'done');
  assert.equal(advanceTask(task, 'failed'), undefined, 'a failed rebuild is abandoned');
});

test('a commit from a location the record no longer has is refused', () => {
  const list = withState(servers(), 's-0-0-0', 'down');
  const [task] = planRepairs(input({ servers: list })).tasks;
  const stripe = input().stripes[0];
  const moved = {
    ...stripe,
    shards: stripe.shards.map((s, i) => (i === 0 ? { serverId: 'x', disk: 0 } : s)),
  };
  assert.equal(commitRepair(moved, advanceTask(task, 'rebuilt')!), undefined);
});
