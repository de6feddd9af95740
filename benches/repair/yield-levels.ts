// The data servers' repair yield levels (strata_data_repair_yield_level, src/data/repair-yield.ts)
// sampled from their /metrics while repair runs: whether, and how far, repair held back for the
// foreground GETs (1: yielding fully; 2 per disk: not at all).
import type { StrataProcess } from '../../test/helpers/server.ts';

// Each sample renders every data server's whole /metrics page (prom-client's default process
// metrics list /proc/self/fd, histograms are summed): at every 0.5 s that was about a tenth of a
// data server's CPU profile in the repair window, counted in the cluster's CPU per GiB. A
// Prometheus server scrapes every 15 to 60 s; the mean level needs no finer samples than this.
const SAMPLE_MS = 2_000;
const SERIES = 'strata_data_repair_yield_level';

export interface YieldSampler {
  stop(): Promise<{ samples: number; mean: number; atFloor: number }>; // atFloor: share at 1
}

async function levelOf(p: StrataProcess): Promise<number | undefined> {
  if (!p.metricsUrl) return undefined;
  try {
    const text = await (await fetch(p.metricsUrl)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${SERIES} `));
    return line === undefined ? undefined : Number(line.slice(SERIES.length + 1));
  } catch {
    return undefined; // a server stopping: no sample
  }
}

export function sampleYieldLevels(data: readonly StrataProcess[]): YieldSampler {
  const levels: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const found = await Promise.all(data.map(levelOf));
      for (const level of found) if (level !== undefined) levels.push(level);
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const mean = levels.reduce((a, b) => a + b, 0) / Math.max(1, levels.length);
      const atFloor = levels.filter((l) => l === 1).length / Math.max(1, levels.length);
      return { samples: levels.length, mean, atFloor };
    },
  };
}
