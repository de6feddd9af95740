// How fast the machine runs a fixed piece of CPU work right now. A side-by-side bench probes it
// before each side and at the end, so that a run during which the machine itself slowed (a VM
// whose host is busy or throttles it after a long burst) shows as such, not as a slow system.
// Why: on the 2-core test VM some sequential-read runs right after a long test run spent 2-3
// times the CPU on every process for the same bytes, and the cause was never caught; this tells
// the machine's share apart the next time (README.md, "Benchmarks").
// The work: SHA-256 of 64 MiB, four times, and an integer loop, in a child process of its own
// (single-threaded, no I/O), about 1 s on the test VM.
import { spawnSync } from 'node:child_process';

const PROBE_SCRIPT = `
const { createHash } = require('node:crypto');
const bytes = Buffer.alloc(64 << 20, 7);
const started = performance.now();
for (let i = 0; i < 4; i++) createHash('sha256').update(bytes).digest();
let x = 0;
for (let i = 0; i < 2e8; i++) x = (x + i * 7) | 0;
process.stdout.write(String(performance.now() - started) + ' ' + (x & 1));
`;

// A spread (slowest over fastest probe) above this says the machine's speed changed.
const SPREAD_WARN = 1.15;

function probeMs(): number {
  const result = spawnSync(process.execPath, ['-e', PROBE_SCRIPT], { encoding: 'utf8' });
  const ms = Number(result.stdout.split(' ')[0]);
  if (result.status !== 0 || !Number.isFinite(ms))
    throw new Error(`machine speed probe failed: ${result.stderr || result.stdout}`);
  return ms;
}

export class MachineSpeed {
  private readonly probes: Array<{ label: string; ms: number }> = [];

  probe(label: string): void {
    this.probes.push({ label, ms: probeMs() });
  }

  // One line for the bench's output, and a warning line when the speed changed during the run.
  report(): string {
    const list = this.probes.map((p) => `${p.ms.toFixed(0)} ms ${p.label}`).join(', ');
    const times = this.probes.map((p) => p.ms);
    const spread = Math.max(...times) / Math.min(...times);
    const lines = [`machine speed probe (fixed CPU work; lower is faster): ${list}`];
    if (spread > SPREAD_WARN)
      lines.push(
        `WARNING: the machine's speed changed ${((spread - 1) * 100).toFixed(0)}% during the ` +
          'run: ratios from it compare a slow machine with a fast one; run again',
      );
    return lines.join('\n');
  }
}
