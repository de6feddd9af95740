// Whether the live state machine survived the last stop (docs/architecture/raft.md, "Power
// loss"). Under Raft the state machine's LMDB environment is written without syncs (MDB_NOSYNC;
// the Raft log is the durable record): a kill -9 loses nothing of it, as the kernel's page cache
// holds every write and is what the next open reads. A power loss or a kernel crash loses the
// page cache, and NOSYNC lets the kernel have written the meta page before the pages it names,
// so the B-tree may be corrupt, not only behind. The kernel's boot id tells the two apart: it
// changes at every boot. A marker beside the state records the boot in which the state was last
// opened for writing, and whether it was closed cleanly (synced) since; a start in another boot
// after an unclean stop rebuilds the state from the last snapshot file and the log.
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { StrataError } from '../../common/errors.ts';
import { PRIVATE_FILE_MODE } from '../../common/private-dir.ts';
import { syncDirSync } from '../../common/sync-dir.ts';

const MARKER_FILE = 'state-boot.json';
// Linux's boot id, new at every boot (random(4)); the same inside containers as on the host.
export const KERNEL_BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

export interface StateBootMarker {
  bootId: string;
  // The state was synced to disk and closed: whatever boot comes next, it is whole.
  clean: boolean;
}

export type StateVerdict =
  // The state is what was last written: the page cache survived, or it was synced.
  | 'trusted'
  // Written without syncs in an earlier boot and not closed cleanly: rebuild it.
  | 'rebuild';

// bootId undefined: the check is off (metadata.boot_id_file empty, or not readable). A state
// without a marker is new, or from a version before the marker: nothing to compare it with.
export function stateVerdict(
  marker: StateBootMarker | undefined,
  bootId: string | undefined,
): StateVerdict {
  if (bootId === undefined || marker === undefined) return 'trusted';
  if (marker.clean || marker.bootId === bootId) return 'trusted';
  return 'rebuild';
}

/**
 * The kernel's boot id from `file`; undefined when the check is off (`file` empty). A file that
 * cannot be read is a configuration error: starting without the check would trust a state a
 * power loss may have corrupted, so the start is refused, naming the way to turn it off.
 */
export function readBootId(file: string): string | undefined {
  if (file === '') return undefined;
  let id: string;
  try {
    id = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new StrataError(
      'EINVAL',
      `metadata.boot_id_file: cannot read ${file} (${(error as Error).message}); set it to "" ` +
        'to start without the power-loss check',
    );
  }
  if (id === '')
    throw new StrataError('EINVAL', `metadata.boot_id_file: ${file} is empty, no boot id`);
  return id;
}

export function readStateBootMarker(dir: string): StateBootMarker | undefined {
  const file = join(dir, MARKER_FILE);
  if (!existsSync(file)) return undefined;
  let parsed: Partial<StateBootMarker>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StateBootMarker>;
  } catch (error) {
    throw new StrataError('EIO', `${file} is not a state boot marker: ${(error as Error).message}`);
  }
  if (typeof parsed?.bootId !== 'string' || typeof parsed.clean !== 'boolean')
    throw new StrataError('EIO', `${file} is not a state boot marker: ${JSON.stringify(parsed)}`);
  return { bootId: parsed.bootId, clean: parsed.clean };
}

/** With the check off, no marker: one left from before would vouch for a state it never saw. */
export function removeStateBootMarker(dir: string): void {
  rmSync(join(dir, MARKER_FILE), { force: true });
}

/** Records the marker durably (a synced file renamed into place, then the directory synced). */
export function writeStateBootMarker(dir: string, marker: StateBootMarker): void {
  const file = join(dir, MARKER_FILE);
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', PRIVATE_FILE_MODE);
  try {
    writeSync(fd, JSON.stringify(marker));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDirSync(dir);
}
