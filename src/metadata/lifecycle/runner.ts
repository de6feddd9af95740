// Carries out the buckets' lifecycle rules on the metadata leader: walks the buckets that have
// rules, a bounded batch of keys per tick, and proposes an applyLifecycle command for each key or
// upload the rules act on now. The state machine takes the decision again when the command
// applies (ops-lifecycle.ts), so this is only a search for work: its cursor lives in memory, and
// a new leader starts a fresh walk, which re-finds whatever was not done (every action is
// idempotent: an expired version is gone, a key whose rules no longer act is left alone).
import assert from 'node:assert/strict';
import type { Logger } from '../../observability/logger.ts';
import {
  lifecycleErrors,
  lifecycleObjectsExpired,
  lifecycleSkippedLocked,
  lifecycleUploadsAborted,
  lifecycleVersionsExpired,
} from '../../observability/metrics.ts';
import type { MetadataCommitter } from '../scrubber.ts';
import type {
  BucketInfo,
  Command,
  LifecycleKeyFacts,
  LifecycleOutcome,
  LifecycleTiming,
  LifecycleVersionFacts,
} from '../types.ts';
import { decideKey, decideUpload, type LifecycleAction } from './decide.ts';

export interface LifecycleRunnerOptions {
  timing: LifecycleTiming;
  tickMs: number; // one batch per tick
  keysPerTick: number; // keys judged per tick (local reads)
  commandsPerTick: number; // commands proposed per tick (Raft entries)
  passPauseMs: number; // after a walk over every bucket, the next starts this much later
}

// A day of rules is a day: the walk need not run often. Ten minutes after a pass the next one
// starts, a shorter time under a test day; each tick judges at most a thousand keys (an LMDB
// read each) and proposes at most a hundred commands, so a large namespace costs the leader a
// bounded share of its time and of the Raft log's rate.
export function runnerOptions(timing: LifecycleTiming): LifecycleRunnerOptions {
  const test = !timing.roundToMidnight;
  return {
    timing,
    tickMs: test ? 200 : 1000,
    keysPerTick: 1000,
    commandsPerTick: 100,
    passPauseMs: Math.min(Math.floor(timing.dayMs / 4), 600_000),
  };
}

interface Cursor {
  bucket: string;
  keyMarker?: string;
  phase: 'keys' | 'uploads';
}

// What one applyLifecycle command acts on.
interface Target {
  bucket: string;
  key?: string;
  uploadId?: string;
}

// A command refused because a mount holds the key's directory (EDELEGATED) is proposed again on
// the following ticks, ahead of the walk, while the mount gives the directory back (the service
// asked it to, and grants it to no one for a while after): up to this many times, then it is
// left to the next pass, logged and counted as an error.
const DELEGATED_TRIES_MAX = 50;

const locked = (v: LifecycleVersionFacts, nowMs: number) =>
  v.legalHold === true || (v.retention !== undefined && v.retention.untilMs > nowMs);

export class LifecycleRunner {
  private readonly metadata: MetadataCommitter;
  private readonly log: Logger;
  private readonly options: LifecycleRunnerOptions;
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;
  private cursor: Cursor | undefined;
  private pauseUntilMs = 0;
  private stopped = false;
  // Targets refused for a delegated directory, with the tries they had: proposed again first.
  private delegated: { target: Target; tries: number }[] = [];

  constructor(metadata: MetadataCommitter, log: Logger, options: LifecycleRunnerOptions) {
    assert(options.keysPerTick > 0 && options.commandsPerTick > 0, 'a tick does some work');
    this.metadata = metadata;
    this.log = log;
    this.options = options;
    this.timer = setInterval(() => {
      if (!metadata.isLeader()) {
        this.cursor = undefined; // a later leadership walks afresh
        this.delegated = [];
        return;
      }
      this.running ??= this.tick()
        .catch((error) => {
          lifecycleErrors.inc();
          this.log.warn('lifecycle tick failed', { error });
        })
        .finally(() => {
          this.running = undefined;
        });
    }, options.tickMs);
    this.timer.unref();
  }

  // One bounded batch of the walk.
  async tick(): Promise<void> {
    const budget = { keys: this.options.keysPerTick, commands: this.options.commandsPerTick };
    await this.proposeDelegatedAgain(budget);
    if (Date.now() < this.pauseUntilMs) return;
    while (budget.keys > 0 && budget.commands > 0 && !this.stopped) {
      const bucket = this.currentBucket();
      if (bucket === undefined) {
        this.cursor = undefined;
        this.pauseUntilMs = Date.now() + this.options.passPauseMs;
        return;
      }
      const cursor = this.cursor as Cursor;
      if (cursor.phase === 'keys') await this.walkKeys(bucket, cursor, budget);
      else if (await this.walkUploads(bucket, budget))
        this.cursor = { bucket: `${bucket.name}\0`, phase: 'keys' }; // the next bucket's turn
    }
  }

  // The bucket the cursor is in, or the next one with enabled rules (by name).
  private currentBucket(): BucketInfo | undefined {
    const withRules = this.metadata.reader
      .listBuckets()
      .filter((b) => b.lifecycle?.rules.some((r) => r.enabled) === true)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const at = this.cursor?.bucket ?? '';
    const bucket = withRules.find((b) => b.name >= at);
    if (bucket === undefined) return undefined;
    if (bucket.name !== this.cursor?.bucket) this.cursor = { bucket: bucket.name, phase: 'keys' };
    return bucket;
  }

  private async walkKeys(
    bucket: BucketInfo,
    cursor: Cursor,
    budget: { keys: number; commands: number },
  ): Promise<void> {
    const rules = bucket.lifecycle?.rules ?? [];
    if (!rules.some((r) => r.expiration !== undefined || r.noncurrentExpiration !== undefined)) {
      cursor.phase = 'uploads'; // only upload rules: no key to judge
      return;
    }
    const page = this.metadata.reader.listObjectVersions({
      bucket: bucket.name,
      prefix: '',
      keyMarker: cursor.keyMarker,
      maxKeys: Math.min(budget.keys, 1000),
    });
    const keys = [...new Set(page.versions.filter((v) => !v.isDirMarker).map((v) => v.key))];
    budget.keys -= Math.max(1, page.versions.length);
    for (const key of keys) {
      if (budget.commands === 0 || this.stopped) return; // this key again next tick
      const facts = this.metadata.reader.lifecycleFacts(bucket.name, key);
      if (facts !== undefined && (await this.judgeKey(bucket, facts))) budget.commands--;
      cursor.keyMarker = key;
    }
    // A truncated page's last key may be listed in part: its facts were read whole, so the next
    // page starts after it.
    if (!page.isTruncated) cursor.phase = 'uploads';
  }

  // Proposes the key's command when the rules act on it now; a version Object Lock keeps is
  // counted and not proposed for (it would be skipped by the state machine anyway, and a Raft
  // entry per locked version per pass would grow the log for nothing).
  private async judgeKey(bucket: BucketInfo, facts: LifecycleKeyFacts): Promise<boolean> {
    const nowMs = Date.now();
    const rules = bucket.lifecycle?.rules ?? [];
    const byId = new Map(facts.versions.map((v) => [v.versionId, v]));
    const isLockedAction = (a: LifecycleAction) =>
      a.kind !== 'expireCurrent' && locked(byId.get(a.versionId) as LifecycleVersionFacts, nowMs);
    const actions = decideKey(rules, facts, nowMs, this.options.timing);
    const lockedCount = actions.filter(isLockedAction).length;
    if (lockedCount > 0) lifecycleSkippedLocked.inc(lockedCount);
    if (actions.length === lockedCount) return false;
    await this.propose({ bucket: bucket.name, key: facts.key });
    return true;
  }

  // True once every due upload was proposed for; otherwise the next tick lists them again (the
  // ones aborted are gone by then).
  private async walkUploads(
    bucket: BucketInfo,
    budget: { keys: number; commands: number },
  ): Promise<boolean> {
    const rules = bucket.lifecycle?.rules ?? [];
    if (!rules.some((r) => r.abortIncompleteUploadDays !== undefined)) return true;
    const nowMs = Date.now();
    for (const upload of this.metadata.reader.listUploads(bucket.name)) {
      if (this.stopped || budget.commands === 0) return false;
      if (decideUpload(rules, upload, nowMs, this.options.timing) === undefined) continue;
      await this.propose({ bucket: bucket.name, uploadId: upload.uploadId });
      budget.commands--;
    }
    return true;
  }

  private async proposeDelegatedAgain(budget: { commands: number }): Promise<void> {
    const waiting = this.delegated;
    this.delegated = [];
    for (const [i, { target, tries }] of waiting.entries()) {
      if (budget.commands === 0 || this.stopped) {
        this.delegated.push(...waiting.slice(i));
        return;
      }
      budget.commands--;
      await this.propose(target, tries + 1);
    }
  }

  private async propose(target: Target, tries = 0) {
    const command: Command = {
      op: 'applyLifecycle',
      nowMs: Date.now(),
      timing: this.options.timing,
      ...target,
    };
    const result = await this.metadata.apply(command);
    if (!result.ok && result.code === 'EDELEGATED' && tries < DELEGATED_TRIES_MAX) {
      this.delegated.push({ target, tries });
      return;
    }
    if (!result.ok) {
      lifecycleErrors.inc();
      this.log.warn('lifecycle command refused', {
        ...target,
        code: result.code,
        message: result.message,
      });
      return;
    }
    const outcome = result.lifecycle as LifecycleOutcome;
    assert(outcome !== undefined, 'applyLifecycle answers what it did');
    lifecycleObjectsExpired.inc(outcome.objectsExpired);
    lifecycleVersionsExpired.inc(outcome.versionsExpired);
    lifecycleUploadsAborted.inc(outcome.uploadsAborted);
    lifecycleSkippedLocked.inc(outcome.skippedLocked);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
