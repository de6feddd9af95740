// A leader's appends leave before its own write of the same entries is durable (replica.ts,
// leadingAppends), so followers write in parallel with it; nothing is applied or answered before a
// quorum, the leader's own write included or not, holds the entries. Three members in this
// process over real RPC; the leader's write is held up by filling the libuv threadpool (its log
// writes go through it) with opens of FIFOs that no writer has opened yet.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, open, openSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startReplicaTrio } from '../helpers/replica-trio.ts';
import { tempDir } from '../helpers/server.ts';
import { until as waitUntil } from '../helpers/wait.ts';

const caller = { uid: 0, gid: 0 };

const until = (what: string, check: () => boolean) =>
  waitUntil(what, async () => (check() ? true : undefined), { limitMs: 10_000, intervalMs: 5 });

test("a leader's appends reach the followers while its own write is still on its way to the disk", async () => {
  // Elections far apart (the trio's): a leader whose Readies wait on its write sends no heartbeats.
  const trio = await startReplicaTrio('strata-leading');
  const { members } = trio;
  const blockers: string[] = [];
  try {
    await until('a leader', () => members.some((m) => m.replica.isLeader));
    const leader = members.find((m) => m.replica.isLeader);
    assert.ok(leader);
    const followers = members.filter((m) => m !== leader);
    const bucket = await leader.replica.propose({
      command: { op: 'createBucket', nowMs: 1, name: 'b', owner: 'o', caller },
    });
    assert.ok(bucket.ok);
    await until('the followers applied the bucket', () =>
      followers.every((f) => f.stateMachine.appliedIndex() >= leader.stateMachine.appliedIndex()),
    );

    // Every threadpool thread waits in open() of a FIFO: no Raft log write can complete here.
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const dir = tempDir('strata-leading-fifo-');
    for (let i = 0; i < threads; i++) {
      const fifo = join(dir, `fifo-${i}`);
      execFileSync('mkfifo', [fifo]);
      blockers.push(fifo);
      open(fifo, 'r', (error, fd) => {
        if (!error) closeSync(fd);
      });
    }
    let answered = false;
    const created = leader.replica
      .propose({
        command: {
          op: 'create',
          nowMs: 2,
          parent: bucket.inode?.ino as number,
          name: 'f',
          mode: 0o644,
          caller,
          exclusive: true,
        },
      })
      .finally(() => {
        answered = true;
      });
    const index = leader.replica.raft.status().lastIndex;
    await until('the entry at both followers while the leader writes it', () =>
      followers.every((f) => f.replica.raft.status().lastIndex >= index),
    );
    // No member could write it yet: nothing is committed, applied or answered.
    assert.equal(answered, false);
    for (const m of members) assert.ok(m.stateMachine.appliedIndex() < index);

    for (const fifo of blockers.splice(0)) closeSync(openSync(fifo, 'w'));
    const result = await created;
    assert.ok(result.ok);
    await until('every member applied the create', () =>
      members.every((m) => m.stateMachine.appliedIndex() >= index),
    );
  } finally {
    for (const fifo of blockers) closeSync(openSync(fifo, 'w'));
    await trio.close();
  }
});
