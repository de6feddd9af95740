// Another client's change to a file this mount has cached: the kernel's pages of it are dropped
// (FUSE_NOTIFY_INVAL_INODE) within about a second, not only at the next open. Each tick asks the
// metadata service, in one call, for the attributes of the files opened most recently, and
// compares their versions (mtime and size) with what this mount last saw or wrote.
import { trimOldest } from '../common/map-trim.ts';
import type { Logger } from '../observability/logger.ts';
import { fuseInvalidations } from '../observability/metrics.ts';
import type { StrataFileSystem } from './file-system.ts';
import { encodeInvalInode, NOTIFY } from './protocol.ts';

const WATCHED_MAX = 1000;

export class InvalidationWatcher {
  private readonly fs: StrataFileSystem;
  private readonly notify: (code: number, body: Buffer) => Promise<void>;
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    fs: StrataFileSystem,
    notify: (code: number, body: Buffer) => Promise<void>,
    log: Logger,
  ) {
    this.fs = fs;
    this.notify = notify;
    this.log = log;
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const versions = this.fs.cachedVersions;
      trimOldest(versions, WATCHED_MAX);
      const inos = [...versions.keys()];
      if (inos.length === 0) return;
      const inodes = await this.fs.client.getattrMany(inos);
      for (const [i, ino] of inos.entries()) {
        const inode = inodes[i];
        if (!inode) {
          versions.delete(ino);
          continue;
        }
        const version = `${inode.mtimeMs}:${inode.size}`;
        const seen = versions.get(ino);
        if (seen === undefined || seen === version || this.fs.isDirty(ino)) continue;
        versions.set(ino, version);
        this.fs.leases.changed(ino); // another client's change: no lease answers with the old
        this.fs.readAhead.drop(ino);
        fuseInvalidations.inc();
        await this.notify(NOTIFY.INVAL_INODE, encodeInvalInode(ino, 0, -1));
      }
    } catch (error) {
      this.log.warn('checking cached files for changes failed', { error });
    } finally {
      this.running = false;
    }
  }
}
