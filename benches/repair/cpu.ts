// CPU time the cluster's processes spent in a window, from /proc/<pid>/stat (Linux; elsewhere
// none is reported). On a machine shared with other work, a repair's rate moves with what else
// runs; its CPU seconds per GiB rebuilt move much less, so changes compare better by them.
import { readdirSync, readFileSync } from 'node:fs';
import type { StrataProcess } from '../../test/helpers/server.ts';

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux architecture Node runs on

// CPU seconds (user + system) of each process so far; undefined where /proc cannot tell.
export function cpuSeconds(processes: StrataProcess[]): Array<number | undefined> {
  return processes.map((p) => {
    try {
      const stat = readFileSync(`/proc/${p.process.pid}/stat`, 'utf8');
      // Fields after the command name (which may hold spaces) start at its closing parenthesis:
      // utime and stime are fields 14 and 15, so 11 and 12 after the state field.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    } catch {
      return undefined;
    }
  });
}

// The CPU seconds spent between two readings, by role; undefined when any reading is missing.
export function cpuBetween(
  roles: string[],
  before: Array<number | undefined>,
  after: Array<number | undefined>,
): Map<string, number> | undefined {
  const spent = new Map<string, number>();
  for (let i = 0; i < roles.length; i++) {
    const [b, a] = [before[i], after[i]];
    if (b === undefined || a === undefined) return undefined;
    spent.set(roles[i], (spent.get(roles[i]) ?? 0) + (a - b));
  }
  return spent;
}

// CPU seconds by thread of each process so far (/proc/<pid>/task/*/stat), user and system apart,
// the threads grouped by name: Node's MainThread (the event loop), libuv-worker (the file system
// thread pool: reads, writes, fsyncs, opens), V8Worker (V8's helpers: concurrent GC marking and
// compiling), WorkerThread (worker_threads: a data server's repair thread), any other by its name.
// Threads that ended in the window are missed: the figures are a lower bound, for the shares.
export type ThreadCpu = Map<string, { user: number; system: number }>;

export function threadSeconds(processes: StrataProcess[]): Array<ThreadCpu | undefined> {
  return processes.map((p) => {
    const byGroup: ThreadCpu = new Map();
    try {
      for (const tid of readdirSync(`/proc/${p.process.pid}/task`)) {
        let stat: string;
        try {
          stat = readFileSync(`/proc/${p.process.pid}/task/${tid}/stat`, 'utf8');
        } catch {
          continue; // the thread ended between the listing and the read
        }
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const group = tid === String(p.process.pid) ? 'event loop' : threadGroup(name);
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const sum = byGroup.get(group) ?? { user: 0, system: 0 };
        sum.user += Number(fields[11]) / TICKS_PER_SECOND;
        sum.system += Number(fields[12]) / TICKS_PER_SECOND;
        byGroup.set(group, sum);
      }
      return byGroup;
    } catch {
      return undefined;
    }
  });
}

function threadGroup(name: string): string {
  if (name === 'libuv-worker') return 'fs pool';
  if (name === 'V8Worker') return 'V8 helpers';
  if (name === 'WorkerThread') return 'worker threads'; // a data server's: its repair thread
  return name;
}

// What each role's threads spent between two readings (threadSeconds), summed over its processes.
export function threadsBetween(
  roles: string[],
  before: Array<ThreadCpu | undefined>,
  after: Array<ThreadCpu | undefined>,
): Map<string, ThreadCpu> {
  const spent = new Map<string, ThreadCpu>();
  for (let i = 0; i < roles.length; i++) {
    const [b, a] = [before[i], after[i]];
    if (b === undefined || a === undefined) continue;
    const role = spent.get(roles[i]) ?? new Map();
    for (const [group, now] of a) {
      const was = b.get(group) ?? { user: 0, system: 0 };
      const sum = role.get(group) ?? { user: 0, system: 0 };
      sum.user += now.user - was.user;
      sum.system += now.system - was.system;
      role.set(group, sum);
    }
    spent.set(roles[i], role);
  }
  return spent;
}
