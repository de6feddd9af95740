// The repair driver's replanning window (plan-window.ts): the head of the priority order, in its
// order, refilled from the stripes deferred; and, driven as the driver drives it with the real
// scheduler, every lost shard rebuilt once, the order kept, each replan over a bounded set.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PlacementServer } from '../../../src/metadata/placement/index.ts';
import {
  PlanWindow,
  planRepairs,
  type RepairPlan,
  type RepairStripe,
  type RepairTask,
} from '../../../src/metadata/repair/index.ts';
import { cluster } from '../placement/topology.ts';

const throttled = (stripeId: string, shardIndex = 0) => ({
  stripeId,
  shardIndex,
  reason: 'lost' as const,
  why: 'throttled',
});
const plan = (waiting: RepairPlan['waiting'], tasks: string[] = []): RepairPlan => ({
  tasks: tasks.map((stripeId) => ({ stripeId }) as RepairTask),
  waiting,
  unrecoverable: [],
  unjudged: 0,
});
const never = () => false;

test('the window is the head of the order; the rest waits in order, and refills it', () => {
  const window = new PlanWindow(3);
  const first = window.next(plan(['a', 'b', 'c', 'd', 'e', 'f'].map((s) => throttled(s))), never);
  assert.deepEqual([...first], ['a', 'b', 'c']);
  assert.equal(window.deferredStripes, 3);
  assert.equal(window.unplanned, 0, 'the plan just looked at all three');
  // a was admitted: the plan over the window held b and c back; d joins them.
  const second = window.next(plan([throttled('b'), throttled('c')], ['a']), never);
  assert.deepEqual([...second], ['b', 'c', 'd']);
  assert.equal(window.deferredStripes, 2);
  assert.equal(window.unplanned, 1, 'd');
  // Nothing held back (all admitted): the next window is what was deferred.
  const third = window.next(plan([], ['b', 'c', 'd']), never);
  assert.deepEqual([...third], ['e', 'f']);
  assert.equal(window.deferredStripes, 0);
  assert.equal(window.unplanned, 2, 'nothing is left beyond the window, but e and f wait in it');
});

test('the last deferred stripe, once in the window, is still to be planned', () => {
  // The cluster simulator's seed 755 (tasksInFlightMax 1, rebalance moves): the driver ended its
  // walk when nothing was left beyond the window, and the stripe the window had just taken in
  // was never moved.
  const window = new PlanWindow(1);
  window.next(plan([throttled('x'), throttled('y')]), never);
  assert.deepEqual([...window.next(plan([], ['x']), never)], ['y']);
  assert.equal(window.deferredStripes, 0);
  assert.equal(window.unplanned, 1);
  assert.deepEqual([...window.next(plan([], ['y']), never)], []);
  assert.equal(window.unplanned, 0);
});

test('stripes waiting for another reason stay candidates outside the window', () => {
  const window = new PlanWindow(2);
  const waiting = [throttled('a'), { ...throttled('x'), why: 'no target' }, throttled('b')];
  const next = window.next(plan([...waiting, throttled('c')]), never);
  assert.deepEqual([...next].sort(), ['a', 'b', 'x']);
  assert.equal(window.deferredStripes, 1);
});

test('a deferred stripe that left the page, or that the plan saw again, is not kept twice', () => {
  const window = new PlanWindow(1);
  window.next(plan(['a', 'b', 'c', 'd'].map((s) => throttled(s))), never);
  // c's task ended elsewhere (the driver replanned it): it comes back held, ahead of b and d;
  // d failed in this page (gone).
  const next = window.next(plan([throttled('a'), throttled('c')]), (id) => id === 'd');
  assert.deepEqual([...next], ['a']);
  assert.equal(window.deferredStripes, 2, 'c and b, once each; d dropped');
  assert.deepEqual([...window.next(plan([], ['a']), never)], ['c']);
  assert.deepEqual([...window.next(plan([], ['c']), never)], ['b']);
});

test('the shards a plan did not list are counted once, in the window or beyond it', () => {
  const window = new PlanWindow(1);
  // All four needs are in this plan's waiting list (the queue counts them there): none extra.
  window.next(plan([throttled('a'), throttled('b', 0), throttled('b', 3), throttled('c')]), never);
  assert.equal(window.deferredStripes, 2);
  assert.equal(window.unplannedShards, 0);
  // a was admitted; the next plan looked at a only: b (2 shards, now in the window) and c
  // (beyond it) are not in its list.
  window.next(plan([], ['a']), never);
  assert.equal(window.deferredStripes, 1);
  assert.equal(window.unplannedShards, 3);
});

test('driven with the scheduler: each lost shard once, fewest spare first, small replans', () => {
  // 9 hosts of 2 disks in 3 racks. Host s-0-0-1 is in every stripe, s-0-1-2 only in the "b"
  // ones: with both down, a "b" stripe has lost 2 shards (none to spare), an "a" stripe 1.
  const hostsA = ['s-0-0-0', 's-0-0-1', 's-0-1-0', 's-0-1-1', 's-0-2-0', 's-0-2-1'];
  const hostsB = ['s-0-0-1', 's-0-0-2', 's-0-1-1', 's-0-1-2', 's-0-2-1', 's-0-2-2'];
  const down = new Set(['s-0-0-1', 's-0-1-2']);
  const servers: PlacementServer[] = cluster({
    zones: 1,
    racksPerZone: 3,
    hostsPerRack: 3,
    disksPerHost: 2,
  }).map((s) => (down.has(s.serverId) ? { ...s, state: 'down' } : s));
  const stripes = new Map<string, RepairStripe>();
  for (let i = 0; i < 400; i++) {
    const id = `s${String(i).padStart(3, '0')}`;
    const hosts = i % 3 === 0 ? hostsB : hostsA;
    stripes.set(id, {
      id,
      k: 4,
      m: 2,
      shardSizeBytes: 1 << 20,
      shards: hosts.map((serverId) => ({ serverId, disk: 0 })),
    });
  }
  const lostShards = [...stripes.values()].reduce(
    (sum, s) => sum + s.shards.filter((l) => down.has(l.serverId)).length,
    0,
  );
  const window = new PlanWindow(16);
  const running: RepairTask[] = [];
  const started: RepairTask[] = [];
  const planSizes: number[] = [];
  let candidates: Set<string> | undefined;
  const ended = new Set<string>();
  for (let turn = 0; turn < 10_000; turn++) {
    const list = [...stripes.values()].filter(
      (s) => candidates === undefined || candidates.has(s.id) || ended.has(s.id),
    );
    planSizes.push(list.length);
    ended.clear();
    const result = planRepairs({
      stripes: list,
      servers,
      findings: [],
      inFlight: running,
      strategy: 'spread-domains',
      limits: { tasksInFlightMax: 8, bytesInFlightMax: 2 ** 40 },
    });
    running.push(...result.tasks);
    started.push(...result.tasks);
    candidates = window.next(result, never);
    const held = result.waiting.some((w) => w.why === 'throttled');
    if (!held && window.unplanned === 0 && running.length === 0) break;
    // Two tasks end (the oldest), committed: the shard is at its target now.
    for (const task of running.splice(0, held ? 2 : running.length)) {
      const stripe = stripes.get(task.stripeId) as RepairStripe;
      const shards = stripe.shards.map((l, i) => (i === task.shardIndex ? task.target : l));
      stripes.set(stripe.id, { ...stripe, shards });
      ended.add(stripe.id);
    }
  }
  assert.equal(started.length, lostShards, 'one task per lost shard');
  assert.equal(new Set(started.map((t) => t.id)).size, started.length, 'none twice');
  const firstA = started.findIndex((t) => t.spareShards === 1);
  const lastB = started.findLastIndex((t) => t.spareShards === 0);
  assert.ok(lastB < firstA, 'every stripe with no spare shard started before one with a spare');
  assert.equal(planSizes[0], 400, 'the first plan judges the page');
  assert.ok(
    planSizes.slice(1).every((n) => n <= 16 + 8),
    `later plans take the window and the ended stripes only: ${Math.max(...planSizes.slice(1))}`,
  );
});
