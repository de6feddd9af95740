// The state machine writes its values as plain MessagePack maps; states written before that kept
// msgpackr's records (each value carrying its own structure definition). A state of the old
// encoding must read, and take new commands, as it did.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { open } from 'lmdb';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { extent, ok, ROOT } from './sm-helpers.ts';

// msgpackr's record extension, which opens a value written with a record definition in it.
const RECORD_DEFINITION = Buffer.from([0xd4, 0x72]);

function snapshotOf(machine: MetadataStateMachine, bucket: number, dir: number, file: number) {
  const { reader } = machine;
  return {
    bucket: reader.getattr(bucket),
    dir: reader.getattr(dir),
    file: reader.getattr(file),
    listing: reader.readdir(dir, undefined, 10),
    lookup: reader.lookup(dir, 'f'),
    extents: reader.extents(file, 0, 100),
  };
}

// How many values of the environment at `path` carry a record definition.
async function recordValuesIn(path: string): Promise<number> {
  const raw = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' });
  let count = 0;
  for (const { value } of raw.getRange({})) if (value.includes(RECORD_DEFINITION)) count++;
  await raw.close();
  return count;
}

// Every value of the environment at `path` written again as records, as lmdb-js's default
// encoder wrote them.
async function rewriteAsRecords(path: string): Promise<void> {
  const options = { path, keyEncoding: 'binary' as const, useRecords: false }; // see openEnv
  const plain = open<unknown, Buffer>(options);
  const entries = [...plain.getRange({})].map(({ key, value }) => ({ key, value }));
  await plain.close();
  const records = open<unknown, Buffer>({ path, keyEncoding: 'binary' });
  await records.transaction(() => {
    for (const { key, value } of entries) records.put(key, value);
  });
  await records.close();
}

test('a state written with record definitions reads and applies as before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-encoding-'));
  const path = join(dir, 'metadata');
  try {
    let machine = MetadataStateMachine.open(path);
    const disks = Array.from({ length: 6 }, (_, disk) => ({ disk, path: `/d${disk}` }));
    ok(machine, { op: 'registerDataServer', server: { serverId: 's', addr: 'h:1', disks } });
    const bucket = ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT }).inode!
      .ino;
    const sub = ok(machine, { op: 'mkdir', parent: bucket, name: 'd', mode: 0o755, caller: ROOT })
      .inode!.ino;
    const file = ok(machine, {
      op: 'create',
      parent: sub,
      name: 'f',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    }).inode!.ino;
    ok(machine, { op: 'write', ino: file, extents: [extent(0, 60), extent(60, 40)] });
    ok(machine, { op: 'setxattr', ino: file, name: 'user.k', value: Buffer.from('v') });
    const before = snapshotOf(machine, bucket, sub, file);
    await machine.close();

    assert.equal(await recordValuesIn(path), 0, 'new values are plain maps');
    await rewriteAsRecords(path);
    assert.ok((await recordValuesIn(path)) > 0, 'the rewritten state holds record definitions');

    machine = MetadataStateMachine.open(path);
    assert.deepEqual(snapshotOf(machine, bucket, sub, file), before);
    assert.equal(machine.reader.getattr(file)?.xattrs['user.k']?.toString(), 'v');
    const next = ok(machine, {
      op: 'create',
      parent: sub,
      name: 'g',
      mode: 0o600,
      caller: ROOT,
      exclusive: true,
    }).inode!;
    ok(machine, { op: 'unlink', parent: sub, name: 'f' });
    assert.deepEqual(
      machine.reader.readdir(sub, undefined, 10).map((e) => e.name),
      ['g'],
    );
    assert.equal(machine.reader.getattr(next.ino)?.mode, 0o600);
    await machine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
