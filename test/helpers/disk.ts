// Full disks for fault tests: small tmpfs file systems (root only) filled to the last block.
import { closeSync, openSync, writeSync } from 'node:fs';

// Writes until the file system says ENOSPC: the disk is then full to the last block.
export function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
}
