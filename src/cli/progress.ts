// Progress of long CLI work (fs put/get, drain, repair): a bar rewritten in place on a terminal,
// plain lines at an interval when the output is a pipe or a file (logs stay readable). The text
// is made by a pure function; the reporter only decides when and how to write it.
import assert from 'node:assert/strict';
import { formatBytes } from './usage.ts';

export type ProgressUnit = 'bytes' | 'count';

export interface ProgressState {
  label: string; // "put /b/file", "draining data-3"
  unit: ProgressUnit;
  done: number;
  total?: number; // unknown (a stream from stdin): no bar, no percentage, no time left
  note?: string; // said first, e.g. "12 shards left"
  noun?: string; // what `done` counts, e.g. "moved" ("4 of 16 moved")
  elapsedMs: number;
}

const BAR_WIDTH = 24;
const TTY_INTERVAL_MS = 100; // rewrites on a terminal at most this often
export const LINE_INTERVAL_MS = 5_000; // plain lines at most this often

function amount(unit: ProgressUnit, n: number): string {
  return unit === 'bytes' ? formatBytes(n) : String(n);
}

function duration(seconds: number): string {
  if (seconds < 90) return `${Math.ceil(seconds)} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// "label: note, 4.0 MiB of 16.0 MiB noun (25%), 2.0 MiB/s, about 6 s left"
export function progressText(s: ProgressState): string {
  assert.ok(s.done >= 0 && s.elapsedMs >= 0, 'progress goes forward');
  const seconds = s.elapsedMs / 1000;
  const rate = seconds > 0 ? s.done / seconds : 0;
  const of = s.total === undefined ? '' : ` of ${amount(s.unit, s.total)}`;
  const parts = [`${amount(s.unit, s.done)}${of}${s.noun ? ` ${s.noun}` : ''}`];
  if (s.total !== undefined && s.total > 0)
    parts[0] += ` (${Math.floor((100 * Math.min(s.done, s.total)) / s.total)}%)`;
  if (seconds >= 1) {
    const perSecond = s.unit === 'bytes' ? formatBytes(Math.round(rate)) : rate.toFixed(1);
    parts.push(`${perSecond}/s`);
    if (s.total !== undefined && rate > 0 && s.done < s.total)
      parts.push(`about ${duration((s.total - s.done) / rate)} left`);
  }
  return `${s.label}: ${s.note ? `${s.note}, ` : ''}${parts.join(', ')}`;
}

export function progressBar(done: number, total: number | undefined, width = BAR_WIDTH): string {
  if (total === undefined || total <= 0) return '';
  const filled = Math.round((width * Math.min(done, total)) / total);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] `;
}

export interface ProgressReporter {
  update(done: number, options?: { total?: number; note?: string }): void;
  finish(): void; // the last state, then a newline on a terminal
}

export interface ReporterOptions {
  label: string;
  unit: ProgressUnit;
  total?: number;
  noun?: string;
  stream?: NodeJS.WriteStream; // default stderr
  lineIntervalMs?: number;
  nowMs?: () => number;
}

export function progressReporter(options: ReporterOptions): ProgressReporter {
  const stream = options.stream ?? process.stderr;
  const tty = stream.isTTY === true;
  const now = options.nowMs ?? Date.now;
  const startedMs = now();
  const interval = tty ? TTY_INTERVAL_MS : (options.lineIntervalMs ?? LINE_INTERVAL_MS);
  let state: ProgressState = { ...options, done: 0, elapsedMs: 0 };
  let lastWriteMs: number | undefined;
  let written = false;
  const write = () => {
    const text = progressText(state);
    stream.write(tty ? `\r${progressBar(state.done, state.total)}${text}\u001b[K` : `${text}\n`);
    written = true;
  };
  return {
    update(done, more = {}) {
      const nowMs = now();
      state = { ...state, ...more, done, elapsedMs: nowMs - startedMs };
      if (lastWriteMs !== undefined && nowMs - lastWriteMs < interval) return;
      lastWriteMs = nowMs;
      write();
    },
    finish() {
      state = { ...state, elapsedMs: now() - startedMs };
      // A piped run that ended before its first line says nothing: the command's own last line
      // (e.g. "put ...: 3 MiB in 0.2 s") is enough.
      if (tty && written) {
        write();
        stream.write('\n');
      }
    },
  };
}
