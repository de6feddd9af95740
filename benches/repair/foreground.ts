// The foreground load: GETs of small objects, one after another on each of a few loops, recording
// each request's latency, until told to stop. Its p99 at rest and during repair is the bench's
// measure of what repair costs clients.
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { bodyBytes } from '../../test/helpers/s3.ts';

export interface ForegroundRun {
  samples: Array<{ endMs: number; latencyMs: number }>; // endMs: performance.now() at the end
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
        await bodyBytes(response.Body);
        const endMs = performance.now();
        run.samples.push({ endMs, latencyMs: endMs - startedMs });
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

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
