import { closeSync, openSync, readSync } from 'node:fs';

// Clocks of time spent waiting for a CPU, read from /proc files that the kernel regenerates at
// each read: kept open and read again from offset 0. Absent (open returns undefined) where the
// file is missing or unreadable: not Linux, or a kernel without that accounting.
export class CpuWaitClock {
  private readonly fd: number;
  private readonly parse: (text: string) => number | undefined;
  private readonly buffer = Buffer.alloc(256);

  private constructor(fd: number, parse: (text: string) => number | undefined) {
    this.fd = fd;
    this.parse = parse;
  }

  static open(path: string, parse: (text: string) => number | undefined): CpuWaitClock | undefined {
    try {
      const clock = new CpuWaitClock(openSync(path, 'r'), parse);
      if (clock.waitMs() !== undefined) return clock;
      clock.close();
    } catch {
      // The caller goes without.
    }
    return undefined;
  }

  // Milliseconds waited since the clock's origin (boot, or the thread's start).
  waitMs(): number | undefined {
    const length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
    return this.parse(this.buffer.toString('latin1', 0, length));
  }

  close(): void {
    closeSync(this.fd);
  }
}

// /proc/thread-self/schedstat: "<on-CPU ns> <run-queue wait ns> <timeslices>" of the thread that
// opened it (this one).
export function openRunQueueClock(): CpuWaitClock | undefined {
  return CpuWaitClock.open('/proc/thread-self/schedstat', (text) => {
    const waitNs = Number(text.split(' ')[1]);
    return Number.isFinite(waitNs) ? waitNs / 1e6 : undefined;
  });
}

// /proc/pressure/cpu (pressure stall information, CONFIG_PSI): its first line, "some avg10=...
// avg60=... avg300=... total=<µs>", counts the time in which at least one task on the machine was
// ready to run and waited for a CPU.
export function openCpuPressureClock(): CpuWaitClock | undefined {
  return CpuWaitClock.open('/proc/pressure/cpu', (text) => {
    const match = /^some .*\btotal=(\d+)/.exec(text);
    return match === null ? undefined : Number(match[1]) / 1000;
  });
}
