// CPU time the cluster's processes spent in a window, from /proc/<pid>/stat (Linux; elsewhere
// none is reported). On a machine shared with other work, a repair's rate moves with what else
// runs; its CPU seconds per GiB rebuilt move much less, so changes compare better by them.
import { readFileSync } from 'node:fs';
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
