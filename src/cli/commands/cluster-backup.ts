// `strata cluster backup FILE` and `strata cluster restore FILE --data-dir DIR --node-id N`
// (docs/guides/operations.md, "Backing up the metadata").
import { renameSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { readMetadataBackup } from '../../client/metadata-backup.ts';
import { StrataError } from '../../common/errors.ts';
import { PRIVATE_FILE_MODE } from '../../common/private-dir.ts';
import { syncDirSync } from '../../common/sync-dir.ts';
import { crc32c } from '../../data/crc32c.ts';
import { encodeBackupHeader } from '../../metadata/replication/backup-file.ts';
import { progressReporter } from '../progress.ts';
import { formatBytes, UsageError } from '../usage.ts';

// Writes FILE.tmp, checks the bytes against the leader's CRC32C, makes it durable, then renames
// it to FILE: FILE is always either the previous backup or a whole new one.
export async function backupMetadata(file: string | undefined, addrs: string[]): Promise<number> {
  if (file === undefined) throw new UsageError('backup needs the FILE to write');
  const target = resolve(file);
  const tmp = `${target}.tmp`;
  const out = await open(tmp, 'w', PRIVATE_FILE_MODE).catch((error: NodeJS.ErrnoException) => {
    throw new StrataError('EIO', `cannot write ${tmp}: ${error.code ?? error.message}`);
  });
  const startedMs = Date.now();
  const progress = progressReporter({ label: `backup ${file}`, unit: 'bytes' });
  let written = 0;
  let checksum = 0;
  let position = 0;
  try {
    process.stderr.write('taking a metadata snapshot on the leader...\n');
    const info = await readMetadataBackup(addrs, {
      async start(taken) {
        const header = encodeBackupHeader(taken);
        await out.write(header, 0, header.byteLength, 0);
        position = header.byteLength;
        progress.update(0, { total: taken.sizeBytes });
      },
      async write(chunk) {
        await out.write(chunk, 0, chunk.byteLength, position);
        position += chunk.byteLength;
        written += chunk.byteLength;
        checksum = crc32c(chunk, checksum);
        progress.update(written);
      },
    });
    progress.finish();
    if (written !== info.sizeBytes || checksum !== info.checksum)
      throw new StrataError(
        'EIO',
        `received ${written} bytes with CRC32C ${checksum}; the leader sent ${info.sizeBytes} ` +
          `bytes with CRC32C ${info.checksum}`,
      );
    await out.sync();
    await out.close();
    renameSync(tmp, target);
    syncDirSync(dirname(target));
    const seconds = ((Date.now() - startedMs) / 1000).toFixed(1);
    process.stdout.write(
      `backup ${file}: metadata at index ${info.index} (term ${info.term}) from node ` +
        `${info.nodeId} (${info.addr}), ${info.sizeBytes} bytes (${formatBytes(info.sizeBytes)}), ` +
        `CRC32C ${info.checksum}, in ${seconds} s\n`,
    );
    return 0;
  } catch (error) {
    await out.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
}

export async function restoreMetadata(
  file: string | undefined,
  values: Record<string, unknown>,
): Promise<number> {
  const dataDir = values['data-dir'];
  const nodeId = Number(values['node-id']);
  if (file === undefined) throw new UsageError('restore needs the backup FILE');
  if (typeof dataDir !== 'string' || dataDir === '')
    throw new UsageError('restore needs --data-dir DIR (a new, empty directory)');
  if (!Number.isSafeInteger(nodeId) || nodeId <= 0)
    throw new UsageError('restore needs --node-id N (N > 0), the restored member');
  const addr = values['metadata-addr'];
  if (addr !== undefined && (typeof addr !== 'string' || !/^[^\s,]+:\d+$/.test(addr)))
    throw new UsageError('--metadata-addr is the restored member address, HOST:PORT');
  const { restoreBackup } = await import('../../metadata/replication/restore.ts');
  const progress = progressReporter({ label: `restore ${file}`, unit: 'bytes' });
  const restored = await restoreBackup({
    file,
    dataDir: resolve(dataDir),
    nodeId,
    ...(typeof addr === 'string' ? { addr } : {}),
    onProgress: (done, total) => progress.update(done, { total }),
  });
  progress.finish();
  const { header } = restored;
  process.stdout.write(
    `restored ${file} (index ${header.index}, taken ${new Date(header.takenAtMs).toISOString()} ` +
      `on node ${header.nodeId}) into ${dataDir}: node ${nodeId} starts there as the only ` +
      `member of a new metadata cluster, its log after index ${restored.index}.\n` +
      'Start it with `strata server` (storage.metadata_dir or storage.data_dir = that directory),' +
      ' then add members with `strata cluster add-node`.\n',
  );
  return 0;
}
