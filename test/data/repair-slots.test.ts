// A data server's bound on repair work per disk (src/data/repair-slots.ts): rebuilds and peers'
// repair reads beyond the bound wait their turn, in order; other disks do not wait; work whose
// caller gave up while it waited is not done.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import {
  REBUILDS_PER_DISK_MAX,
  REPAIR_READS_PER_DISK_MAX,
  RepairSlots,
} from '../../src/data/repair-slots.ts';

const FAR_MS = Date.now() + 60_000;
const turn = () => new Promise((r) => setImmediate(r));

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  return { open, opened };
}

for (const [kind, max] of [
  ['rebuild', REBUILDS_PER_DISK_MAX],
  ['read', REPAIR_READS_PER_DISK_MAX],
] as const) {
  test(`${kind}: at most ${max} per disk run at once, the next starts as one ends`, async () => {
    const slots = new RepairSlots(2);
    const started: number[] = [];
    const gates = Array.from({ length: max + 2 }, gate);
    const runs = gates.map((g, i) =>
      slots[kind](0, FAR_MS, async () => {
        started.push(i);
        await g.opened;
        return i;
      }),
    );
    // Another disk is not held up by disk 0's queue.
    assert.equal(await slots[kind](1, FAR_MS, async () => 'other'), 'other');
    await turn();
    assert.deepEqual(started, [...Array(max).keys()]);
    gates[0].open();
    assert.equal(await runs[0], 0);
    await turn();
    assert.deepEqual(started, [...Array(max + 1).keys()]);
    for (const g of gates) g.open();
    assert.deepEqual(await Promise.all(runs), [...Array(max + 2).keys()]);
  });
}

test('work whose deadline passed while it waited is refused RPC_TIMEOUT, not done', async () => {
  const slots = new RepairSlots(1);
  const held = Array.from({ length: REBUILDS_PER_DISK_MAX }, gate);
  const running = held.map((g) => slots.rebuild(0, FAR_MS, () => g.opened));
  let done = false;
  const late = slots.rebuild(0, Date.now() + 5, async () => {
    done = true;
  });
  await new Promise((r) => setTimeout(r, 20));
  for (const g of held) g.open();
  await Promise.all(running);
  await assert.rejects(late, (e) => isStrataError(e, 'RPC_TIMEOUT'));
  assert.equal(done, false);
  assert.throws(
    () => slots.read(3, FAR_MS, async () => 0),
    (e) => isStrataError(e, 'EINVAL'),
  );
});
