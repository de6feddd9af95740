// The repair driver: on the metadata leader, finds stripes with lost shards and rebuilds them.
// The decisions are pure (src/metadata/repair/: planRepairs, advanceTask); this file does the I/O
// they ask for, and lives above the client because it moves data the way clients do: it reads k
// shards with the hedged stripe reader, re-encodes the stripe, writes the missing shard to the
// planned target, commits the new location through Raft (relocateShard), and only then deletes
// the old shard, when its server is up or draining (otherwise it is left for stale-shard
// collection).
//
// Finding degraded stripes: when, by the state machine's shard counts, no down, removed or
// draining server and no failed or draining disk holds a shard (and no scrub finding came, and
// the state machine lists no shard a degraded write left absent: absent-shards.ts),
// nothing is lost or to move, and nothing is read. Otherwise the referenced stripes are walked
// a page at a time (scanStripes, SCAN_PAGE_STRIPES per page, the
// event loop free between pages), each page planned and repaired before the next: millions of
// stripes never sit in memory at once, and the worst stripes of a page go first.
//
// Rebalancing: the walk also runs when the cluster view grew since the last complete walk (the
// placement epoch moved: a server back up, a disk with room again, a server joined), and the plan
// then includes moves for stripes that break the domain rule against the grown view (written or
// repaired while a domain was down). A move is a task like any other (read, write the shard to
// its new place, commit relocateShard, delete the old file); its outcomes are counted apart
// (strata_rebalance_moves_total). The epoch counts as walked only once a walk ends with no move
// failed or left waiting, so a failed move is planned again at the next pass.
//
// Fair share: when nothing is to repair or drain and the counts show a live disk outside its
// fair share (src/metadata/repair/fair-share.ts), the pass computes give/take budgets, walks,
// and the plan adds balance moves after everything else until the budget is planned; the walk
// then stops. Moves still in flight count as landed when the next pass computes its budgets.
//
// Idempotent and resumable: nothing of a task survives the leader but what it committed. A new
// leader walks again and plans again; a task another leader already committed is refused by
// relocateShard's precondition (its rebuilt shard is then stale, collected later).
import assert from 'node:assert';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { DataPool } from '../client/data-pool.ts';
import type { MetadataClient } from '../client/metadata-client.ts';
import { shardFromData } from '../client/stripe-codec.ts';
import { readStripeRange } from '../client/stripe-read.ts';
import { isStrataError } from '../common/errors.ts';
import type { DataClient } from '../data/data-service.ts';
import type { RebuildShardHeader } from '../data/types.ts';
import { locationKey } from '../metadata/placement/domains.ts';
import type { PlacementServer, PlacementStrategy } from '../metadata/placement/types.ts';
import {
  advanceTask,
  type BalanceBudget,
  ByteRateThrottle,
  balanceBudget,
  etaSeconds,
  findingKeys,
  liveDiskLoads,
  missingShards,
  OccupiedTargets,
  PlanWindow,
  placementView,
  planRepairs,
  RateWindow,
  type RepairProgress,
  type RepairTask,
  rebuildsInPlace,
  type ScrubFinding,
  withinTolerance,
  workHeld,
} from '../metadata/repair/index.ts';
import type {
  AbsentShard,
  DataServerInfo,
  DiskShardCount,
  ShardLocation,
  Stripe,
  StripeScanPage,
  StripeSite,
} from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import {
  absentShardsGauge,
  balanceDisksOutside,
  degradedStripes,
  rebalanceBytes,
  rebalanceMoves,
  repairBytes,
  repairQueueLength,
  repairTasks,
} from '../observability/metrics.ts';
import { RelocationCommits } from './relocation-commits.ts';

const SCAN_PAGE_STRIPES = 1_000; // one metadata read: a bounded transaction and reply
// A throttled page is planned again once this fraction of max_concurrent (at least one) ended.
const REPLAN_BATCHES = 4;
// The fewest stripes a replan looks at (plan-window.ts): twice the slots, at least this many.
const PLAN_WINDOW_STRIPES_MIN = 32;
const PASS_INTERVAL_MS = 2_000;
// Between passes the server records are looked at this often (one leader-local read), and a pass
// starts at once when a server's or disk's state changed since the last one began: a server
// recorded down waited up to a whole pass interval (1 s on average) before its repair started,
// a quarter of the time to full redundancy in a short benches/repair run.
const WATCH_INTERVAL_MS = 250;
const SHARD_WRITE_TIMEOUT_MS = 30_000;
// data.rebuildShard: this much, plus this much per MiB of the k shards read and the one written.
const REBUILD_TIMEOUT_BASE_MS = 30_000;
const REBUILD_TIMEOUT_MS_PER_MIB = 2_000;
const SHARD_DELETE_TIMEOUT_MS = 5_000;
// Commits this driver made, remembered this long so that a page read before a commit does not
// plan the same shard again (the walk is not one snapshot).
const RECENT_COMMIT_MS = 60_000;
// Fair-share moves planned per pass: the walk stops once they are (the rest at the next pass).
const BALANCE_MOVES_PER_PASS_MAX = 1_000;
// After a walk for fair share that planned no move (the domain rule leaves none possible), the
// next walk for it waits this long: the counts alone would ask for it at every pass.
const BALANCE_IDLE_MS = 60_000;
// Absent shards (degraded writes) taken as findings per pass: the rest once these are rebuilt.
const ABSENT_SHARDS_PER_PASS = 10_000;
// Relocations per relocateShards command (group commit, relocation-commits.ts); the state
// machine takes at most RELOCATIONS_PER_COMMAND_MAX.
const RELOCATIONS_PER_COMMIT = 64;
// Relocation commands start at most this often (sooner with a full batch, and at once when no
// rebuild is in flight: RelocationCommits.flushNow). Each is a Raft entry, fsynced on every
// member, and a member answers no read barrier while a Ready is being made durable
// (replica.ts: read states come after the persist): during benches/repair, with the data
// servers' shard fsyncs queued on the same disk, that fsync took ~80 ms and every metadata read
// (about ten per client GET) waited 30-45 ms instead of 3. At 250 ms a command went about 4
// times a second; at 1 s, once. A task waiting for its commit holds no max_concurrent slot, so
// the longer gather costs the data servers nothing; the moves of a batch wait up to 1 s more.
const RELOCATION_GATHER_MS = 1_000;

export interface RepairDriverOptions {
  metadata: MetadataClient; // any member; the driver runs only while this node leads
  log: Logger;
  maxConcurrent: number; // tasks in flight ([repair] max_concurrent)
  bandwidthBytesPerSecond: number; // shard bytes read and written ([repair] bandwidth_...)
  passIntervalMs?: number;
  // Shard files the data servers' scrubbers found corrupt, with where each file is
  // (scrub-findings.ts asks every server recorded up, data.scrubFindings); none by default.
  // A finding counts only while the stripe's record still names that location for the shard
  // (once repaired elsewhere, the old file's finding is stale).
  findings?: () => Promise<LocatedFinding[]>;
}

export interface LocatedFinding extends ScrubFinding {
  location: ShardLocation;
}

interface Found {
  stripe: Stripe;
  at: StripeSite;
  // The placement epoch the pass that found it read: its moves keep the domain rule as the
  // state machine judges it while the epoch holds (checkRelocationDomain).
  epoch: number;
}

interface Running {
  task: RepairTask;
  ended: Promise<void>;
  // Rebuilt and waiting for its commit (RelocationCommits gathers commits): it holds no data
  // server work, so it no longer counts against max_concurrent. `freed` resolves then or at
  // its end, whichever comes first.
  rebuilt: boolean;
  freed: Promise<void>;
}

export class RepairDriver {
  private readonly options: RepairDriverOptions;
  private readonly log: Logger;
  private readonly pool: DataPool;
  private readonly throttle: ByteRateThrottle;
  private readonly running = new Map<string, Running>();
  private readonly recent = new Map<string, { task: RepairTask; atMs: number }>();
  // Targets that refused a task's shard because a file of it is there already (EEXIST: a stale
  // copy, left when the shard moved off while its server was down, collected only after the
  // orphan grace). Never overwritten nor reused (the collector may take it before the commit):
  // the task is planned again with that disk avoided, for a while (OccupiedTargets: the file
  // goes eventually, and the disk may be the only target the domain rule allows).
  private readonly occupied = new OccupiedTargets();
  private readonly commits: RelocationCommits;
  private passEpoch = 0; // the placement epoch the current walk read
  private timer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private watching = false; // a watch read is in flight
  private passStates = ''; // the server and disk states the last pass started from
  private pass: Promise<void> | undefined;
  private leading = false;
  private report: RepairProgress = emptyProgress();
  private pace = new RateWindow(); // bytes written by tasks, for the rate and ETA in status
  // The placement epoch and crowded-write count (`epoch/count`) of the last walk that ended
  // with no move failed or waiting (undefined: none yet under this leadership, so a new leader
  // walks once).
  private walkedView: string | undefined;
  // A move failed or waited in the current walk, or failed after it ended (its tasks run on
  // past the walk's end), or a stripe was not judged for moves (repair first): the next pass
  // walks again even if the epoch is walked.
  private movesLeft = false;
  // Fair share in the current walk: what is still to plan, and how many moves were started.
  private balance: BalanceBudget | undefined;
  private balanceStarted = 0;
  private balanceIdleUntilMs = 0;

  constructor(options: RepairDriverOptions) {
    this.options = options;
    this.log = options.log;
    this.pool = new DataPool(options.metadata, { log: options.log });
    this.throttle = new ByteRateThrottle(options.bandwidthBytesPerSecond);
    this.commits = new RelocationCommits(
      async (moves) => {
        const result = await options.metadata.apply({
          op: 'relocateShards',
          nowMs: Date.now(),
          moves,
        });
        assert(result.relocations !== undefined, 'relocateShards answers one outcome per move');
        return result.relocations;
      },
      RELOCATIONS_PER_COMMIT,
      { gatherMs: RELOCATION_GATHER_MS },
    );
  }

  // Called on every leadership change of this metadata member.
  leadership(isLeader: boolean): void {
    this.leading = isLeader;
    if (isLeader && this.timer === undefined) {
      this.report = emptyProgress();
      this.pace = new RateWindow();
      this.walkedView = undefined;
      this.timer = setInterval(() => this.tick(), this.options.passIntervalMs ?? PASS_INTERVAL_MS);
      this.timer.unref();
      this.watchTimer = setInterval(() => this.watch(), WATCH_INTERVAL_MS);
      this.watchTimer.unref();
    } else if (!isLeader && this.timer !== undefined) {
      clearInterval(this.timer);
      clearInterval(this.watchTimer);
      this.timer = undefined;
      this.watchTimer = undefined;
    }
  }

  progress(): RepairProgress {
    const nowMs = Date.now();
    const bytesPerSecond = this.pace.bytesPerSecond(nowMs);
    const queued = Math.max(this.report.queueLength, this.running.size);
    const eta = etaSeconds(queued, this.pace.meanBytes(), bytesPerSecond);
    return {
      ...this.report,
      running: this.running.size,
      bytesPerSecond: Math.round(bytesPerSecond),
      ...(eta === undefined ? {} : { etaSeconds: eta }),
    };
  }

  // Starts a pass now if a server's or disk's recorded state changed since the last pass began.
  private watch(): void {
    if (this.pass !== undefined || this.watching || !this.leading) return;
    this.watching = true;
    this.options.metadata
      .read('dataServers')
      .then((servers) => {
        if (this.leading && statesOf(servers) !== this.passStates) this.tick();
      })
      .catch(() => {}) // the pass interval's tick still runs, and says what failed
      .finally(() => {
        this.watching = false;
      });
  }

  private tick(): void {
    this.pass ??= this.runPass()
      .catch((error) => this.log.warn('repair pass failed', { error }))
      .finally(() => {
        this.pass = undefined;
      });
  }

  // One walk over the referenced stripes, planning and starting repairs page by page.
  private async runPass(): Promise<void> {
    const scrubbed = await (this.options.findings?.() ?? Promise.resolve([]));
    const absent = await this.absentShards();
    const findings = [...scrubbed, ...(absent?.shards ?? []).map(absentAsFinding)];
    const placement = await this.options.metadata.read('placementView');
    this.passStates = statesOf(placement.servers);
    const counts = await this.options.metadata.read('shardCounts');
    let view = placementView(placement.servers);
    this.passEpoch = placement.epoch;
    // A new epoch (the live view may have widened) or stripes committed crowded since
    // (src/metadata/stripe-placement.ts): a walk, to judge every stripe's spread again.
    const viewKey = `${placement.epoch}/${placement.crowdedWrites ?? 0}`;
    const grown = viewKey !== this.walkedView;
    const repairs = workHeld(view, counts) || findings.length > 0;
    if (repairs) this.report.balance = { disksOutside: 0, movesPlanned: 0 };
    this.balance = repairs ? undefined : this.fairShare(view, counts);
    if (!repairs && !grown && this.balance === undefined && !this.movesLeft) {
      degradedStripes.reset();
      repairQueueLength.set(this.running.size);
      this.report.degradedStripes = {};
      this.report.queueLength = this.running.size;
      this.report.lastPassAtMs = Date.now();
      return;
    }
    const { strategy } = (await this.options.metadata.config()).placement;
    const byMissing = new Map<number, number>();
    this.movesLeft = false;
    this.balanceStarted = 0;
    let cursor: string | undefined;
    do {
      const page = await this.options.metadata.read('scanStripes', cursor, SCAN_PAGE_STRIPES);
      const found = this.withRecentCommits(page.stripes);
      const current = currentFindings(found, findings);
      countMissing(found, view, current, byMissing);
      await this.repairPage(found, view, current, strategy);
      cursor = page.next;
      await yieldToLoop();
      view = placementView(await this.options.metadata.read('dataServers'));
      // A walk only for fair share ends once its moves are planned.
      if (!repairs && !grown && (this.balance?.moves ?? 0) === 0) break;
    } while (cursor !== undefined && this.leading);
    // A whole walk that found no shard it could move: not again for a while.
    if (this.balance !== undefined && this.balanceStarted === 0 && cursor === undefined)
      this.balanceIdleUntilMs = Date.now() + BALANCE_IDLE_MS;
    this.balance = undefined;
    if (!repairs && !grown) {
      this.report.lastPassAtMs = Date.now(); // a fair-share walk: nothing was degraded
      return;
    }
    if (cursor !== undefined) return; // leadership lost mid-walk: the counts are partial
    // The epoch counts as walked only once no task of the walk is still running: a task that
    // ends after the walk (a move done, a rebuild landed) leaves its stripe judged against the
    // domain rule as it was before, and nothing would judge it again until the epoch moved. The
    // next pass walks then, once more. (Found reading the code after a `npm run chaos` run, seed
    // 1, round 2, that left 3 stripes with 2 shards on one server for 240 s; not shown to be
    // that run's cause, and no test forces the order.)
    if (!this.movesLeft && this.running.size === 0) this.walkedView = viewKey;
    degradedStripes.reset();
    for (const [missing, count] of byMissing) degradedStripes.set({ missing }, count);
    this.report.degradedStripes = Object.fromEntries(byMissing);
    this.report.lastPassAtMs = Date.now();
  }

  // The shards degraded writes left absent, as the state machine lists them; undefined when the
  // member asked is of a version without the table (a rolling upgrade): repair goes on without
  // them, and says so.
  private async absentShards(): Promise<{ shards: AbsentShard[]; count: number } | undefined> {
    try {
      const absent = await this.options.metadata.read('absentShards', ABSENT_SHARDS_PER_PASS);
      this.report.absentShards = absent.count;
      absentShardsGauge.set(absent.count);
      return absent;
    } catch (error) {
      if (!isStrataError(error, 'EINVAL')) throw error;
      this.log.warn('absent shards not readable (an older metadata member?); repairing without', {
        error,
      });
      this.report.absentShards = undefined;
      return undefined;
    }
  }

  // The fair-share budgets when the live disks are out of balance (fair-share.ts), unless a walk
  // for them found nothing to move a moment ago.
  private fairShare(view: PlacementServer[], counts: DiskShardCount[]): BalanceBudget | undefined {
    // The counts as they will be once the tasks still running and not yet committed (from an
    // earlier pass) land, so a move in flight is not planned a second time.
    const landing = new Map(counts.map((c) => [locationKey(c), { ...c }]));
    for (const { task } of this.running.values()) {
      if (this.recent.get(task.id)?.task === task) continue; // committed: in the counts already
      const from = landing.get(locationKey(task.from));
      if (from) from.shards = Math.max(0, from.shards - 1);
      const key = locationKey(task.target);
      const to = landing.get(key) ?? { ...task.target, shards: 0 };
      to.shards++;
      landing.set(key, to);
    }
    const loads = liveDiskLoads(view, [...landing.values()]);
    const outside = loads.filter((l) => !withinTolerance(l)).length;
    balanceDisksOutside.set(outside);
    const budget = balanceBudget(loads, BALANCE_MOVES_PER_PASS_MAX);
    this.report.balance = { disksOutside: outside, movesPlanned: budget.moves };
    if (budget.moves === 0 || Date.now() < this.balanceIdleUntilMs) return undefined;
    return budget;
  }

  // Takes a started balance move out of what is left to plan in this walk.
  private spendBalance(task: RepairTask): void {
    const budget = this.balance;
    if (budget === undefined || task.reason !== 'balance') return;
    for (const [map, at] of [
      [budget.give, task.from],
      [budget.take, task.target],
    ] as const) {
      const key = locationKey(at);
      const left = (map.get(key) ?? 0) - 1;
      if (left > 0) map.set(key, left);
      else map.delete(key);
    }
    budget.moves = Math.max(0, budget.moves - 1);
    this.balanceStarted++;
  }

  // Plans the page and starts its tasks, waiting for a slot while the throttle holds some back.
  private async repairPage(
    found: Map<string, Found>,
    servers: PlacementServer[],
    findings: ScrubFinding[],
    strategy: PlacementStrategy,
  ): Promise<void> {
    const skipped = new Set<string>(); // stripes whose task failed in this pass
    // Stripes whose lost shards are all rebuilt in this pass: not planned again in this page.
    // Planning the whole page again as each batch of tasks ended was about a sixth of the
    // leader's busy time in benches/repair; the page now shrinks as it is repaired. Such a
    // stripe is judged against the domain rule at the next walk, which its repair asked for
    // (plan.unjudged when it was planned).
    const settled = new Set<string>();
    // After the page's first plan, a replan looks only at the stripes that can yield a task:
    // those the last plan left waiting, and those whose task ended since (its stripe record
    // moved on). Within a page the servers, findings and strategy are fixed, so every other
    // stripe plans as it did: healthy and within the rule, or with all its needs in flight.
    // Replanning the whole remaining page as each batch of slots freed was about 40% of the
    // leader's busy time in benches/repair (a thousand stripes, some 250 times a page).
    // Balance moves are judged over the whole page each time (their budget moves as they go).
    // And a replan looks at a window of the head of the priority order only (plan-window.ts),
    // not at every stripe the throttle holds back.
    let candidates: Set<string> | undefined;
    const planWindow = new PlanWindow(
      Math.max(PLAN_WINDOW_STRIPES_MIN, 2 * this.options.maxConcurrent),
    );
    const endedSincePlan = new Set<string>();
    const serverMap = new Map(servers.map((s) => [s.serverId, s]));
    const reported = findingKeys(findings);
    for (;;) {
      const stripes = [...found.values()]
        .filter((f) => !skipped.has(f.stripe.id) && !settled.has(f.stripe.id))
        .filter(
          (f) =>
            candidates === undefined ||
            candidates.has(f.stripe.id) ||
            endedSincePlan.has(f.stripe.id),
        )
        .map((f) => f.stripe);
      endedSincePlan.clear();
      const plan = planRepairs({
        stripes,
        servers,
        findings,
        inFlight: [...this.running.values()].map((r) => r.task),
        occupied: this.occupied.current(Date.now()),
        strategy,
        balance: this.balance,
        limits: {
          // Tasks waiting only for their commit hold no slot (Running.rebuilt).
          tasksInFlightMax: this.options.maxConcurrent + this.committing(),
          bytesInFlightMax: Math.max(1, this.options.bandwidthBytesPerSecond),
        },
      });
      // A move with no target (or too few sources) now is planned again at the next pass, and a
      // stripe under repair is judged against the domain rule only once its repair landed (a
      // degraded write repaired during the walk for the view it grew into would otherwise keep
      // breaking the rule: the simulator's seed 7 with degraded writes).
      if (plan.waiting.some((w) => w.reason === 'rebalance' && w.why !== 'throttled'))
        this.movesLeft = true;
      if (plan.unjudged > 0) this.movesLeft = true;
      const gone = (id: string) => skipped.has(id) || settled.has(id);
      candidates = this.balance === undefined ? planWindow.next(plan, gone) : undefined;
      const deferred = candidates === undefined ? 0 : planWindow.unplannedShards;
      this.report.queueLength =
        this.running.size + plan.tasks.length + plan.waiting.length + deferred;
      repairQueueLength.set(this.report.queueLength);
      if (plan.unrecoverable.length > 0)
        this.log.error('stripes with fewer than k readable shards', {
          count: plan.unrecoverable.length,
          first: plan.unrecoverable.slice(0, 10),
        });
      for (const task of plan.tasks) {
        const site = found.get(task.stripeId);
        if (site === undefined) continue;
        this.spendBalance(task);
        let rebuilt = () => {};
        const freed = new Promise<void>((resolve) => {
          rebuilt = resolve;
        });
        const onRebuilt = () => {
          const entry = this.running.get(task.id);
          if (entry !== undefined) entry.rebuilt = true;
          rebuilt();
          // Nothing else is rebuilding: no move will join the waiting ones soon.
          if (this.committing() === this.running.size) this.commits.flushNow();
        };
        const ended = this.execute(task, site, onRebuilt)
          .catch((error: unknown) => this.ended(task, 'failed', 'repair task failed', error))
          .then((outcome) => {
            this.running.delete(task.id);
            endedSincePlan.add(task.stripeId);
            if (outcome !== 'done') skipped.add(task.stripeId);
            if (outcome !== 'done' && task.reason === 'rebalance') {
              // The walk that planned it may have ended already (counting its epoch walked):
              // the next pass walks again (the simulator's seed 998).
              this.movesLeft = true;
              this.walkedView = undefined;
            } else site.stripe = committed(site.stripe, task);
            if (outcome === 'done' && task.reason === 'lost' && !this.anyRunning(task.stripeId))
              if (missingShards(site.stripe, serverMap, reported) === 0) settled.add(task.stripeId);
          })
          .finally(rebuilt);
        this.running.set(task.id, { task, ended, rebuilt: false, freed });
      }
      // Throttled shards of this page wait for a slot; the rest of the page had its turn, but for
      // the stripes beyond the window, planned next (at once: nothing held them back yet).
      const throttled = plan.waiting.some((w) => w.why === 'throttled');
      if (!this.leading) return;
      if (!throttled) {
        if (candidates === undefined || planWindow.unplanned === 0) return;
        continue;
      }
      if (this.running.size === 0) return;
      await this.slotsFreed(Math.max(1, Math.floor(this.options.maxConcurrent / REPLAN_BATCHES)));
    }
  }

  private anyRunning(stripeId: string): boolean {
    for (const { task } of this.running.values()) if (task.stripeId === stripeId) return true;
    return false;
  }

  // Tasks rebuilt and waiting for their commit.
  private committing(): number {
    let count = 0;
    for (const r of this.running.values()) if (r.rebuilt) count++;
    return count;
  }

  // Waits until `count` of the tasks holding a slot have freed it (rebuilt or ended), or none
  // holds one. Planning a page again after every ended task took ~20% of the leader's busy time
  // in benches/repair once the bytes moved to the data servers (max_concurrent 16); a few slots
  // at a time keeps the pipe full.
  private async slotsFreed(count: number): Promise<void> {
    const holding = () => [...this.running.values()].filter((r) => !r.rebuilt);
    // Every task waits for its commit, and the plan is still throttled (its byte budget counts
    // them): one of them must end, or planning again would only spin.
    if (holding().length === 0) {
      await Promise.race([...this.running.values()].map((r) => r.ended));
      return;
    }
    const left = Math.max(0, holding().length - count);
    for (let now = holding(); now.length > left; now = holding())
      await Promise.race(now.map((r) => r.freed));
  }

  // Runs one task through its phases; never throws (the outcome is counted and logged).
  private async execute(
    task: RepairTask,
    site: Found,
    onRebuilt: () => void,
  ): Promise<'done' | 'failed' | 'refused'> {
    let phase: RepairTask | undefined = task;
    try {
      await this.rebuild(task, site.stripe);
      phase = advanceTask(task, 'rebuilt');
      onRebuilt();
    } catch (error) {
      // A file of the shard at an in-place target is its writer's late write, still being
      // written (or created since the check): the next pass takes it whole or replaces it torn
      // (data-service.ts), so it is tried again then, not avoided as a stale copy is.
      if (isStrataError(error, 'EEXIST') && !rebuildsInPlace(task)) this.noteOccupied(task);
      return this.ended(task, 'failed', 'rebuild failed', error);
    }
    try {
      await this.commits.commit({
        stripeId: task.stripeId,
        shardIndex: task.shardIndex,
        from: task.from,
        to: task.target,
        at: site.at,
        placementEpoch: site.epoch,
      });
      phase = advanceTask(phase as RepairTask, 'committed');
      this.recent.set(task.id, { task, atMs: Date.now() });
    } catch (error) {
      // The written shard is not in the record: stale, left to collection (deleting it here
      // could delete a shard another leader's identical task committed at the same place).
      const refused = isStrataError(error, 'PRECONDITION_FAILED');
      return this.ended(task, refused ? 'refused' : 'failed', 'repair commit failed', error);
    }
    this.occupied.done(task.id);
    await this.release(phase as RepairTask);
    const moved = task.reason === 'rebalance' || task.reason === 'balance';
    return this.ended(task, 'done', moved ? 'shard moved' : 'shard rebuilt');
  }

  private noteOccupied(task: RepairTask): void {
    this.occupied.note(task.id, task.target, Date.now());
  }

  private ended(
    task: RepairTask,
    outcome: 'done' | 'failed' | 'refused',
    message: string,
    error?: unknown,
  ): 'done' | 'failed' | 'refused' {
    if (task.reason === 'rebalance' || task.reason === 'balance') {
      rebalanceMoves.inc({ outcome });
      this.report.moves[outcome]++;
    } else {
      repairTasks.inc({ outcome });
      this.report.tasks[outcome]++;
    }
    const fields = { task: task.id, from: task.from, to: task.target, error };
    if (outcome === 'done') this.log.info(message, fields);
    else this.log.warn(message, fields);
    return outcome;
  }

  // Has the target server rebuild the missing shard from the stripe's other shards and write it
  // (data.rebuildShard: the bytes go from the sources to the target, never through this
  // process), a format 2 shard file named by (stripe, index). A target older than that method
  // gets the shard from here, read and encoded as before (mixed versions during an upgrade).
  private async rebuild(task: RepairTask, stripe: Stripe): Promise<void> {
    const waitMs = this.throttle.reserve(Date.now(), (stripe.k + 1) * stripe.shardSizeBytes);
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    const servers = await this.pool.refresh();
    const client = await this.pool.client(task.target.serverId);
    try {
      const written = await client.rebuildShard(rebuildRequest(stripe, task, servers), {
        timeoutMs: rebuildTimeoutMs(stripe),
      });
      assert(written.sizeBytes === stripe.shardSizeBytes, 'the target wrote the whole shard');
    } catch (error) {
      if (!isStrataError(error, 'RPC_NO_METHOD')) throw error;
      await this.rebuildHere(task, stripe, client);
    }
    this.pace.note(Date.now(), stripe.shardSizeBytes);
    if (task.reason === 'rebalance' || task.reason === 'balance') {
      rebalanceBytes.inc(stripe.shardSizeBytes);
      this.report.movedBytes += stripe.shardSizeBytes;
    } else {
      repairBytes.inc(stripe.shardSizeBytes);
      this.report.rebuiltBytes += stripe.shardSizeBytes;
    }
  }

  // The fallback: decodes the stripe here from k readable shards (the hedged reader picks which)
  // and writes the missing shard to the target with putShard.
  private async rebuildHere(task: RepairTask, stripe: Stripe, client: DataClient): Promise<void> {
    const data = await readStripeRange(this.pool, stripe, 0, stripe.dataLengthBytes, this.log);
    await client.putShard(
      { stripeId: stripe.id, shardIndex: task.shardIndex, disk: task.target.disk },
      shardFromData(stripe, data, task.shardIndex),
      { timeoutMs: SHARD_WRITE_TIMEOUT_MS },
    );
  }

  // The replaced shard goes only now that the record names its replacement, and only if its
  // server is up or draining (a drained shard's file goes with its move): a down one may never
  // answer (its stale shards are collected when it returns).
  // Never throws: the move is committed whatever happens to the old file.
  // The records are the pool's (at most SERVER_LIST_TTL_MS old), not a metadata read per task: a
  // server recorded down just now only makes the delete fail (left for collection), and one back
  // up just now keeps its file until the orphan scrubber takes it.
  private async release(task: RepairTask): Promise<void> {
    // Rebuilt in place, the shard's file is the one the record names: nothing was replaced.
    if (rebuildsInPlace(task)) {
      advanceTask(task, 'released');
      return;
    }
    try {
      const servers = await this.pool.refresh();
      const from = servers.find((s) => s.serverId === task.from.serverId);
      const disk = from?.disks.find((d) => d.disk === task.from.disk);
      const answers = from?.state === 'up' || from?.state === 'draining';
      if (!answers || disk?.state === 'failed') return;
      const client = await this.pool.client(task.from.serverId);
      await client.deleteShards(
        {
          shards: [{ stripeId: task.stripeId, shardIndex: task.shardIndex, disk: task.from.disk }],
        },
        { timeoutMs: SHARD_DELETE_TIMEOUT_MS },
      );
      advanceTask(task, 'released');
    } catch (error) {
      this.log.warn('replaced shard not deleted; left for collection', { task: task.id, error });
    }
  }

  // The page's stripes, one entry per stripe, with this driver's recent commits applied where
  // the page still shows the old location (it was read before the commit).
  private withRecentCommits(stripes: StripeScanPage['stripes']): Map<string, Found> {
    const nowMs = Date.now();
    for (const [id, { atMs }] of this.recent)
      if (nowMs - atMs > RECENT_COMMIT_MS) this.recent.delete(id);
    const found = new Map<string, Found>();
    for (const entry of stripes) {
      if (found.has(entry.stripe.id)) continue;
      let stripe = entry.stripe;
      for (let i = 0; i < stripe.shards.length; i++) {
        const recent = this.recent.get(`${stripe.id}/${i}`);
        if (recent) stripe = committed(stripe, recent.task);
      }
      found.set(stripe.id, { stripe, at: entry.at, epoch: this.passEpoch });
    }
    return found;
  }

  async stop(): Promise<void> {
    this.leadership(false);
    await this.pass;
    await Promise.all([...this.running.values()].map((r) => r.ended));
    await this.pool.close();
  }
}

// What the target needs to rebuild the task's shard: the stripe and where each shard is, with
// the addresses and states this driver knows (a server not up is asked only as a last resort).
function rebuildRequest(
  stripe: Stripe,
  task: RepairTask,
  servers: DataServerInfo[],
): RebuildShardHeader {
  const byId = new Map(servers.map((s) => [s.serverId, s]));
  return {
    stripeId: stripe.id,
    shardIndex: task.shardIndex,
    disk: task.target.disk,
    k: stripe.k,
    m: stripe.m,
    shardSizeBytes: stripe.shardSizeBytes,
    dataLengthBytes: stripe.dataLengthBytes,
    ...(stripe.shardVersion === undefined ? {} : { shardVersion: stripe.shardVersion }),
    ...(rebuildsInPlace(task) ? { inPlace: true } : {}),
    sources: stripe.shards.map((at) => {
      const server = byId.get(at.serverId);
      const disk = server?.disks.find((d) => d.disk === at.disk);
      // As a client's read: draining servers and disks still answer; suspect, down or removed
      // ones are asked last.
      const gone = server === undefined || ['suspect', 'down', 'removed'].includes(server.state);
      const avoid = gone || disk?.state === 'failed';
      const source = { serverId: at.serverId, addr: server?.addr ?? '', disk: at.disk, avoid };
      // Where the disk is, for a target on its machine to read it there (peer-disk-reads.ts).
      return disk?.diskId === undefined
        ? source
        : { ...source, diskPath: disk.path, diskId: disk.diskId };
    }),
  };
}

// The target reads k shards (each read hedged after at most 5 s), decodes, and writes one shard
// durably: generous, and longer for bigger shards, so a loaded disk is not mistaken for a hung
// one; a task that times out is planned again at the next pass.
function rebuildTimeoutMs(stripe: Stripe): number {
  const mib = ((stripe.k + 1) * stripe.shardSizeBytes) / (1024 * 1024);
  return REBUILD_TIMEOUT_BASE_MS + Math.ceil(mib * REBUILD_TIMEOUT_MS_PER_MIB);
}

// The server and disk states of the records, as one string to compare (the watch's trigger).
function statesOf(servers: readonly DataServerInfo[]): string {
  return servers
    .map((s) => `${s.serverId}:${s.state}:${s.disks.map((d) => d.state ?? 'up').join(',')}`)
    .sort()
    .join(' ');
}

function emptyProgress(): RepairProgress {
  return {
    degradedStripes: {},
    lastPassAtMs: 0,
    queueLength: 0,
    running: 0,
    rebuiltBytes: 0,
    tasks: { done: 0, failed: 0, refused: 0 },
    moves: { done: 0, failed: 0, refused: 0 },
    movedBytes: 0,
    balance: { disksOutside: 0, movesPlanned: 0 },
  };
}

// The stripe with the task's move applied, if the stripe still shows the task's old location.
function committed(stripe: Stripe, task: RepairTask): Stripe {
  const at = stripe.shards[task.shardIndex];
  if (at?.serverId !== task.from.serverId || at.disk !== task.from.disk) return stripe;
  return {
    ...stripe,
    shards: stripe.shards.map((s, i) => (i === task.shardIndex ? task.target : s)),
  };
}

// A shard a degraded write left absent is lost where its stripe records it, like a scrub finding;
// the entry goes when relocateShard commits the rebuilt shard.
function absentAsFinding({ stripeId, shardIndex, location }: AbsentShard): LocatedFinding {
  return { stripeId, shardIndex, problem: 'missing', location };
}

// The findings about shards the page's stripes still record where the finding was made.
function currentFindings(found: Map<string, Found>, findings: LocatedFinding[]): ScrubFinding[] {
  return findings.flatMap(({ location, ...finding }) => {
    const at = found.get(finding.stripeId)?.stripe.shards[finding.shardIndex];
    const current = at?.serverId === location.serverId && at.disk === location.disk;
    return current ? [finding] : [];
  });
}

function countMissing(
  found: Map<string, Found>,
  view: PlacementServer[],
  findings: ScrubFinding[],
  byMissing: Map<number, number>,
): void {
  const servers = new Map(view.map((s) => [s.serverId, s]));
  const reported = findingKeys(findings);
  for (const { stripe } of found.values()) {
    const missing = missingShards(stripe, servers, reported);
    if (missing > 0) byMissing.set(missing, (byMissing.get(missing) ?? 0) + 1);
  }
}
