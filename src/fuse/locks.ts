// POSIX byte-range locks and flock() for the mount, held cluster-wide in the metadata service
// under this mount's session: the session is renewed by heartbeats, and when the mount dies its
// locks (and the files it kept open after unlink) are released once the session's time runs out.

import type { StrataClient } from '../client/strata-client.ts';
import { isStrataError, StrataError } from '../common/errors.ts';
import { LOCK_END_MAX } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';
import type { LockService } from './operations.ts';
import type { LkIn } from './requests.ts';

const F_RDLCK = 0;
const F_WRLCK = 1;
const F_UNLCK = 2;
const WAIT_MS_MIN = 10;
const RELEASE_COUNTS_MAX = 4096;
const WAIT_MS_MAX = 250;

function lockType(type: number): 'read' | 'write' | 'unlock' {
  if (type === F_RDLCK) return 'read';
  if (type === F_WRLCK) return 'write';
  if (type === F_UNLCK) return 'unlock';
  throw new StrataError('EINVAL', `lock type ${type}`);
}

export class MountSession implements LockService {
  readonly mountId: string;
  private readonly client: StrataClient;
  private readonly log: Logger;
  private readonly ttlMs: number;
  private timer: NodeJS.Timeout | undefined;
  // (inode, kind, owner) that may hold locks, so a close without locks costs no metadata call.
  private readonly holders = new Set<string>();
  // RELEASEs that drop a flock, under way, and how many began, per inode. The kernel queues the
  // RELEASE of a close(2) before the SETLK of a later flock(2), but the session's parallel reads
  // of /dev/fuse can hand them over in either order: a lock refused (EAGAIN) while such a
  // release was under way, or after one began, is tried again once they have ended.
  private readonly releases = new Map<number, Set<Promise<unknown>>>();
  private readonly releasesBegun = new Map<number, number>();

  constructor(client: StrataClient, mountId: string, ttlMs: number, log: Logger) {
    this.client = client;
    this.mountId = mountId;
    this.ttlMs = ttlMs;
    this.log = log;
  }

  async open(description: string): Promise<void> {
    await this.client.mountOpen(this.mountId, this.ttlMs, description);
    this.timer = setInterval(() => void this.heartbeat(description), this.ttlMs / 4);
    this.timer.unref();
  }

  private async heartbeat(description: string): Promise<void> {
    try {
      await this.client.mountHeartbeat(this.mountId);
    } catch (error) {
      if (!isStrataError(error, 'ESTALE')) {
        this.log.warn('mount session heartbeat failed', { error });
        return;
      }
      // Cut off for longer than the session's time: its locks were given to others.
      this.log.error('mount session expired: its locks and unlinked open files were released', {
        mountId: this.mountId,
      });
      await this.client.mountOpen(this.mountId, this.ttlMs, description).catch(() => {});
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.client.mountClose(this.mountId).catch(() => {});
  }

  async getlk(ino: number, lk: LkIn) {
    const type = lockType(lk.type);
    if (type === 'unlock') throw new StrataError('EINVAL', 'F_GETLK of F_UNLCK');
    const conflict = await this.client.getLock(this.mountId, {
      ino,
      owner: String(lk.owner),
      kind: lk.flock ? 'flock' : 'posix',
      type,
      start: lk.start,
      end: Math.min(lk.end, LOCK_END_MAX),
    });
    if (!conflict) return { start: 0, end: 0, type: F_UNLCK, pid: 0 };
    return {
      start: conflict.start,
      end: conflict.end,
      type: conflict.type === 'read' ? F_RDLCK : F_WRLCK,
      pid: conflict.mountId === this.mountId ? conflict.pid : 0,
    };
  }

  async setlk(ino: number, lk: LkIn, wait: boolean, signal: AbortSignal): Promise<void> {
    const spec = {
      ino,
      owner: String(lk.owner),
      kind: lk.flock ? ('flock' as const) : ('posix' as const),
      type: lockType(lk.type),
      start: lk.start,
      end: Math.min(lk.end, LOCK_END_MAX),
      pid: lk.pid,
    };
    let releasesSeen = this.releasesBegun.get(ino) ?? 0;
    for (let delayMs = WAIT_MS_MIN; ; delayMs = Math.min(WAIT_MS_MAX, delayMs * 2)) {
      try {
        await this.client.setLock(this.mountId, spec);
        if (spec.type !== 'unlock') this.holders.add(`${ino}:${spec.kind}:${spec.owner}`);
        return;
      } catch (error) {
        if (!isStrataError(error, 'EAGAIN')) throw error;
        const releases = this.releases.get(ino);
        const begun = this.releasesBegun.get(ino) ?? 0;
        if (releases !== undefined || begun !== releasesSeen) {
          releasesSeen = begun;
          await Promise.allSettled([...(releases ?? [])]);
          continue;
        }
        if (!wait) throw error;
      }
      // F_SETLKW: wait for the holder, until the caller is interrupted (a signal: EINTR).
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (signal.aborted) throw new StrataError('EINTR', 'interrupted while waiting for a lock');
    }
  }

  // A RELEASE that drops a flock began (before its first await): see `releases`.
  noteRelease(ino: number, released: Promise<unknown>): void {
    const pending = this.releases.get(ino) ?? new Set<Promise<unknown>>();
    this.releases.set(ino, pending);
    pending.add(released);
    // Counts only grow (a lock compares the count it saw with the count now); the table is
    // emptied when it grows large, at the cost of one retry missed in a race at that moment.
    if (this.releasesBegun.size >= RELEASE_COUNTS_MAX) this.releasesBegun.clear();
    this.releasesBegun.set(ino, (this.releasesBegun.get(ino) ?? 0) + 1);
    const ended = () => {
      pending.delete(released);
      if (pending.size === 0 && this.releases.get(ino) === pending) this.releases.delete(ino);
    };
    released.then(ended, ended);
  }

  async releaseOwner(ino: number, owner: bigint, kind: 'posix' | 'flock'): Promise<void> {
    if (!this.holders.delete(`${ino}:${kind}:${owner}`)) return;
    await this.client.setLock(this.mountId, {
      ino,
      owner: String(owner),
      kind,
      type: 'unlock',
      start: 0,
      end: LOCK_END_MAX,
      pid: 0,
    });
  }
}
