// `strata cluster backup` and `strata cluster restore` (docs/guides/operations.md, "Backing up
// the metadata"): a server restored from a backup into a new data directory, with the data
// servers' shard directories kept, serves every object acknowledged before the backup with its
// bytes, and none written after it. A damaged backup and a non-empty directory are refused.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { StrataClient } from '../../src/client/strata-client.ts';
import { METADATA_RPC } from '../../src/metadata/types.ts';
import { RpcClient } from '../../src/rpc/index.ts';
import { freePort, MetadataCluster, raftStatusOf } from '../helpers/metadata-cluster.ts';
import { runProcess } from '../helpers/process.ts';
import { bodyBytes, md5Hex, patternBytes, s3Client } from '../helpers/s3.ts';
import { STRATA_BIN, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const BUCKET = 'keep';
const strata = (...args: string[]) =>
  runProcess(process.execPath, [STRATA_BIN, ...args], {
    env: { ...process.env, STRATA_CONFIG: '' },
  });

async function putMultipart(s3: S3Client, key: string, parts: Buffer[]): Promise<void> {
  const { UploadId } = await s3.send(
    new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }),
  );
  const done = [];
  for (const [i, body] of parts.entries()) {
    const part = await s3.send(
      new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: i + 1, Body: body }),
    );
    done.push({ PartNumber: i + 1, ETag: part.ETag });
  }
  await s3.send(
    new CompleteMultipartUploadCommand({
      Bucket: BUCKET,
      Key: key,
      UploadId,
      MultipartUpload: { Parts: done },
    }),
  );
}

// One byte of `file` at `offsetBytes` inverted, in a copy.
function damagedCopy(file: string, copy: string, offsetBytes: number): void {
  const bytes = readFileSync(file);
  bytes[offsetBytes] ^= 0xff;
  writeFileSync(copy, bytes);
}

test('a restored backup holds every object acknowledged before it, and none after', async () => {
  const root = tempDir('strata-backup-');
  const firstDir = join(root, 'first');
  const backup = join(root, 'metadata.backup');
  const first = await startStrata({ dataDir: firstDir });
  const s3 = s3Client(first);
  const before = new Map<string, string>(); // key -> MD5
  try {
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    for (const [i, size] of [1, 70_000, 1_048_577, 3 * 1024 * 1024 + 3].entries()) {
      const body = patternBytes(size, i + 1);
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `before/${i}`, Body: body }));
      before.set(`before/${i}`, md5Hex(body));
    }
    const parts = [patternBytes(5 * 1024 * 1024, 11), patternBytes(1024 + 1, 12)];
    await putMultipart(s3, 'before/multipart', parts);
    before.set('before/multipart', md5Hex(Buffer.concat(parts)));

    const saved = await strata('cluster', 'backup', backup, '--metadata-addr', first.metadataAddr);
    assert.equal(saved.status, 0, `backup failed:\n${saved.stdout}${saved.stderr}`);
    assert.match(saved.stdout, /metadata at index \d+ \(term \d+\) from node 1 .* \d+ bytes/);
    assert.ok(!existsSync(`${backup}.tmp`), 'the temporary file was renamed');
    const leftovers = readdirSync(join(firstDir, 'snapshots')).filter((n) => n.startsWith('tmp-'));
    assert.deepEqual(leftovers, [], 'the member removed its copy once the backup was read');

    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'after/kept', Body: 'new' }));
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'after/gone', Body: 'brief' }));
    await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'after/gone' }));
    await putMultipart(s3, 'after/multipart', [patternBytes(5 * 1024 * 1024, 13)]);
  } finally {
    s3.destroy();
    await first.stop();
  }

  const secondDir = join(root, 'second');
  const restored = await strata(
    'cluster',
    'restore',
    backup,
    '--data-dir',
    secondDir,
    '--node-id',
    '1',
  );
  assert.equal(restored.status, 0, `restore failed:\n${restored.stdout}${restored.stderr}`);
  assert.match(restored.stdout, /node 1 starts there as the only member/);
  // The shards stay where the data server keeps them; the credentials and the master key that
  // wraps the stripes' keys are not in the metadata, and come along with them.
  cpSync(join(firstDir, 'disks'), join(secondDir, 'disks'), { recursive: true });
  for (const name of ['credentials.json', 'master.key'])
    if (existsSync(join(firstDir, name))) cpSync(join(firstDir, name), join(secondDir, name));
  const second = await startStrata({ dataDir: secondDir });
  const s3After = s3Client(second);
  const metadata = new MetadataClient([second.metadataAddr]);
  try {
    for (const [key, md5] of before) {
      const reply = await s3After.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      assert.equal(md5Hex(await bodyBytes(reply.Body)), md5, `${key} has its bytes back`);
    }
    for (const key of ['after/kept', 'after/gone', 'after/multipart']) {
      const head = await s3After
        .send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))
        .catch((error: Error) => error);
      assert.ok(head instanceof Error && head.name === 'NotFound', `${key} written after: absent`);
    }
    const listed = await s3After.send(new ListObjectsV2Command({ Bucket: BUCKET }));
    const keys = (listed.Contents ?? []).map((o) => o.Key).sort();
    assert.deepEqual(keys, [...before.keys()].sort(), 'the listing is the backed-up one');
    const { members } = await metadata.members();
    assert.deepEqual(
      members.map((m) => m.nodeId),
      [1],
      'the restored member is the only one',
    );
  } finally {
    s3After.destroy();
    await metadata.close();
    await second.stop();
  }
});

test('restore refuses a damaged backup and a non-empty directory, leaving nothing', async () => {
  const root = tempDir('strata-backup-bad-');
  const server = await startStrata({ dataDir: join(root, 'server') });
  const backup = join(root, 'metadata.backup');
  try {
    const saved = await strata('cluster', 'backup', backup, '--metadata-addr', server.metadataAddr);
    assert.equal(saved.status, 0, `backup failed:\n${saved.stdout}${saved.stderr}`);
  } finally {
    await server.stop();
  }
  const size = readFileSync(backup).byteLength;
  const cases = [
    { name: 'state', offset: size - 4096 - 7, error: /is damaged: its state has CRC32C/ },
    { name: 'header', offset: 20, error: /damaged backup header/ },
    { name: 'magic', offset: 0, error: /not a Strata metadata backup/ },
  ];
  for (const { name, offset, error } of cases) {
    const copy = join(root, `damaged-${name}`);
    damagedCopy(backup, copy, offset);
    const target = join(root, `restore-${name}`);
    const result = await strata('cluster', 'restore', copy, '--data-dir', target, '--node-id', '1');
    assert.equal(result.status, 1, `${name}: exit 1\n${result.stderr}`);
    assert.match(result.stderr, error, `${name}: says why`);
    assert.match(result.stderr, /\(EIO\)/, `${name}: the code`);
    assert.ok(!existsSync(target), `${name}: no half-built directory is left`);
  }
  const busy = join(root, 'busy');
  mkdirSync(busy);
  writeFileSync(join(busy, 'keep-me'), 'x');
  const result = await strata('cluster', 'restore', backup, '--data-dir', busy, '--node-id', '1');
  assert.equal(result.status, 1, result.stderr);
  assert.match(result.stderr, /is not empty: restore builds a new data directory .*\(EEXIST\)/);
  assert.deepEqual(readdirSync(busy), ['keep-me'], 'the directory is untouched');
  const usage = await strata('cluster', 'restore', backup, '--data-dir', join(root, 'x'));
  assert.equal(usage.status, 2, 'no --node-id: a usage error');
});

test('a 3-member cluster restored on one member takes the other two back with add-node', async () => {
  const root = tempDir('strata-backup-raft-');
  const backup = join(root, 'metadata.backup');
  const old = await MetadataCluster.start(3);
  const client = new StrataClient({ metadataAddrs: old.addrs });
  try {
    for (const path of ['/kept', '/kept/a', '/kept/b']) await client.mkdir(path);
    // Any member's address will do: the command takes the backup from the leader.
    const follower = (await old.leader()).id === 3 ? old.addrs[0] : old.addrs[2];
    const saved = await strata('cluster', 'backup', backup, '--metadata-addr', follower);
    assert.equal(saved.status, 0, `backup failed:\n${saved.stdout}${saved.stderr}`);
    await client.mkdir('/kept/after');
  } finally {
    await client.close();
    await old.stop();
  }

  const addrs = await Promise.all([1, 2, 3].map(async () => `127.0.0.1:${await freePort()}`));
  const restoredDir = join(root, 'node1');
  const restored = await strata(
    ...['cluster', 'restore', backup, '--data-dir', restoredDir],
    ...['--node-id', '1', '--metadata-addr', addrs[0]],
  );
  assert.equal(restored.status, 0, `restore failed:\n${restored.stdout}${restored.stderr}`);
  const started: StrataProcess[] = [];
  const after = new StrataClient({ metadataAddrs: addrs });
  try {
    for (const [i, addr] of addrs.entries()) {
      const peers = addrs.filter((a) => a !== addr).join(',');
      const args = ['--role', 'metadata', '--node-id', String(i + 1), '--metadata-addr', addr];
      // The restored member keeps its peers in its configuration and does not wait for them.
      args.push('--raft-peers', peers, ...(i === 0 ? [] : ['--raft-join']));
      const dataDir = i === 0 ? restoredDir : join(root, `node${i + 1}`);
      started.push(await startStrata({ dataDir, args, ready: ['metadata'] }));
    }
    const alone = await raftStatusOf(addrs[0]);
    assert.deepEqual(alone?.confState.voters, [1], 'the restored member is a cluster of one');
    for (const id of [2, 3]) {
      const added = await strata(
        ...['cluster', 'add-node', '--node-id', String(id), addrs[id - 1]],
        ...['--metadata-addr', addrs[0]],
      );
      assert.equal(added.status, 0, `add-node ${id}: ${added.stderr}`);
    }
    const three = await raftStatusOf(addrs[0]);
    assert.deepEqual([...(three?.confState.voters ?? [])].sort(), [1, 2, 3]);
    // The restored member stops: the two added members hold the state on their own, so they
    // received it as a snapshot.
    await started[0].stop();
    const names = (await after.readdir('/kept')).map((e) => e.name).sort();
    assert.deepEqual(names, ['a', 'b'], 'the backed-up namespace, without what came after');
    await after.mkdir('/kept/new');
  } finally {
    await after.close();
    for (const process of started) await process.stop();
  }
});

test('one backup at a time per member; its copy lives until it is closed', async () => {
  const server = await startStrata({ ready: ['metadata'] });
  const rpc = new RpcClient(server.metadataAddr);
  const copies = () =>
    readdirSync(join(server.dataDir, 'snapshots')).filter((n) => n.startsWith('tmp-'));
  const refusal = (promise: Promise<unknown>) =>
    promise.then(
      () => 'accepted',
      (error: { code?: string }) => error.code,
    );
  try {
    const opened = await rpc.call(METADATA_RPC.backupOpen, {});
    const { id, sizeBytes } = opened.header as { id: string; sizeBytes: number };
    assert.ok(sizeBytes > 0);
    assert.equal(copies().length, 1, 'the copy lies under snapshots/tmp-*');
    assert.equal(await refusal(rpc.call(METADATA_RPC.backupOpen, {})), 'EBUSY');
    const read = (offsetBytes: number, lengthBytes: number) =>
      rpc.call(METADATA_RPC.backupRead, { id, offsetBytes, lengthBytes });
    assert.equal(await refusal(read(sizeBytes - 10, 11)), 'EINVAL', 'past the end');
    assert.equal(await refusal(read(0, 64 * 1024 * 1024)), 'EINVAL', 'over the chunk limit');
    assert.equal((await read(0, 4096)).body?.byteLength, 4096);
    await rpc.call(METADATA_RPC.backupClose, { id });
    assert.deepEqual(copies(), [], 'closing removes the copy');
    assert.equal(await refusal(read(0, 4096)), 'ENOENT', 'a closed backup cannot be read');
    const again = await rpc.call(METADATA_RPC.backupOpen, {});
    await rpc.call(METADATA_RPC.backupClose, { id: (again.header as { id: string }).id });
  } finally {
    await rpc.close();
    await server.stop();
  }
});

test('a backup that would eat into the NOSPACE reserve is refused with ENOSPC', async () => {
  // A reserve larger than any disk: the member's own alarm is raised too, which stops writes,
  // not backups; the backup's own check is what refuses here.
  const server = await startStrata({
    args: ['--role', 'metadata'],
    ready: ['metadata'],
    env: { STRATA_METADATA_MIN_FREE_BYTES: String(2 ** 50) },
  });
  const backup = join(server.dataDir, 'refused.backup');
  try {
    const result = await strata(
      'cluster',
      'backup',
      backup,
      '--metadata-addr',
      server.metadataAddr,
    );
    assert.equal(result.status, 1, result.stderr);
    assert.match(result.stderr, /metadata\.min_free_bytes.*\(ENOSPC\)/);
    assert.ok(!existsSync(backup) && !existsSync(`${backup}.tmp`), 'no file is left');
    const copies = readdirSync(join(server.dataDir, 'snapshots')).filter((n) =>
      n.startsWith('tmp-'),
    );
    assert.deepEqual(copies, []);
  } finally {
    await server.stop();
  }
});
