// Restores on the metadata leader: walks the files with a restore recorded (the state machine's
// restore index, pendingRestores) and for each
// - waiting for its copy, once the tier's delay has passed: re-encodes the archived stripes as
//   STANDARD stripes on the default pool (read k healthy shards of each, verify the MD5 ETag:
//   src/client/reencode.ts) and commits them with one commitRestoredCopy command, which checks
//   the file still has exactly the archived stripes read and still waits for that copy;
// - whose copy has expired: proposes expireRestoredCopy, which drops the record and the copy's
//   references in one command, so its shards are collected only after that commit.
//
// Idempotent and resumable, as the transition runner: a new leader walks afresh; a copy a dead
// leader wrote but never committed is referenced by nothing (the scrubber collects it as an
// orphan), and a refused commit deletes its new stripes at once.
import assert from 'node:assert/strict';
import type { MetadataClient } from '../client/metadata-client.ts';
import type { StrataClient } from '../client/strata-client.ts';
import { isStrataError } from '../common/errors.ts';
import { restoreStatus } from '../metadata/storage-class.ts';
import type { Inode, LifecycleTiming } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { restoreCopies, restoreCopiesExpired } from '../observability/metrics.ts';
import { LeaderPasses } from './leader-passes.ts';

export interface RestoreRunnerOptions {
  metadata: MetadataClient;
  client: StrataClient;
  timing: LifecycleTiming;
  log: Logger;
}

// Files read per RPC; the copies themselves go one at a time (all of a version's bytes are read
// and written: background work that should leave the disks to clients).
const FILES_PER_PAGE = 100;
// A copy that failed (a pool unreachable, a KMS key disabled) is tried again after a delay that
// doubles up to a minute, so a broken one does not re-read the archive every second. At most
// this many files are remembered (a new leader forgets them all).
const RETRY_DELAY_MS_FIRST = 1_000;
const RETRY_DELAY_MS_MAX = 60_000;
const RETRIES_REMEMBERED_MAX = 10_000;

export class RestoreRunner {
  private readonly options: RestoreRunnerOptions;
  private readonly log: Logger;
  private readonly passes: LeaderPasses;
  private readonly retryAt = new Map<number, { atMs: number; delayMs: number }>();

  constructor(options: RestoreRunnerOptions) {
    this.options = options;
    this.log = options.log;
    this.passes = new LeaderPasses({
      task: 'restore',
      // A pass every second: the shortest tier delay is a minute in production, seconds in tests.
      intervalMs: 1000,
      runPass: () => this.runPass(),
      log: options.log,
      onLeadership: (isLeader) => {
        if (!isLeader) this.retryAt.clear();
      },
    });
  }

  leadership(isLeader: boolean): void {
    this.passes.leadership(isLeader);
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  private async runPass(): Promise<void> {
    let afterIno = 0;
    for (;;) {
      if (!this.passes.leading) return;
      const page = await this.options.metadata.read('pendingRestores', afterIno, FILES_PER_PAGE);
      for (const file of page) {
        if (!this.passes.leading) return;
        await this.judge(file);
      }
      if (page.length < FILES_PER_PAGE) return;
      const last = page[page.length - 1].ino;
      assert(last > afterIno, 'the restore index is walked in inode order');
      afterIno = last;
    }
  }

  private async judge(file: Inode): Promise<void> {
    const restore = file.object?.restore;
    assert(restore !== undefined, 'pendingRestores lists files with a restore');
    const nowMs = Date.now();
    if (restoreStatus(restore, nowMs) === 'expired') return this.expire(file);
    const waiting = restore.days !== undefined && restore.copyIno === undefined;
    const retry = this.retryAt.get(file.ino);
    if (waiting && restore.readyAtMs <= nowMs && (retry === undefined || retry.atMs <= nowMs))
      return this.copy(file);
  }

  private async copy(file: Inode): Promise<void> {
    const target = { ino: file.ino, storageClass: file.object?.storageClass };
    try {
      const done = await this.options.client.copyForRestore(file, this.options.timing);
      this.retryAt.delete(file.ino);
      restoreCopies.inc({ outcome: 'committed' });
      this.log.info('restored copy committed', {
        ...target,
        shardBytesArchived: done.shardBytesBefore,
        shardBytesCopy: done.shardBytesAfter,
      });
    } catch (error) {
      const refused = isStrataError(error, 'PRECONDITION_FAILED');
      restoreCopies.inc({ outcome: refused ? 'refused' : 'failed' });
      if (refused)
        this.log.info('restored copy refused: the version changed', { ...target, error });
      else {
        const delayMs = this.postpone(file.ino);
        this.log.warn('restored copy failed; retried later', { ...target, delayMs, error });
      }
    }
  }

  private postpone(ino: number): number {
    const before = this.retryAt.get(ino)?.delayMs;
    const delayMs =
      before === undefined ? RETRY_DELAY_MS_FIRST : Math.min(before * 2, RETRY_DELAY_MS_MAX);
    if (!this.retryAt.has(ino) && this.retryAt.size >= RETRIES_REMEMBERED_MAX) return 0;
    this.retryAt.set(ino, { atMs: Date.now() + delayMs, delayMs });
    return delayMs;
  }

  private async expire(file: Inode): Promise<void> {
    try {
      await this.options.client.expireRestoredCopy(file.ino);
      restoreCopiesExpired.inc();
      this.log.info('restored copy expired', { ino: file.ino });
    } catch (error) {
      // Refused: the restore was extended or renewed meanwhile; the next pass judges it again.
      if (!isStrataError(error, 'PRECONDITION_FAILED'))
        this.log.warn('restore expiry failed; retried at the next pass', { ino: file.ino, error });
    }
  }
}
