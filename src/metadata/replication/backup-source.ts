// The member's side of `strata cluster backup`: a fresh consistent copy of the state machine
// (LMDB's compacting copy from one read transaction, on a libuv worker thread: the event loop and
// the writers go on), kept in a temporary directory while the CLI reads it chunk by chunk, and
// removed when the CLI closes it, when it stays unread for BACKUP_IDLE_MS, or at the next start
// (it lies under snapshots/tmp-*, which SnapshotFiles.cleanUp removes).
import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import { chmodSync, statfsSync, statSync } from 'node:fs';
import { type FileHandle, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StrataError } from '../../common/errors.ts';
import { PRIVATE_FILE_MODE } from '../../common/private-dir.ts';
import type { Logger } from '../../observability/logger.ts';
import { MetadataStateMachine } from '../state-machine.ts';
import type { BackupInfo } from './backup-file.ts';
import { checksumFile, type SnapshotFiles } from './snapshot-files.ts';

// One backup at a time per member: each is a full copy of the state on its disk.
const BACKUPS_OPEN_MAX = 1;
// One read answers at most this much (an RPC frame carries it whole).
export const BACKUP_CHUNK_BYTES_MAX = 4 * 1024 * 1024;
// A backup nobody reads for this long is abandoned (the CLI died): its copy is removed.
const BACKUP_IDLE_MS = 60_000;

export interface BackupSourceOptions {
  files: SnapshotFiles;
  stateMachine: MetadataStateMachine;
  termAt(index: number): number | undefined;
  nodeId: number;
  addr(): string;
  // The NOSPACE alarm's reserve (metadata.min_free_bytes): a copy that would eat into it is
  // refused, so a backup never stops the member's writes.
  minFreeBytes: number;
  log: Logger;
  idleMs?: number; // default BACKUP_IDLE_MS
}

interface Session {
  dir: string;
  handle: FileHandle;
  sizeBytes: number;
  idleTimer: NodeJS.Timeout;
}

export class BackupSource {
  readonly #options: BackupSourceOptions;
  readonly #sessions = new Map<string, Session>();
  // Copies being taken: close waits for them (they read the state machine's environment).
  readonly #opening = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: BackupSourceOptions) {
    this.#options = options;
  }

  /** Takes the copy; returns its description and the id to read it by. */
  async open(): Promise<BackupInfo & { id: string }> {
    if (this.#closed) throw new StrataError('RPC_UNAVAILABLE', 'metadata service stopping');
    if (this.#sessions.size + this.#opening.size >= BACKUPS_OPEN_MAX)
      throw new StrataError('EBUSY', 'a metadata backup is being taken on this member already');
    const taking = this.#take();
    this.#opening.add(taking);
    try {
      const taken = await taking;
      if (this.#closed) {
        await this.close(taken.id);
        throw new StrataError('RPC_UNAVAILABLE', 'metadata service stopping');
      }
      return taken;
    } finally {
      this.#opening.delete(taking);
    }
  }

  async #take(): Promise<BackupInfo & { id: string }> {
    const { files, stateMachine, log } = this.#options;
    // The live file bounds the compacted copy from above.
    const stateBytes = statSync(join(files.currentStatePath(), 'data.mdb')).size;
    const { bavail, bsize } = statfsSync(files.snapshotsDir);
    if (bavail * bsize < stateBytes + this.#options.minFreeBytes)
      throw new StrataError(
        'ENOSPC',
        `a backup needs up to ${stateBytes} bytes on the metadata disk beside the ` +
          `${this.#options.minFreeBytes} kept free (metadata.min_free_bytes); ` +
          `${bavail * bsize} are free`,
      );
    const dir = files.newTmpDir();
    try {
      const startedMs = performance.now();
      await stateMachine.snapshotTo(dir);
      const file = join(dir, 'data.mdb');
      chmodSync(file, PRIVATE_FILE_MODE); // LMDB's copy is 0644: the names are the user's alone
      // The copy is the state at the index it records, whatever was applied meanwhile.
      const index = MetadataStateMachine.appliedIndexAt(dir);
      const { sizeBytes, checksum } = await checksumFile(file);
      const handle = await open(file, 'r');
      const id = randomBytes(12).toString('hex');
      const idleMs = this.#options.idleMs ?? BACKUP_IDLE_MS;
      const idleTimer = setTimeout(() => {
        log.warn('metadata backup abandoned: nobody read it; its copy is removed', { idleMs });
        void this.close(id);
      }, idleMs);
      idleTimer.unref();
      this.#sessions.set(id, { dir, handle, sizeBytes, idleTimer });
      const info: BackupInfo = {
        index,
        term: this.#options.termAt(index) ?? 0,
        sizeBytes,
        checksum,
        takenAtMs: Date.now(),
        nodeId: this.#options.nodeId,
        addr: this.#options.addr(),
      };
      log.info('metadata backup taken', {
        index,
        sizeBytes,
        durationMs: Math.round(performance.now() - startedMs),
      });
      return { ...info, id };
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Bytes [offset, offset + length) of an open backup. */
  async read(id: string, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
    const session = this.#session(id);
    if (
      !Number.isSafeInteger(offsetBytes) ||
      !Number.isSafeInteger(lengthBytes) ||
      offsetBytes < 0 ||
      lengthBytes <= 0 ||
      lengthBytes > BACKUP_CHUNK_BYTES_MAX ||
      offsetBytes + lengthBytes > session.sizeBytes
    )
      throw new StrataError(
        'EINVAL',
        `backup read [${offsetBytes}, +${lengthBytes}) outside [0, ${session.sizeBytes}) or ` +
          `over ${BACKUP_CHUNK_BYTES_MAX} bytes`,
      );
    session.idleTimer.refresh();
    const chunk = Buffer.allocUnsafe(lengthBytes);
    let done = 0;
    while (done < lengthBytes) {
      const { bytesRead } = await session.handle.read(
        chunk,
        done,
        lengthBytes - done,
        offsetBytes + done,
      );
      if (bytesRead === 0)
        throw new StrataError('EIO', `backup copy ended at ${offsetBytes + done}`);
      done += bytesRead;
    }
    return chunk;
  }

  /** Ends a backup: its copy is removed. Closing one that is gone is not an error. */
  async close(id: string): Promise<void> {
    const session = this.#sessions.get(id);
    if (session === undefined) return;
    this.#sessions.delete(id);
    clearTimeout(session.idleTimer);
    await session.handle.close().catch(() => undefined);
    await rm(session.dir, { recursive: true, force: true });
  }

  async closeAll(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#opening]);
    await Promise.all([...this.#sessions.keys()].map((id) => this.close(id)));
    assert.equal(this.#sessions.size, 0, 'every backup copy removed');
  }

  #session(id: string): Session {
    const session = typeof id === 'string' ? this.#sessions.get(id) : undefined;
    if (session === undefined)
      throw new StrataError(
        'ENOENT',
        'no such metadata backup on this member (closed, idle too long, or another member)',
      );
    return session;
  }
}
