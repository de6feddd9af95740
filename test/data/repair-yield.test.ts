// Repair yields to a data server's clients (src/data/repair-yield.ts): AIMD on the repair work
// admitted at once, down while client reads wait on a lagging event loop, back up otherwise;
// and the resizable slots that carry the level (src/common/slots.ts, src/data/repair-slots.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Slots } from '../../src/common/slots.ts';
import { READS_PER_LEVEL, RepairSlots } from '../../src/data/repair-slots.ts';
import { LAG_TARGET_MS_MIN, RepairYield } from '../../src/data/repair-yield.ts';

const quiet = { lagMs: 2, clientReads: 0, repairBusy: false };
const hurting = { lagMs: 80, clientReads: 5, repairBusy: true };

test('clients reading on a lagging loop halve the level down to 1; it never goes lower', () => {
  const y = new RepairYield(8);
  assert.equal(y.level, 8, 'a quiet server repairs at full speed from the start');
  assert.deepEqual(
    [1, 2, 3, 4, 5].map(() => y.observe(hurting)),
    [4, 2, 1, 1, 1],
  );
});

test('once clients are not hurt, the level grows back by one per window up to its maximum', () => {
  const y = new RepairYield(4);
  y.observe(hurting);
  y.observe(hurting);
  assert.equal(y.level, 1);
  const calm = { lagMs: 3, clientReads: 5, repairBusy: true };
  assert.deepEqual(
    [1, 2, 3, 4].map(() => y.observe(calm)),
    [2, 3, 4, 4],
  );
});

test('lag with no client reads is not a reason to yield: nobody is waiting', () => {
  const y = new RepairYield(4);
  assert.equal(y.observe({ lagMs: 500, clientReads: 0, repairBusy: true }), 4);
});

test("the target follows the machine's own lag, measured while no repair runs here", () => {
  const y = new RepairYield(4);
  assert.equal(y.targetLagMs, LAG_TARGET_MS_MIN);
  // A busy machine: 40 ms of lag with no repair here. Its baseline rises, and so does the target,
  // so repair is not stopped for lag it does not cause.
  for (let i = 0; i < 60; i++) y.observe({ lagMs: 40, clientReads: 3, repairBusy: false });
  assert.ok(y.targetLagMs > 70, `target ${y.targetLagMs} ms`);
  assert.equal(y.observe({ lagMs: 60, clientReads: 3, repairBusy: true }), 4);
  // Windows with repair running do not move the baseline: repair's own lag is what is judged.
  for (let i = 0; i < 60; i++) y.observe({ lagMs: 300, clientReads: 0, repairBusy: true });
  assert.ok(y.targetLagMs < 90, `target ${y.targetLagMs} ms`);
  assert.equal(y.observe({ lagMs: 300, clientReads: 3, repairBusy: true }), 2);
});

test('a quiet window does not move the target below its floor', () => {
  const y = new RepairYield(2);
  for (let i = 0; i < 100; i++) y.observe(quiet);
  assert.equal(y.targetLagMs, LAG_TARGET_MS_MIN);
});

test('slots resized down keep their holders and start no waiter until below the new bound', async () => {
  const slots = new Slots(3);
  const held = await Promise.all([slots.acquire(), slots.acquire(), slots.acquire()]);
  const started: number[] = [];
  const waiters = [0, 1].map(async (i) => {
    const release = await slots.acquire();
    started.push(i);
    return release;
  });
  slots.resize(1);
  held[0]();
  held[1]();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [], 'two holders gone, one left: at the bound of 1, none starts');
  held[2]();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0]);
  slots.resize(2); // raised: the next waiter starts at once
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1]);
  for (const release of await Promise.all(waiters)) release();
  assert.equal(slots.inUse, 0);
});

test('at yield level 1 a data server runs one rebuild at a time over all its disks', async () => {
  const slots = new RepairSlots(2);
  slots.setYieldLevel(1);
  let running = 0;
  let most = 0;
  const work = async () => {
    running++;
    most = Math.max(most, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
  };
  const far = Date.now() + 60_000;
  await Promise.all([0, 1, 0, 1].map((disk) => slots.rebuild(disk, far, work)));
  assert.equal(most, 1);
  most = 0;
  await Promise.all([0, 1, 0, 1, 0, 1].map((disk) => slots.read(disk, far, work)));
  assert.equal(most, READS_PER_LEVEL);
  slots.setYieldLevel(slots.levelMax);
  most = 0;
  await Promise.all([0, 1, 0, 1].map((disk) => slots.rebuild(disk, far, work)));
  assert.equal(most, 4, 'at the top level, every disk its 2 rebuilds');
  assert.equal(slots.busy, false);
});

test('a window whose lag was not measured neither hurts nor moves the baseline', () => {
  const y = new RepairYield(4);
  y.observe(hurting);
  assert.equal(y.level, 2);
  // Clients reading, repair busy, lag unknown: the level grows back as in a calm window.
  assert.equal(y.observe({ lagMs: undefined, clientReads: 5, repairBusy: true }), 3);
  const target = y.targetLagMs;
  for (let i = 0; i < 60; i++) y.observe({ lagMs: undefined, clientReads: 3, repairBusy: false });
  assert.equal(y.targetLagMs, target, 'no baseline from windows not measured');
  assert.throws(() => y.observe({ lagMs: -1, clientReads: 0, repairBusy: false }), /a duration/);
});
