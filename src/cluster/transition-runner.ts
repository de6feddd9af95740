// Lifecycle transitions on the metadata leader: walks the buckets whose rules have Transition or
// NoncurrentVersionTransition actions, asks the pure decision (decideTransitions) which versions
// move now, and for each re-encodes its data under the class's policy (src/client/reencode.ts:
// read k healthy shards per old stripe, write stripes of the wider code on the cold pool) and
// commits the switch with one transitionObject command, which checks the version still has
// exactly the stripes read and the rules still move it. The old stripes lose their reference in
// that command, so their shards are collected only after the commit.
//
// Idempotent and resumable: nothing of a transition survives the leader but what it committed.
// A new leader walks afresh; a version already moved is no longer due (its class is the
// target), and stripes a dead leader wrote but never committed are referenced by nothing, so
// the scrubber collects them as orphans. A refused commit deletes its new stripes at once.
// Object Lock does not stop a transition (it forbids removal, not a change of class): the
// version's bytes stay referenced by the old stripes until the new ones are committed.
import type { MetadataClient } from '../client/metadata-client.ts';
import type { StrataClient } from '../client/strata-client.ts';
import { isStrataError } from '../common/errors.ts';
import { decideTransitions } from '../metadata/lifecycle/decide.ts';
import type { BucketInfo, LifecycleTiming } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import { lifecycleTransitionShardBytes, lifecycleTransitions } from '../observability/metrics.ts';
import { LeaderPasses } from './leader-passes.ts';

export interface TransitionRunnerOptions {
  metadata: MetadataClient;
  client: StrataClient;
  timing: LifecycleTiming;
  log: Logger;
}

// One version at a time: a transition reads and writes all of a version's bytes, background work
// that should leave the disks to clients. A pass judges at most this many keys (one RPC each)
// before the next tick continues, so a leader change or stop is noticed within a page.
const KEYS_PER_PAGE = 100;

const hasTransitions = (b: BucketInfo) =>
  b.lifecycle?.rules.some(
    (r) => r.enabled && (r.transitions !== undefined || r.noncurrentTransitions !== undefined),
  ) === true;

export class TransitionRunner {
  private readonly options: TransitionRunnerOptions;
  private readonly log: Logger;
  private readonly passes: LeaderPasses;

  constructor(options: TransitionRunnerOptions) {
    this.options = options;
    this.log = options.log;
    this.passes = new LeaderPasses({
      task: 'transition',
      // A pass every quarter of a lifecycle day, at most every 10 minutes (every 250 ms at least).
      intervalMs: Math.max(250, Math.min(Math.floor(options.timing.dayMs / 4), 600_000)),
      runPass: () => this.runPass(),
      log: options.log,
    });
  }

  leadership(isLeader: boolean): void {
    this.passes.leadership(isLeader);
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  private async runPass(): Promise<void> {
    const buckets = (await this.options.metadata.read('listBuckets')).filter(hasTransitions);
    for (const bucket of buckets) {
      let keyMarker: string | undefined;
      for (;;) {
        if (!this.passes.leading) return;
        const page = await this.options.metadata.read('listObjectVersions', {
          bucket: bucket.name,
          prefix: '',
          keyMarker,
          maxKeys: KEYS_PER_PAGE,
        });
        const keys = [...new Set(page.versions.filter((v) => !v.isDirMarker).map((v) => v.key))];
        for (const key of keys) await this.judgeKey(bucket, key);
        if (!page.isTruncated || keys.length === 0) break;
        keyMarker = keys[keys.length - 1];
      }
    }
  }

  private async judgeKey(bucket: BucketInfo, key: string): Promise<void> {
    if (!this.passes.leading) return;
    const facts = await this.options.metadata.read('lifecycleFacts', bucket.name, key);
    if (facts === undefined) return;
    const rules = bucket.lifecycle?.rules ?? [];
    for (const action of decideTransitions(rules, facts, Date.now(), this.options.timing)) {
      if (!this.passes.leading) return;
      await this.transition(bucket.name, key, action.versionId, action.storageClass);
    }
  }

  private async transition(
    bucket: string,
    key: string,
    versionId: string,
    storageClass: Parameters<StrataClient['transitionObject']>[1],
  ): Promise<void> {
    const target = { bucket, key, versionId };
    const labels = { storage_class: storageClass };
    try {
      const done = await this.options.client.transitionObject(
        target,
        storageClass,
        this.options.timing,
      );
      lifecycleTransitions.inc({ ...labels, outcome: 'committed' });
      lifecycleTransitionShardBytes.inc({ side: 'before' }, done.shardBytesBefore);
      lifecycleTransitionShardBytes.inc({ side: 'after' }, done.shardBytesAfter);
      this.log.info('version transitioned', {
        ...target,
        storageClass,
        shardBytesBefore: done.shardBytesBefore,
        shardBytesAfter: done.shardBytesAfter,
      });
    } catch (error) {
      const refused = isStrataError(error, 'PRECONDITION_FAILED');
      lifecycleTransitions.inc({ ...labels, outcome: refused ? 'refused' : 'failed' });
      if (refused) this.log.info('transition refused: the version changed', { ...target, error });
      else this.log.warn('transition failed; retried at the next pass', { ...target, error });
    }
  }
}
