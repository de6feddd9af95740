import { closeSync, openSync, readSync } from 'node:fs';

// /proc/thread-self/schedstat: "<on-CPU ns> <run-queue wait ns> <timeslices>" of the thread that
// opened it (this one). Kept open and read again from offset 0 (the kernel regenerates it).
export class RunQueueClock {
  private readonly fd: number;
  private readonly buffer = Buffer.alloc(128);

  private constructor(fd: number) {
    this.fd = fd;
  }

  static open(): RunQueueClock | undefined {
    try {
      const clock = new RunQueueClock(openSync('/proc/thread-self/schedstat', 'r'));
      if (clock.waitMs() !== undefined) return clock;
      clock.close();
    } catch {
      // Not Linux, or a kernel without schedstat: the caller goes without.
    }
    return undefined;
  }

  waitMs(): number | undefined {
    const length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
    const fields = this.buffer.toString('latin1', 0, length).split(' ');
    const waitNs = Number(fields[1]);
    return Number.isFinite(waitNs) ? waitNs / 1e6 : undefined;
  }

  close(): void {
    closeSync(this.fd);
  }
}
