// A snapshot is copied by LMDB into memory (tmpfs) when there is room, then written to the data
// directory at a bounded pace, one synced chunk at a time (docs/architecture/raft.md,
// "Snapshots"): the file that arrives is byte for byte the copy, with its CRC32C, and the staged
// copy is gone. Without a staging area the copy goes to the data directory as before.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crc32c } from '../../src/data/crc32c.ts';
import { copyFilePaced } from '../../src/metadata/replication/paced-copy.ts';
import { SnapshotFiles } from '../../src/metadata/replication/snapshot-files.ts';
import { tempDir } from '../helpers/server.ts';

const FAST = { bytesPerSecond: 1024 ** 3, chunkBytes: 64 * 1024 };

test('a paced copy is the source byte for byte, with its CRC32C, in a private new file', async () => {
  const dir = tempDir('strata-paced-');
  const source = join(dir, 'source');
  // Three and a half chunks: the last one is short.
  const bytes = randomBytes(FAST.chunkBytes * 3 + FAST.chunkBytes / 2);
  writeFileSync(source, bytes);
  const target = join(dir, 'target');
  const copied = await copyFilePaced(source, target, FAST);
  assert.deepEqual(copied, { sizeBytes: bytes.length, checksum: crc32c(bytes) });
  assert.ok(readFileSync(target).equals(bytes), 'the same bytes');
  assert.equal(statSync(target).mode & 0o777, 0o600, 'readable by the owner only');
  await assert.rejects(copyFilePaced(source, target, FAST), { code: 'EEXIST' }, 'never overwrites');
  writeFileSync(join(dir, 'empty'), '');
  assert.deepEqual(await copyFilePaced(join(dir, 'empty'), join(dir, 'empty-copy'), FAST), {
    sizeBytes: 0,
    checksum: 0,
  });
});

test('a snapshot staged in memory lands in the data directory with its checksum, the staged copy removed', async () => {
  const dataDir = tempDir('strata-staging-data-');
  const stagingRoot = tempDir('strata-staging-root-');
  const files = new SnapshotFiles(dataDir, { stagingRoot });
  assert.ok(files.stagingDir?.startsWith(stagingRoot), 'staging under the root given');
  const tmpDir = files.newTmpDir();
  const copyDir = files.newCopyDir(tmpDir, 1024);
  assert.ok(copyDir.startsWith(stagingRoot), `a small state is staged: ${copyDir}`);
  // What LMDB's copy would write, short of an environment (adoptTaken only moves the file).
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  writeFileSync(join(copyDir, 'data.mdb'), bytes);
  const local = await files.adoptTaken(copyDir, tmpDir, 42);
  assert.deepEqual(local, { index: 42, sizeBytes: bytes.length, checksum: crc32c(bytes) });
  assert.ok(readFileSync(files.outgoingPath(42)).equals(bytes), 'the snapshot file is the copy');
  assert.equal(existsSync(copyDir), false, 'the staged copy is removed');
  assert.equal(existsSync(tmpDir), false, 'renamed to snap-42');

  // A state larger than the staging area can hold is copied to the data directory directly.
  const tmp2 = files.newTmpDir();
  assert.equal(files.newCopyDir(tmp2, Number.MAX_SAFE_INTEGER), tmp2);
  // A crash leaves a staged copy behind: start-up removes it.
  mkdirSync(files.stagingDir as string, { recursive: true });
  files.cleanUp(42);
  assert.equal(existsSync(files.stagingDir as string), false, 'staging emptied at start');
  assert.equal(existsSync(tmp2), false, 'and the unfinished snapshot directory');
  files.close();
});

test('without a staging area, the copy is made in the data directory', () => {
  const dataDir = tempDir('strata-staging-none-');
  const files = new SnapshotFiles(dataDir, { stagingRoot: null });
  assert.equal(files.stagingDir, undefined);
  const tmpDir = files.newTmpDir();
  assert.equal(files.newCopyDir(tmpDir, 1024), tmpDir);
  files.close();
});
