// `strata cluster restore`: builds a new data directory from a backup file (backup-file.ts), from
// which a metadata member starts as a NEW single-member cluster holding exactly the backed-up
// state, like etcd's `etcdutl snapshot restore`. The state machine environment is the backup's
// LMDB file, checked against its CRC32C while it is copied; the Raft store records it as the log's
// first snapshot with this node as the only voter (what a member does when it adopts a state
// written before Raft, replica.ts), so the log starts after the backup's index and the old
// membership is gone. The old members' addresses are dropped from the state too; further members
// are added with `strata cluster add-node` and receive a snapshot.
import assert from 'node:assert';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { StrataError } from '../../common/errors.ts';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../../common/private-dir.ts';
import { crc32c } from '../../data/crc32c.ts';
import { MetadataStateMachine } from '../state-machine.ts';
import { type BackupHeader, readBackupHeader } from './backup-file.ts';
import { RAFT_LOG_DIR, RaftStore } from './raft-store.ts';
import { adoptStateMachine } from './replica.ts';
import { SnapshotFiles } from './snapshot-files.ts';

const COPY_SLICE_BYTES = 1024 * 1024;

export interface RestoreOptions {
  file: string;
  dataDir: string; // must not exist, or be empty
  nodeId: number;
  addr?: string; // the restored member's metadata address, recorded in the state
  onProgress?: (doneBytes: number, totalBytes: number) => void;
}

export interface Restored {
  header: BackupHeader;
  index: number; // where the new log starts (the backup's index, plus the membership changes)
}

export async function restoreBackup(options: RestoreOptions): Promise<Restored> {
  const { file, dataDir, nodeId } = options;
  assert(Number.isSafeInteger(nodeId) && nodeId > 0, 'node id > 0');
  const existed = existsSync(dataDir);
  if (existed && readdirSync(dataDir).length > 0)
    throw new StrataError(
      'EEXIST',
      `${dataDir} is not empty: restore builds a new data directory and never writes over one`,
    );
  const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
    throw new StrataError('ENOENT', `cannot read the backup ${file}: ${error.code}`, {
      cause: error,
    });
  });
  try {
    const { header, stateOffsetBytes } = await readBackupHeader(handle, file);
    const fileBytes = (await handle.stat()).size;
    if (fileBytes !== stateOffsetBytes + header.sizeBytes)
      throw new StrataError(
        'EIO',
        `${file} has ${fileBytes} bytes; its header announces ${stateOffsetBytes + header.sizeBytes}` +
          ' (truncated or appended to)',
      );
    ensurePrivateDir(dataDir);
    try {
      const index = await buildDataDir(handle, header, stateOffsetBytes, options);
      return { header, index };
    } catch (error) {
      // Nothing half-built is left for a server to start from.
      for (const name of readdirSync(dataDir))
        rmSync(join(dataDir, name), { recursive: true, force: true });
      if (!existed) rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
  } finally {
    await handle.close();
  }
}

async function buildDataDir(
  source: FileHandle,
  header: BackupHeader,
  stateOffsetBytes: number,
  options: RestoreOptions,
): Promise<number> {
  const files = new SnapshotFiles(options.dataDir, { stagingRoot: null });
  const statePath = files.currentStatePath();
  ensurePrivateDir(statePath);
  await copyState(source, join(statePath, 'data.mdb'), header, stateOffsetBytes, options);
  const machine = MetadataStateMachine.open(statePath, { durable: true });
  let index: number;
  try {
    const applied = machine.appliedIndex();
    if (applied !== header.index)
      throw new StrataError(
        'EIO',
        `the backup's state records index ${applied}, not ${header.index}`,
      );
    forgetOldMembers(machine, options);
    index = machine.appliedIndex();
    const store = RaftStore.open(join(options.dataDir, RAFT_LOG_DIR));
    try {
      store.claimNodeId(options.nodeId);
      const state = adoptStateMachine(machine, options.nodeId, [options.nodeId]);
      await store.persist({ snapshot: state.snapshot, entries: [], hardState: state.hardState });
      assert(!store.isEmpty(), 'the restored raft store starts from its snapshot');
    } finally {
      await store.close();
    }
  } finally {
    await machine.close();
  }
  files.close();
  return index;
}

// The state's bytes go to data.mdb, their CRC32C computed on the way: a damaged backup is refused
// before anything opens it.
async function copyState(
  source: FileHandle,
  target: string,
  header: BackupHeader,
  stateOffsetBytes: number,
  options: RestoreOptions,
): Promise<void> {
  const out = await open(target, 'wx', PRIVATE_FILE_MODE);
  try {
    const slice = Buffer.allocUnsafe(COPY_SLICE_BYTES);
    let checksum = 0;
    let done = 0;
    while (done < header.sizeBytes) {
      const want = Math.min(slice.byteLength, header.sizeBytes - done);
      const { bytesRead } = await source.read(slice, 0, want, stateOffsetBytes + done);
      if (bytesRead === 0) throw new StrataError('EIO', `${options.file} ended at ${done} bytes`);
      const chunk = slice.subarray(0, bytesRead);
      checksum = crc32c(chunk, checksum);
      await out.write(chunk, 0, bytesRead, done);
      done += bytesRead;
      options.onProgress?.(done, header.sizeBytes);
    }
    if (checksum !== header.checksum)
      throw new StrataError(
        'EIO',
        `${options.file} is damaged: its state has CRC32C ${checksum}, the backup recorded ` +
          `${header.checksum}`,
      );
    await out.sync();
  } finally {
    await out.close();
  }
}

// The old members are not members of the new cluster: their addresses go, so nothing tries to
// reach them; this member's own is recorded when given (else the leader records it at start).
function forgetOldMembers(machine: MetadataStateMachine, options: RestoreOptions): void {
  const nowMs = Date.now();
  for (const member of machine.reader.members()) {
    if (member.nodeId === options.nodeId) continue;
    const result = machine.apply({ op: 'setMember', nowMs, nodeId: member.nodeId, addr: null });
    assert(result.ok, `old member ${member.nodeId} forgotten`);
  }
  if (options.addr !== undefined) {
    const result = machine.apply({
      op: 'setMember',
      nowMs,
      nodeId: options.nodeId,
      addr: options.addr,
    });
    if (!result.ok) throw new StrataError('EINVAL', `bad metadata address ${options.addr}`);
  }
}
