// The end of the scale benchmark: a follower killed -9 and brought back after the leader has
// compacted past it (so it must take a snapshot), and `find` over a mount of the grown tree.
import assert from 'node:assert/strict';
import type { StrataClient } from '../../src/client/strata-client.ts';
import { ROOT_INO } from '../../src/metadata/types.ts';
import { canMount, sh, startMount } from '../../test/helpers/mount.ts';
import type { ScaleCluster } from './cluster.ts';
import { BUCKET, BulkLoader, dirName, FILES_PER_DIR } from './load.ts';
import { scrapeMetrics } from './probes.ts';
import { formatSeconds } from './report.ts';

// Bounds on the catch-up phase: entries written while the follower is down (the leader must
// compact at least once in them), and the time allowed for the follower to catch up.
const CATCH_UP_ENTRIES_MAX = 1_000_000;
const CATCH_UP_WAIT_MS = 10 * 60_000;
const POLL_MS = 100;

export interface CatchUpResult {
  followerId: number;
  logIndexAtKill: number; // the follower's last log index when it was killed
  leaderSnapshotIndex: number; // the leader's last compaction when the follower came back
  snapshotMissed: boolean; // the leader compacted past the follower's log
  entriesWhileDown: number;
  readyMs: number; // process start to "Ready."
  caughtUpMs: number; // process start to applied >= the leader's commit index
  installedSnapshot: boolean; // its log now starts after a point it never had
  // strata_metadata_snapshots_total{origin="installed"} of the restarted follower (NaN: no answer)
  snapshotsInstalled: number;
  statusAnswerMaxMs: number; // slowest answer to a Raft status request while catching up
  statusPolls: number; // status requests after "Ready." (0: it was caught up when ready)
}

interface Options {
  clients: number;
  catchUpLoadTimeoutMs: number;
  print: (line: string) => void;
}

export async function catchUpAfterKill(
  cluster: ScaleCluster,
  clients: StrataClient[],
  options: Options,
): Promise<{ result: CatchUpResult; loader: BulkLoader }> {
  const { id: leaderId } = await cluster.leader();
  const followerId = cluster.nodes.find((n) => n.id !== leaderId)?.id as number;
  const before = await cluster.status(followerId);
  assert.ok(before, `follower ${followerId} answers before it is killed`);
  await cluster.killNode(followerId);

  const bucketIno = (await clients[0].lookup(ROOT_INO, BUCKET)).ino;
  const dirIno = (await clients[0].mkdirAt(bucketIno, 'catchup', 0o755, { uid: 0, gid: 0 })).inode
    .ino;
  const loader = new BulkLoader(CATCH_UP_ENTRIES_MAX);
  const loading = loader.run(clients, dirIno, options.clients);
  const deadline = Date.now() + options.catchUpLoadTimeoutMs;
  let leaderSnapshotIndex = 0;
  while (!loader.claimedAll && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    leaderSnapshotIndex = ((await cluster.status(leaderId))?.firstIndex ?? 1) - 1;
    if (leaderSnapshotIndex > before.lastIndex) break;
  }
  loader.stop();
  await loading;
  const snapshotMissed = leaderSnapshotIndex > before.lastIndex;
  options.print(
    `follower ${followerId} killed at log index ${before.lastIndex}; ${loader.ackedCount} ` +
      `entries written while down; leader snapshot at ${leaderSnapshotIndex}` +
      (snapshotMissed ? '' : ' (NOT past the follower: no snapshot missed)'),
  );

  const started = performance.now();
  await cluster.startNode(followerId);
  const readyMs = performance.now() - started;
  const target = (await cluster.status(leaderId))?.commitIndex ?? Number.POSITIVE_INFINITY;
  let statusAnswerMaxMs = 0;
  let statusPolls = 0;
  let after = await cluster.status(followerId);
  while (!after || after.appliedIndex < target) {
    assert.ok(
      performance.now() - started < CATCH_UP_WAIT_MS,
      `caught up: ${JSON.stringify(after)}`,
    );
    cluster.assertAlive();
    await new Promise((r) => setTimeout(r, POLL_MS));
    const asked = performance.now();
    after = await cluster.status(followerId);
    statusPolls++;
    statusAnswerMaxMs = Math.max(statusAnswerMaxMs, performance.now() - asked);
  }
  const caughtUpMs = performance.now() - started;
  const metrics = await scrapeMetrics(cluster.node(followerId).process?.metricsUrl ?? '');
  const result: CatchUpResult = {
    followerId,
    logIndexAtKill: before.lastIndex,
    leaderSnapshotIndex,
    snapshotMissed,
    entriesWhileDown: loader.ackedCount,
    readyMs,
    caughtUpMs,
    installedSnapshot: after.firstIndex - 1 > before.lastIndex,
    snapshotsInstalled: metrics?.snapshotsInstalledTotal ?? Number.NaN,
    statusAnswerMaxMs,
    statusPolls,
  };
  options.print(
    `follower catch-up: ready ${formatSeconds(readyMs)}, caught up ${formatSeconds(caughtUpMs)} ` +
      `after start (installed a snapshot: ${result.installedSnapshot}, ` +
      `${result.snapshotsInstalled} by its counter; ` +
      (statusPolls === 0
        ? 'caught up when ready)'
        : `slowest of ${statusPolls} status answers ${statusAnswerMaxMs.toFixed(0)} ms)`),
  );
  return { result, loader };
}

export interface FindResult {
  dirs: number;
  lines: number; // paths find printed
  expected: number; // the directories and their acknowledged files
  elapsedMs: number;
}

// `find` over the first directories of the bulk load through a FUSE mount (root and /dev/fuse).
export async function findOverMount(
  cluster: ScaleCluster,
  options: { entries: number; findEntries: number; print: (line: string) => void },
  expectedFiles: (dirs: number) => number,
): Promise<FindResult | undefined> {
  if (!canMount) {
    options.print('find over a mount: skipped (needs root and /dev/fuse)');
    return undefined;
  }
  const dirs = Math.ceil(Math.min(options.findEntries, options.entries) / FILES_PER_DIR);
  const mount = await startMount(cluster.addrs.join(','));
  try {
    const root = `${mount.mountPoint}/${BUCKET}/bulk`;
    const paths = Array.from({ length: dirs }, (_, d) => `'${root}/${dirName(d)}'`).join(' ');
    const started = performance.now();
    const found = sh(`find ${paths} | wc -l`, { timeoutMs: 30 * 60_000 });
    const elapsedMs = performance.now() - started;
    assert.equal(found.status, 0, `find over the mount: ${found.stderr}`);
    const result = {
      dirs,
      lines: Number(found.stdout.trim()),
      expected: dirs + expectedFiles(dirs),
      elapsedMs,
    };
    options.print(
      `find over a mount: ${result.lines} paths (expected ${result.expected}) in ` +
        `${formatSeconds(elapsedMs)}, ${(result.lines / (elapsedMs / 1000)).toFixed(0)} entries/s`,
    );
    return result;
  } finally {
    await mount.stop();
  }
}
