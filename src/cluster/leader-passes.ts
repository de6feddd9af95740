// The loop every leader-only background task of a metadata member shares (restores, lifecycle
// transitions, bucket replication): while this member leads, a pass every interval; never two
// passes at once (a slow pass delays the next tick rather than overlapping it); a pass that fails
// reaches the log and `strata_leader_pass_failures_total`, and the next tick tries again; stop()
// waits for the pass in flight, so a stopping member never leaves one writing.
import assert from 'node:assert';
import type { Logger } from '../observability/logger.ts';
import { leaderPassFailures } from '../observability/metrics.ts';

export interface LeaderPassesOptions {
  // The task's name in the failure log line and the metric's `task` label.
  task: LeaderTask;
  intervalMs: number;
  // One pass; it should check `leading` between pages so a lost leadership ends it early.
  runPass: () => Promise<void>;
  log: Logger;
  // Called on each change of leadership, after `leading` changed (to reset gauges, forget retries).
  onLeadership?: (isLeader: boolean) => void;
}

// A fixed set: the metric's label values are these and nothing else.
export type LeaderTask = 'restore' | 'transition' | 'replication';

export class LeaderPasses {
  private readonly options: LeaderPassesOptions;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private isLeading = false;

  constructor(options: LeaderPassesOptions) {
    assert(Number.isSafeInteger(options.intervalMs) && options.intervalMs > 0, 'a pass interval');
    this.options = options;
  }

  get leading(): boolean {
    return this.isLeading;
  }

  leadership(isLeader: boolean): void {
    this.isLeading = isLeader;
    if (isLeader && this.timer === undefined) {
      this.timer = setInterval(() => this.kick(), this.options.intervalMs);
      this.timer.unref();
    } else if (!isLeader && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    this.options.onLeadership?.(isLeader);
  }

  // Starts a pass now unless one is running (or this member does not lead).
  kick(): void {
    if (!this.isLeading) return;
    this.pass ??= this.options
      .runPass()
      .catch((error) => {
        leaderPassFailures.inc({ task: this.options.task });
        this.options.log.warn(`${this.options.task} pass failed`, { error });
      })
      .finally(() => {
        this.pass = undefined;
      });
  }

  async stop(): Promise<void> {
    this.leadership(false);
    await this.pass;
    assert(this.timer === undefined, 'no pass is scheduled after stop');
  }
}
