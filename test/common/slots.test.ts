import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Slots } from '../../src/common/slots.ts';

test('slots admit at most max holders, and waiters in arrival order', async () => {
  const slots = new Slots(2);
  const order: string[] = [];
  const a = await slots.acquire();
  const b = await slots.acquire();
  const c = slots.acquire().then((release) => {
    order.push('c');
    return release;
  });
  const d = slots.acquire().then((release) => {
    order.push('d');
    return release;
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(order, [], 'no third holder while two hold');
  a();
  const releaseC = await c;
  assert.deepEqual(order, ['c']);
  b();
  const releaseD = await d;
  assert.deepEqual(order, ['c', 'd']);
  releaseC();
  releaseD();
  assert.throws(() => releaseD(), /released once/);
  const again = await slots.acquire();
  again();
});
