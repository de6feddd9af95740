import assert from 'node:assert';

// The client's own view of each data server's health, from the shard reads and writes it makes:
// recent latencies (for the hedge delay) and runs of failures (to avoid a server for a while).
// Pure: it is told what happened and when (nowMs), and never reads a clock or touches a socket,
// so tests drive it through time directly. A later step combines it with the cluster's
// replicated up/down states; until then it is the only thing that routes around a dead server.
//
// A server that fails FAILURES_TO_AVOID times in a row is avoided for a backoff period; when the
// period ends, exactly one request may go to it (a probe) and the period re-arms. A success ends
// the avoidance; another failure doubles the backoff, up to AVOID_MS_MAX.

export interface ServerHealthOptions {
  failuresToAvoid: number;
  avoidMsInitial: number;
  avoidMsMax: number;
  // Hedge delay: latencyFactor × p95 of recent shard reads, clamped; fixed before enough samples.
  hedgeDelayMsMin: number;
  hedgeDelayMsMax: number;
  hedgeDelayMsDefault: number;
  latencyFactor: number;
}

export const DEFAULT_SERVER_HEALTH: ServerHealthOptions = {
  // Three in a row: one lost connection (a restart) is not enough to route around a server.
  failuresToAvoid: 3,
  avoidMsInitial: 2_000,
  avoidMsMax: 30_000,
  hedgeDelayMsMin: 50,
  // The bound: a hung server adds at most about a second to a GET.
  hedgeDelayMsMax: 500,
  hedgeDelayMsDefault: 250,
  latencyFactor: 2,
};

// Samples kept: the newest replace the oldest, so the quantiles follow the recent past.
const SERVER_SAMPLES_MAX = 64;
const OVERALL_SAMPLES_MAX = 256;
// Below this many samples a quantile says little: the default hedge delay applies.
const SAMPLES_FOR_QUANTILE_MIN = 16;

// A fixed-size window of latencies, kept both in arrival order (to know which sample leaves) and
// sorted (so the p95 is an index). A sample is a binary search and a shift of at most 256
// numbers; sorting a copy of the window for each p95 asked after a new sample, as this did
// before, was 19% of a mount's CPU under 4 KiB random reads (every read arms a hedge, which asks).
class LatencyWindow {
  private readonly samples: number[] = []; // ring buffer, the oldest at `next` once full
  private readonly sorted: number[] = []; // the same samples, ascending
  private readonly capacity: number;
  private next = 0;

  constructor(capacity: number) {
    assert(capacity >= SAMPLES_FOR_QUANTILE_MIN);
    this.capacity = capacity;
  }

  add(latencyMs: number): void {
    if (this.samples.length < this.capacity) {
      this.samples.push(latencyMs);
    } else {
      const oldest = this.samples[this.next];
      const at = lowerBound(this.sorted, oldest);
      assert(this.sorted[at] === oldest, 'the sorted window holds every sample');
      this.sorted.splice(at, 1);
      this.samples[this.next] = latencyMs;
    }
    this.sorted.splice(lowerBound(this.sorted, latencyMs), 0, latencyMs);
    this.next = (this.next + 1) % this.capacity;
  }

  get count(): number {
    return this.samples.length;
  }

  p95Ms(): number | undefined {
    const n = this.sorted.length;
    if (n < SAMPLES_FOR_QUANTILE_MIN) return undefined;
    return this.sorted[Math.min(n - 1, Math.floor(n * 0.95))];
  }
}

// The first index of an ascending array whose value is not below `value`.
function lowerBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

interface ServerState {
  latency: LatencyWindow;
  failuresInRow: number;
  avoided: boolean;
  avoidUntilMs: number;
  avoidMs: number; // the current backoff, doubled by each failed probe
}

// What a report changed, for the caller to log and count.
export type HealthTransition = 'avoided' | 'recovered' | undefined;

export class ServerHealth {
  private readonly options: ServerHealthOptions;
  private readonly servers = new Map<string, ServerState>();
  private readonly overall = new LatencyWindow(OVERALL_SAMPLES_MAX);

  constructor(options: Partial<ServerHealthOptions> = {}) {
    this.options = { ...DEFAULT_SERVER_HEALTH, ...options };
    const o = this.options;
    assert(o.failuresToAvoid >= 1, 'failuresToAvoid is at least 1');
    assert(0 < o.avoidMsInitial && o.avoidMsInitial <= o.avoidMsMax, 'avoid backoff in order');
    assert(
      0 < o.hedgeDelayMsMin &&
        o.hedgeDelayMsMin <= o.hedgeDelayMsDefault &&
        o.hedgeDelayMsDefault <= o.hedgeDelayMsMax,
      'hedge delays in order',
    );
  }

  private state(serverId: string): ServerState {
    let state = this.servers.get(serverId);
    if (!state) {
      state = {
        latency: new LatencyWindow(SERVER_SAMPLES_MAX),
        failuresInRow: 0,
        avoided: false,
        avoidUntilMs: 0,
        avoidMs: this.options.avoidMsInitial,
      };
      this.servers.set(serverId, state);
    }
    return state;
  }

  // The server answered (even with an error of its own, like a missing shard): it is alive.
  // `readLatencyMs`: how long a shard read took (writes, slower by an fsync, give none).
  recordSuccess(serverId: string, readLatencyMs?: number): HealthTransition {
    const state = this.state(serverId);
    if (readLatencyMs !== undefined) {
      assert(readLatencyMs >= 0, `latency is not negative, got ${readLatencyMs}`);
      state.latency.add(readLatencyMs);
      this.overall.add(readLatencyMs);
    }
    state.failuresInRow = 0;
    if (!state.avoided) return undefined;
    state.avoided = false;
    state.avoidMs = this.options.avoidMsInitial;
    return 'recovered';
  }

  // The server did not answer: refused, timed out, dropped the connection, or was so slow that a
  // hedge finished the work without it.
  recordFailure(serverId: string, nowMs: number): HealthTransition {
    const state = this.state(serverId);
    state.failuresInRow++;
    if (state.failuresInRow < this.options.failuresToAvoid) return undefined;
    if (state.avoided) {
      // A failed probe: wait longer before the next one.
      state.avoidMs = Math.min(this.options.avoidMsMax, state.avoidMs * 2);
      state.avoidUntilMs = nowMs + state.avoidMs;
      return undefined;
    }
    state.avoided = true;
    state.avoidUntilMs = nowMs + state.avoidMs;
    return 'avoided';
  }

  // Whether to keep requests away from the server now. When its backoff has run out, this
  // answers false once (the caller's request is the probe) and re-arms the backoff.
  shouldAvoid(serverId: string, nowMs: number): boolean {
    const state = this.servers.get(serverId);
    if (!state?.avoided) return false;
    if (nowMs < state.avoidUntilMs) return true;
    state.avoidUntilMs = nowMs + state.avoidMs;
    return false;
  }

  // Whether the server is within its backoff now; unlike shouldAvoid, asking changes nothing
  // (for ranking servers without spending the probe).
  isAvoiding(serverId: string, nowMs: number): boolean {
    const state = this.servers.get(serverId);
    return state?.avoided === true && nowMs < state.avoidUntilMs;
  }

  // Servers marked unhealthy (including one whose probe is due or in flight).
  avoidedServers(): string[] {
    return [...this.servers].flatMap(([id, s]) => (s.avoided ? [id] : []));
  }

  // How long a shard read may take before parity is read instead.
  hedgeDelayMs(): number {
    const p95 = this.overall.p95Ms();
    const o = this.options;
    if (p95 === undefined) return o.hedgeDelayMsDefault;
    return Math.min(o.hedgeDelayMsMax, Math.max(o.hedgeDelayMsMin, p95 * o.latencyFactor));
  }

  // A server's recent p95 latency (undefined with too few samples), to prefer faster servers.
  serverP95Ms(serverId: string): number | undefined {
    return this.servers.get(serverId)?.latency.p95Ms();
  }
}
