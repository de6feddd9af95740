// Which acknowledged entries of a bulk load a view of the namespace lacks: through the cluster
// (ListObjectsV2, the S3 gateway's full scan) or in a stopped member's own state machine.
import assert from 'node:assert/strict';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { BUCKET, type BulkLoader, FILES_PER_DIR } from './load.ts';

const KEY = /^d(\d{5})\/f(\d{3})$/;
const READDIR_PAGE = 1000;

export interface ScanResult {
  keys: number;
  missing: number; // acknowledged entries absent
  elapsedMs: number;
}

// Lists every key under `prefix` with ListObjectsV2 (1,000 a page, as clients page by default).
export async function listScan(
  s3: S3Client,
  prefix: string,
  loader: BulkLoader,
): Promise<ScanResult> {
  const seen = new Uint8Array(loader.entries);
  const started = performance.now();
  let keys = 0;
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: BUCKET,
        Prefix: prefix,
        MaxKeys: 1000,
        ContinuationToken: token,
      }),
    );
    for (const object of page.Contents ?? []) {
      keys++;
      const match = KEY.exec(object.Key?.slice(prefix.length) ?? '');
      if (match) seen[Number(match[1]) * FILES_PER_DIR + Number(match[2])] = 1;
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
    assert.ok(!page.IsTruncated || token, 'a truncated page carries a continuation token');
  } while (token);
  return { keys, missing: countMissing(loader, seen), elapsedMs: performance.now() - started };
}

// Opens a stopped member's live state machine (metadata/ or metadata-<index>/, as
// metadata.current names it; read only in effect: the root exists, so nothing is written) and
// looks for every acknowledged entry of each loader under its directory.
export async function missingOnMember(
  dataDir: string,
  loads: Array<{ dirPath: string; loader: BulkLoader }>,
): Promise<number> {
  const files = new SnapshotFiles(dataDir);
  const statePath = files.currentStatePath();
  files.close();
  const machine = MetadataStateMachine.open(statePath, { durable: false });
  try {
    let missing = 0;
    for (const { dirPath, loader } of loads) {
      const seen = new Uint8Array(loader.entries);
      const dirs = Math.ceil(loader.entries / FILES_PER_DIR);
      for (let dir = 0; dir < dirs; dir++) {
        const path = `${dirPath}/d${String(dir).padStart(5, '0')}`;
        const inode = machine.reader.resolvePath(path);
        if (inode?.type !== 'dir') continue;
        let after: string | undefined;
        for (;;) {
          const page = machine.reader.readdir(inode.ino, after, READDIR_PAGE);
          for (const entry of page) {
            const file = /^f(\d{3})$/.exec(entry.name);
            if (file) seen[dir * FILES_PER_DIR + Number(file[1])] = 1;
          }
          if (page.length < READDIR_PAGE) break;
          after = page[page.length - 1].name;
        }
      }
      missing += countMissing(loader, seen);
    }
    return missing;
  } finally {
    await machine.close();
  }
}

function countMissing(loader: BulkLoader, seen: Uint8Array): number {
  let missing = 0;
  for (let i = 0; i < loader.entries; i++) if (loader.acked[i] === 1 && seen[i] !== 1) missing++;
  return missing;
}
