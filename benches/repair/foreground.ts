// The foreground load: GETs of small objects (1 MiB), recording each request's latency, until
// told to stop. Its p99 at rest, in repair and beside the plain copy is the bench's measure of
// what repair costs clients. Two definitions (run.ts --foreground):
// - closed (the bench's first): a few loops, each GET sent when the previous one ended, no think
//   time. On two cores they take up to a core, so they compete with repair for the CPU directly,
//   and a slower GET sends fewer GETs: the load adapts to the system it measures, and the
//   latency of a request that waited for its loop to be free is never counted.
// - paced (open loop): GETs started at a fixed rate whatever the replies do, each latency taken
//   from its scheduled start, so time spent queued behind a slow reply counts (as a client
//   population with its own arrival rate sees it; the usual "client I/O during recovery"
//   measure). The bench process itself shares the machine: its own timer lateness counts too.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export interface ForegroundRun {
  // endMs: performance.now() at the end
  samples: Array<{ endMs: number; latencyMs: number; key: string }>;
  errors: Array<{ endMs: number }>;
  done: Promise<void>;
}

// Starts `loops` GET loops over `keys`; they stop once `running()` is false.
export function startGetLoop(
  s3: S3Client,
  bucket: string,
  keys: readonly string[],
  loops: number,
  running: () => boolean,
): ForegroundRun {
  const run: ForegroundRun = { samples: [], errors: [], done: Promise.resolve() };
  let next = 0;
  const loop = async () => {
    while (running()) {
      const key = keys[next++ % keys.length];
      const startedMs = performance.now();
      try {
        const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        await drainBody(response.Body, response.ContentLength);
        const endMs = performance.now();
        run.samples.push({ endMs, latencyMs: endMs - startedMs, key });
      } catch {
        run.errors.push({ endMs: performance.now() });
      }
    }
  };
  run.done = Promise.all(Array.from({ length: loops }, loop)).then(() => undefined);
  return run;
}

// The latencies of the requests that ended within [fromMs, toMs).
export function within(run: ForegroundRun, fromMs: number, toMs: number) {
  const inside = (endMs: number) => endMs >= fromMs && endMs < toMs;
  return {
    latenciesMs: run.samples.filter((s) => inside(s.endMs)).map((s) => s.latencyMs),
    errors: run.errors.filter((e) => inside(e.endMs)).length,
  };
}

// At most this many paced GETs in flight: beyond it the next waits for one to end (a cluster
// that cannot keep up is then overloaded, and the waits show in the latencies, which run from
// the scheduled start).
const PACED_IN_FLIGHT_MAX = 64;

// Starts GETs over `keys` at `perSecond`, open loop; they stop once `running()` is false.
export function startPacedGets(
  s3: S3Client,
  bucket: string,
  keys: readonly string[],
  perSecond: number,
  running: () => boolean,
): ForegroundRun {
  if (!(perSecond > 0)) throw new Error(`paced GETs: a rate above 0 per second, got ${perSecond}`);
  const run: ForegroundRun = { samples: [], errors: [], done: Promise.resolve() };
  const intervalMs = 1000 / perSecond;
  const inFlight = new Set<Promise<void>>();
  const get = async (key: string, scheduledMs: number) => {
    try {
      const response = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      await drainBody(response.Body, response.ContentLength);
      const endMs = performance.now();
      run.samples.push({ endMs, latencyMs: endMs - scheduledMs, key });
    } catch {
      run.errors.push({ endMs: performance.now() });
    }
  };
  const pace = async () => {
    const startMs = performance.now();
    for (let i = 0; running(); i++) {
      const scheduledMs = startMs + i * intervalMs;
      const waitMs = scheduledMs - performance.now();
      if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      while (inFlight.size >= PACED_IN_FLIGHT_MAX) await Promise.race(inFlight);
      if (!running()) break;
      const request = get(keys[i % keys.length], scheduledMs);
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    await Promise.all(inFlight);
  };
  run.done = pace();
  return run;
}

// Reads a GET's body to its end, keeping none of it, and checks its length against the
// response's (a short body is an error, not a fast GET). The bench process shares the machine
// with the cluster: collecting each body (a copy of every chunk, then one of the whole) cost it
// a major collection about every 300 ms (--trace-gc), on CPU the repair could have had.
async function drainBody(body: unknown, expectedBytes: number | undefined): Promise<void> {
  let bytes = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) bytes += chunk.length;
  if (expectedBytes !== undefined && bytes !== expectedBytes)
    throw new Error(`a GET body of ${bytes} bytes, ${expectedBytes} announced`);
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
