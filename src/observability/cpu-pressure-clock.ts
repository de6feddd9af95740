import { closeSync, openSync, readSync } from 'node:fs';

// /proc/pressure/cpu (Linux's pressure stall information): its first line, "some avg10=...
// avg60=... avg300=... total=<µs>", counts the time in which at least one task on the machine was
// ready to run and waited for a CPU. Kept open and read again from offset 0 (the kernel
// regenerates it); absent without CONFIG_PSI.
export class CpuPressureClock {
  private readonly fd: number;
  private readonly buffer = Buffer.alloc(256);

  private constructor(fd: number) {
    this.fd = fd;
  }

  static open(): CpuPressureClock | undefined {
    try {
      const clock = new CpuPressureClock(openSync('/proc/pressure/cpu', 'r'));
      if (clock.waitMs() !== undefined) return clock;
      clock.close();
    } catch {
      // Not Linux, or a kernel without pressure stall information: the caller goes without.
    }
    return undefined;
  }

  // Milliseconds in which some task waited for a CPU, since boot.
  waitMs(): number | undefined {
    const length = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
    const text = this.buffer.toString('latin1', 0, length);
    const match = /^some .*\btotal=(\d+)/.exec(text);
    return match === null ? undefined : Number(match[1]) / 1000;
  }

  close(): void {
    closeSync(this.fd);
  }
}
