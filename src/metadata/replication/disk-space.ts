// The NOSPACE alarm of one metadata node (after etcd's: a node whose disk is full stops taking
// writes and keeps serving reads, instead of crashing). It is raised by a write that failed for
// lack of space, or by the periodic check finding less than `minFreeBytes` free; the check clears
// it once that much is free again, and the replica then resumes the work it had stopped.
import assert from 'node:assert';
import { statfsSync } from 'node:fs';
import { constants } from 'node:os';
import { StrataError } from '../../common/errors.ts';
import type { Logger } from '../../observability/logger.ts';

// lmdb-js reports LMDB's and the system's errors with a numeric `code`; node:fs uses names.
const ERRNO_EIO = 5;
const ERRNO_ENOSPC = 28;
const ERRNO_EDQUOT = 122;
const MDB_MAP_FULL = -30792;

export type WriteFailure = 'nospace' | 'fatal';

// Commands taken even while the alarm is raised, spending the reserve: the upkeep of mount
// sessions. Refusing them would let every mount's session (its locks, its open unlinked files)
// expire over a long alarm, and the mounts would find them gone once space is back.
const UPKEEP_OPS: ReadonlySet<string> = new Set(['mountHeartbeat', 'mountClose', 'expireMounts']);

export function allowedDuringNoSpace(op: string): boolean {
  return UPKEEP_OPS.has(op);
}

// Whether a failed write means "the disk is full" (recoverable: retry when space is back) or a
// real I/O error (fail-stop). LMDB turns a short write, which is how a full disk answers a large
// pwrite, into EIO; so an EIO counts as a full disk only while the disk is in fact (nearly) full.
// Any other EIO, on fsync above all, is not retried: after a failed fsync the kernel may have
// dropped the dirty pages and a retry would report success for data that never reached the disk.
export function classifyWriteFailure(
  error: unknown,
  freeBytes: number,
  minFreeBytes: number,
): WriteFailure {
  assert(minFreeBytes >= 0, 'minFreeBytes is not negative');
  const code = (error as { code?: unknown } | null)?.code;
  if (code === ERRNO_ENOSPC || code === ERRNO_EDQUOT || code === MDB_MAP_FULL) return 'nospace';
  if (code === 'ENOSPC' || code === 'EDQUOT') return 'nospace';
  if ((code === ERRNO_EIO || code === 'EIO') && freeBytes < minFreeBytes) return 'nospace';
  return 'fatal';
}

// The errno name of a system error from lmdb-js (numeric code) or node:fs (named code), or
// undefined for an error that is not a system call's (a broken invariant, an LMDB-only code).
export function systemErrorName(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return /^E[A-Z0-9]+$/.test(code) ? code : undefined;
  if (typeof code !== 'number' || code <= 0) return undefined;
  return Object.entries(constants.errno).find(([, value]) => value === code)?.[0];
}

// Bytes an unprivileged writer may still use on the file system holding `path`.
export function freeBytesAt(path: string): number {
  const stats = statfsSync(path);
  return stats.bavail * stats.bsize;
}

export interface DiskSpaceOptions {
  paths: string[]; // the LMDB directories of this node (Raft log, state machine)
  minFreeBytes: number;
  checkIntervalMs: number;
  log: Logger;
  onChange(active: boolean): void; // the metric; and on clearing, resume the stopped work
  freeBytes?: (path: string) => number; // for tests of the pure rules; statfs by default
}

export class DiskSpaceAlarm {
  private readonly options: DiskSpaceOptions;
  private readonly timer: NodeJS.Timeout;
  active = false;
  reason = '';

  constructor(options: DiskSpaceOptions) {
    assert(options.paths.length > 0, 'at least one path to watch');
    assert(options.checkIntervalMs > 0, 'a positive check interval');
    this.options = options;
    this.timer = setInterval(() => this.check(), options.checkIntervalMs);
    this.timer.unref();
    this.check();
  }

  freeBytes(): number {
    const measure = this.options.freeBytes ?? freeBytesAt;
    return Math.min(...this.options.paths.map((p) => measure(p)));
  }

  // A failed write: true when it was for lack of space (the alarm is now raised), false when it
  // is an error the node must stop on.
  absorb(error: unknown, what: string): boolean {
    const freeBytes = this.freeBytes();
    if (classifyWriteFailure(error, freeBytes, this.options.minFreeBytes) === 'fatal') return false;
    const code = (error as { code?: unknown }).code;
    this.raise(`${what} failed (${String(code)}) with ${freeBytes} bytes free`);
    return true;
  }

  // The refusal a write gets while the alarm is raised (S3 507, ENOSPC on the mount).
  refusal(): StrataError {
    return new StrataError(
      'ENOSPC',
      `metadata disk full (NOSPACE alarm: ${this.reason}); writes resume by themselves once ` +
        `${this.options.minFreeBytes} bytes are free`,
    );
  }

  check(): void {
    let freeBytes: number;
    try {
      freeBytes = this.freeBytes();
    } catch (error) {
      this.options.log.warn('cannot measure free space of the metadata disk', { error });
      return;
    }
    if (freeBytes < this.options.minFreeBytes) {
      if (!this.active) this.raise(`${freeBytes} bytes free, below ${this.options.minFreeBytes}`);
      return;
    }
    if (!this.active) return;
    this.active = false;
    this.options.log.warn('NOSPACE alarm cleared: metadata writes resume', { freeBytes });
    this.options.onChange(false);
  }

  private raise(reason: string): void {
    this.reason = reason;
    if (this.active) return;
    this.active = true;
    this.options.log.error('NOSPACE alarm: metadata disk full; refusing writes, serving reads', {
      reason,
      minFreeBytes: this.options.minFreeBytes,
    });
    this.options.onChange(true);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
