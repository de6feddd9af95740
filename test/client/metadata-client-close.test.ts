// A closed MetadataClient gives up the calls it was retrying. They went on until their deadline
// (30 s by default), each backoff a timer that kept the process alive: a metadata member stopped
// after its peers did not exit within 20 s of SIGTERM while its repair driver's read retried.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { freePort } from '../helpers/metadata-cluster.ts';

// The bound is the test's timeout, far below the call's own deadline: before the fix the call
// only failed at that deadline, so the test timed out.
test('close ends a call that is retrying members that are gone', { timeout: 20_000 }, async () => {
  // Nothing listens there: every attempt fails with a retryable error.
  const addrs = [`127.0.0.1:${await freePort()}`, `127.0.0.1:${await freePort()}`];
  const metadata = new MetadataClient(addrs, { timeoutMs: 60_000 });
  const call = metadata.read('dataServers');
  // Let it fail over and back off at least once before the close.
  await new Promise((r) => setTimeout(r, 200));
  await metadata.close();
  await assert.rejects(call, (error: Error & { code?: string }) => {
    assert.equal(error.code, 'RPC_UNAVAILABLE');
    assert.match(error.message, /closed/);
    return true;
  });
});
