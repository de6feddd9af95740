// The short form of the scale benchmark (benches/scale): a few thousand entries on a 3-member
// cluster of combined nodes with a snapshot every 64 KiB of Raft log (a few hundred creates), so
// that several snapshots happen
// while the steady load runs and a follower killed -9 misses one. Only invariants are asserted,
// never timings: no election without a failure, every acknowledged entry present on every
// member, the follower catches up by a snapshot.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runScaleBench } from '../../benches/scale/bench.ts';
import { formatFlatness } from '../../benches/scale/report.ts';
import { canMount } from '../helpers/mount.ts';

const ENTRIES = 3000;
// metadata.raft_snapshot_log_bytes: a create is a few hundred bytes of log, so the 3,000 entries
// (and the steady load beside them) pass each member's staggered threshold several times.
const SNAPSHOT_LOG_BYTES = 64 * 1024;
const SNAPSHOTS_MIN = 3;

test('a namespace grown under steady load keeps its leader, its entries and its followers', async (t) => {
  const printed: string[] = [];
  const result = await runScaleBench({
    entries: ENTRIES,
    windowSeconds: 3,
    clients: 64,
    mixedLoops: 4,
    mixedOpsPerSecond: 100,
    baselineWindows: 1,
    snapshotLogBytes: SNAPSHOT_LOG_BYTES,
    skipMount: !canMount,
    findEntries: 2000,
    catchUpLoadTimeoutMs: 60_000,
    keep: false,
    print: (line) => printed.push(line),
  });
  // The summary as `npm run bench:scale` prints it (formatted here so that its code runs too).
  printed.push(formatFlatness(result.flatness));
  const figures = `\n${printed.join('\n')}`;
  t.diagnostic(`figures (informative, not asserted):${figures}`);

  assert.equal(
    result.load.errors,
    0,
    `bulk creates failed (last: ${result.load.lastError})${figures}`,
  );
  assert.equal(result.load.acked, ENTRIES, `every bulk create acknowledged${figures}`);
  assert.equal(result.growth.mixedErrors, 0, `the steady load had errors${figures}`);
  const { growth } = result;
  const leader = growth.snapshotsTaken.find((n) => n.id === growth.leaderId);
  assert.ok(leader, `a leader at the end of the growth${figures}`);
  assert.ok(
    leader.taken >= SNAPSHOTS_MIN,
    `several snapshots on the leader during the growth: ${JSON.stringify(growth.snapshotsTaken)}${figures}`,
  );

  // No election without a failure: the term and the leader stay what they were.
  assert.equal(result.growth.termAfter, result.growth.termBefore, `term changed${figures}`);
  assert.equal(result.growth.leaderChanges, 0, `leader changes during the growth${figures}`);

  // The follower killed -9 was passed by a snapshot, and came back by installing one.
  const { catchUp } = result;
  assert.ok(catchUp.snapshotMissed, `the leader compacted past the dead follower${figures}`);
  assert.ok(catchUp.installedSnapshot, `the follower installed a snapshot${figures}`);
  assert.ok(
    catchUp.snapshotsInstalled >= 1,
    `the follower counted an installed snapshot: ${catchUp.snapshotsInstalled}${figures}`,
  );
  assert.ok(catchUp.entriesWhileDown > 0, `entries were written while it was down${figures}`);

  // Every acknowledged entry: in the full ListObjectsV2 scan after a full restart, in every
  // member's own state, and (as root) under a mount.
  assert.equal(result.listScan.missing, 0, `acknowledged entries missing from the scan${figures}`);
  for (const member of result.membersMissing) {
    assert.equal(
      member.missing,
      0,
      `acknowledged entries missing on member ${member.id}${figures}`,
    );
  }
  assert.equal(result.membersMissing.length, 3);
  if (result.find) assert.equal(result.find.lines, result.find.expected, `find${figures}`);
});
