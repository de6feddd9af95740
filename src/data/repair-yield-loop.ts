// The I/O around RepairYield (repair-yield.ts) on a data server: every YIELD_WINDOW_MS it reads
// the event loop's delay over the window (perf_hooks' histogram, its p99) and the client reads
// served, and sets the server-wide repair bounds (RepairSlots.setYieldLevel) to the level that
// comes out. The gauge strata_data_repair_yield_level shows it.
// The histogram's timer wakes the loop every LAG_RESOLUTION_MS, 200 times a second: while no
// repair runs here it is on for one window in QUIET_WINDOWS_PER_SAMPLE (enough for the quiet
// baseline, an average over ~10 such windows), and it is switched on as soon as repair starts.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from '../observability/logger.ts';
import { repairYieldLevel } from '../observability/metrics.ts';
import type { RepairSlots } from './repair-slots.ts';
import { RepairYield } from './repair-yield.ts';

// Short enough to back off within a few of a client's reads; long enough for a percentile.
export const YIELD_WINDOW_MS = 250;
const LAG_RESOLUTION_MS = 5;
const LAG_PERCENTILE = 99;
const QUIET_WINDOWS_PER_SAMPLE = 8;

export interface RepairYieldLoop {
  noteClientRead(): void; // a client (not repair) read was served
  close(): void;
}

export function startRepairYield(slots: RepairSlots, log: Logger): RepairYieldLoop {
  const control = new RepairYield(slots.levelMax);
  const lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  let measuring = false;
  const measure = (on: boolean) => {
    if (on === measuring) return;
    if (on) lag.enable();
    else lag.disable();
    measuring = on;
  };
  measure(true);
  let clientReads = 0;
  let repairBusy = false;
  let quietWindows = 0;
  repairYieldLevel.set(control.level);
  // Busy at any sample counts the window as busy (repair work is short and bursty).
  const sample = setInterval(() => {
    repairBusy ||= slots.busy;
    if (repairBusy) measure(true);
  }, YIELD_WINDOW_MS / 5);
  const window = setInterval(() => {
    repairBusy ||= slots.busy;
    const measured = lag.count > 0 ? lag.percentile(LAG_PERCENTILE) / 1e6 : 0;
    const lagMs = measuring ? measured : undefined;
    const before = control.level;
    const level = control.observe({ lagMs, clientReads, repairBusy });
    if (level !== before) {
      slots.setYieldLevel(level);
      repairYieldLevel.set(level);
      if (level === 1 && before > 1)
        log.debug('repair yields to client reads', { lagMs, targetLagMs: control.targetLagMs });
    }
    lag.reset();
    quietWindows = repairBusy ? 0 : quietWindows + 1;
    measure(repairBusy || slots.busy || quietWindows % QUIET_WINDOWS_PER_SAMPLE === 0);
    clientReads = 0;
    repairBusy = false;
  }, YIELD_WINDOW_MS);
  sample.unref();
  window.unref();
  return {
    noteClientRead() {
      clientReads++;
    },
    close() {
      clearInterval(sample);
      clearInterval(window);
      lag.disable();
    },
  };
}
