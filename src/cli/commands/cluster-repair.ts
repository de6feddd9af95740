// `strata cluster repair`: follows the metadata leader's repair until no stripe is degraded and
// nothing is queued, with progress (shards rebuilt of those known to need it) on a terminal or
// as lines when piped.
import { setTimeout as sleep } from 'node:timers/promises';
import { MetadataClient } from '../../client/metadata-client.ts';
import type { RepairProgress } from '../../metadata/repair/types.ts';
import { progressReporter } from '../progress.ts';
import { formatBytes } from '../usage.ts';

const POLL_MS = 1_000;
const LINE_INTERVAL_MS = 5_000;
// Nothing queued or running while stripes stay degraded, for this long: repair cannot place
// their shards (too few live servers or disks), and following it further would never end.
const STUCK_AFTER_MS = 30_000;

function degradedCount(p: RepairProgress): number {
  return Object.values(p.degradedStripes).reduce((sum, n) => sum + n, 0);
}

export async function followRepair(addrs: string[]): Promise<number> {
  const metadata = new MetadataClient(addrs);
  try {
    let base = await metadata.repairProgress();
    const progress = progressReporter({
      label: 'repair',
      unit: 'count',
      noun: 'shards rebuilt',
      stream: process.stdout,
      lineIntervalMs: LINE_INTERVAL_MS,
    });
    let idleSinceMs: number | undefined;
    for (;;) {
      const now = await metadata.repairProgress();
      // A new leader counts from zero: follow from its counts.
      if (now.tasks.done < base.tasks.done) base = now;
      const done = now.tasks.done - base.tasks.done;
      const degraded = degradedCount(now);
      const busy = now.queueLength + now.running > 0;
      progress.update(done, {
        total: done + now.queueLength,
        note: `${degraded} degraded stripes, ${now.queueLength} shards queued`,
      });
      if (!busy && degraded === 0) {
        progress.finish();
        const bytes = formatBytes(now.rebuiltBytes - base.rebuiltBytes);
        process.stdout.write(`repair: nothing degraded; ${done} shards (${bytes}) rebuilt\n`);
        return 0;
      }
      idleSinceMs = busy ? undefined : (idleSinceMs ?? Date.now());
      if (idleSinceMs !== undefined && Date.now() - idleSinceMs > STUCK_AFTER_MS) {
        progress.finish();
        process.stderr.write(
          `repair: ${degraded} stripes stay degraded with nothing queued for ` +
            `${STUCK_AFTER_MS / 1000} s: too few live servers or disks to place their shards ` +
            '(see strata cluster status)\n',
        );
        return 1;
      }
      await sleep(POLL_MS);
    }
  } finally {
    await metadata.close();
  }
}
