// The I/O around RepairCpuGuard (repair-cpu-class.ts): run from the data server's event loop,
// not from the repair thread itself, because a process a SCHED_IDLE thread starts inherits the
// class: under load the thread's own `chrt` back to nice starved as the thread did (a scratch run
// beside three busy loops: spawnSync ETIMEDOUT after 5 s, the thread left at idle). The event
// loop sets the class with util-linux's `chrt` (Node has no sched_setscheduler) and reads the
// thread's /proc/self/task/<tid>/schedstat once a window.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setPriority } from 'node:os';
import { promisify } from 'node:util';
import type { Logger } from '../observability/logger.ts';
import { repairThreadSchedIdle, repairThreadStarved } from '../observability/metrics.ts';
import {
  parseSchedstat,
  type RepairCpuClass,
  RepairCpuGuard,
  WINDOW_MS,
} from './repair-cpu-class.ts';

const run = promisify(execFile);
const CHRT_TIMEOUT_MS = 5_000;

export interface CpuClassGuard {
  readonly cpuClass: RepairCpuClass | undefined; // undefined: never set, at its nice value
  stop(): void;
}

// Puts thread `tid` under SCHED_IDLE, guarded; without chrt or schedstat it stays at `nice`,
// and the log says why.
export function guardCpuClass(tid: number, nice: number, log: Logger): CpuClassGuard {
  const schedstatPath = `/proc/self/task/${tid}/schedstat`;
  const chrt = (policy: '--idle' | '--other') =>
    run('chrt', [policy, '-p', '0', String(tid)], { timeout: CHRT_TIMEOUT_MS });
  const state: { cpuClass: RepairCpuClass | undefined; stopped: boolean } = {
    cpuClass: undefined,
    stopped: false,
  };
  let timer: NodeJS.Timeout | undefined;
  const stop = () => {
    state.stopped = true;
    clearInterval(timer);
    repairThreadSchedIdle.set(0); // this thread's class is no longer known (a new one reports)
  };
  // The thread's counters, and when they were read: a window is as long as the timer made it (a
  // loaded event loop runs it late).
  const read = () => ({
    ...parseSchedstat(readFileSync(schedstatPath, 'utf8')),
    atMs: performance.now(),
  });
  const start = async () => {
    let last = read();
    await chrt('--idle');
    if (state.stopped) return;
    state.cpuClass = 'idle';
    repairThreadSchedIdle.set(1);
    log.info('the repair thread runs at the idle CPU class', { tid });
    const guard = new RepairCpuGuard();
    let switching = false;
    timer = setInterval(() => {
      if (switching) return; // a window that overlaps a switch is not judged
      let now: ReturnType<typeof read>;
      try {
        now = read();
      } catch (error) {
        stop(); // the thread ended (its owner stops the guard too)
        log.debug('the repair thread CPU class guard stopped', { error, tid });
        return;
      }
      const change = guard.observe({
        windowMs: Math.max(1, now.atMs - last.atMs),
        runMs: (now.runNs - last.runNs) / 1e6,
        waitMs: (now.waitNs - last.waitNs) / 1e6,
      });
      last = now;
      if (change === undefined) return;
      switching = true;
      const applied =
        change.to === 'idle' ? chrt('--idle') : chrt('--other').then(() => setPriority(tid, nice));
      applied.then(
        () => {
          switching = false;
          if (state.stopped) return;
          // The next window starts now: the one the switch took is not judged.
          try {
            last = read();
          } catch {
            return; // the thread ended: the next tick stops the guard
          }
          state.cpuClass = change.to;
          repairThreadSchedIdle.set(change.to === 'idle' ? 1 : 0);
          if (change.reason === 'starved') {
            repairThreadStarved.inc();
            log.warn('the repair thread was starved of CPU at the idle class: at nice for now', {
              tid,
              nice,
            });
          } else log.info('the repair thread runs at the idle CPU class again', { tid });
        },
        (error: unknown) => {
          // chrt worked at start and fails now: the guard stops, and says which class the thread
          // may be left in (idle, when the switch to nice failed: repair may starve).
          stop();
          log.error('the repair thread could not change its CPU class', {
            error,
            tid,
            to: change.to,
            leftIn: state.cpuClass,
          });
        },
      );
    }, WINDOW_MS);
    timer.unref();
  };
  start().catch((error: unknown) => {
    if (state.stopped) return; // the thread is gone: its schedstat with it
    log.warn('the repair thread stays at its nice value (no chrt or no schedstat here)', {
      error,
      tid,
      nice,
    });
  });
  return {
    get cpuClass() {
      return state.cpuClass;
    },
    stop,
  };
}
