import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SendTracker } from '../../src/client/send-tracker.ts';

test('a send tracker is idle once every begun send has ended, each end counted once', async () => {
  const sends = new SendTracker();
  await sends.idle(); // nothing begun: idle at once
  const a = sends.begin();
  const b = sends.begin();
  let idle = false;
  const waiting = sends.idle().then(() => {
    idle = true;
  });
  a();
  a(); // a second call of the same end changes nothing
  await new Promise((r) => setImmediate(r));
  assert.equal(idle, false, 'one send still in flight');
  assert.equal(sends.inFlight, 1);
  b();
  await waiting;
  assert.equal(idle, true);
  assert.equal(sends.inFlight, 0);
});
