// Shards per disk in the state machine (src/metadata/shard-counts.ts): counted when a stripe is
// first referenced, moved by relocateShard, uncounted at its current locations when the last
// reference goes; copies and multipart parts share stripes and count once; an older state without
// counts gets them rebuilt when opened. And the operator states built on them: drain, undrain,
// remove-server refused until the drain is done.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { open } from 'lmdb';
import * as K from '../../src/metadata/keys.ts';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Stripe } from '../../src/metadata/types.ts';
import {
  closeAll,
  codeOf,
  EIGHT_DISKS,
  extent,
  ok,
  openMachineWithServers,
  ROOT,
  run,
  seededRandom,
  stripe,
} from './sm-helpers.ts';

after(closeAll);

const disks = EIGHT_DISKS;
const withServers = () => openMachineWithServers(['t', 'u']);

const put = (machine: MetadataStateMachine, key: string, s: Stripe, size = s.dataLengthBytes) =>
  ok(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size,
    extents: [extent(0, size, s)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });

const inoOf = (machine: MetadataStateMachine, key: string) =>
  machine.reader.resolvePath(`/b/${key}`)!.ino;

// Counts as "server/disk: n", every disk holding a shard.
const counts = (machine: MetadataStateMachine, serverId?: string) =>
  Object.fromEntries(
    machine.reader.shardCounts(serverId).map((c) => [`${c.serverId}/${c.disk}`, c.shards]),
  );

const held = (machine: MetadataStateMachine, serverId: string) =>
  machine.reader.shardCounts(serverId).reduce((sum, c) => sum + c.shards, 0);

// The counts recomputed from scratch: every referenced stripe once, at its current locations.
function recount(machine: MetadataStateMachine): Record<string, number> {
  const seen = new Set<string>();
  const out: Record<string, number> = {};
  let cursor: string | undefined;
  do {
    const page = machine.reader.scanStripes(cursor, 1000);
    for (const { stripe: s } of page.stripes) {
      if (seen.has(s.id)) continue;
      seen.add(s.id);
      for (const at of s.shards)
        out[`${at.serverId}/${at.disk}`] = (out[`${at.serverId}/${at.disk}`] ?? 0) + 1;
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return out;
}

const relocate = (
  machine: MetadataStateMachine,
  s: Stripe,
  at: { ino: number; fileOffset: number } | { uploadId: string; partNumber: number },
  shardIndex: number,
  to: { serverId: string; disk: number },
) => {
  const current = machine.reader.relocatedShards(s.id) ?? s.shards;
  return codeOf(machine, {
    op: 'relocateShard',
    stripeId: s.id,
    shardIndex,
    from: current[shardIndex],
    to,
    at,
  });
};

const sixOnS = { 's/0': 1, 's/1': 1, 's/2': 1, 's/3': 1, 's/4': 1, 's/5': 1 };

test('a stripe counts once on each of its disks, however many objects share it', () => {
  const machine = withServers();
  const s = stripe(100);
  put(machine, 'a', s);
  assert.deepEqual(counts(machine), sixOnS);
  ok(machine, {
    op: 'copyObject',
    srcBucket: 'b',
    srcKey: 'a',
    bucket: 'b',
    key: 'c',
    caller: ROOT,
  });
  assert.deepEqual(counts(machine), sixOnS, 'a copy shares the stripe');
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'a' });
  assert.deepEqual(counts(machine), sixOnS, 'the copy still references it');
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'c' });
  assert.deepEqual(counts(machine), {}, 'the last release uncounts it');
});

test('a relocation moves one count; the release then uncounts the current locations', () => {
  const machine = withServers();
  const s = stripe(100);
  put(machine, 'a', s);
  assert.equal(
    relocate(machine, s, { ino: inoOf(machine, 'a'), fileOffset: 0 }, 2, {
      serverId: 't',
      disk: 3,
    }),
    'ok',
  );
  assert.deepEqual(counts(machine), { 's/0': 1, 's/1': 1, 's/3': 1, 's/4': 1, 's/5': 1, 't/3': 1 });
  assert.equal(held(machine, 't'), 1);
  // A refused (duplicate) relocation changes no count.
  assert.equal(
    codeOf(machine, {
      op: 'relocateShard',
      stripeId: s.id,
      shardIndex: 2,
      from: { serverId: 's', disk: 2 },
      to: { serverId: 'u', disk: 0 },
      at: { ino: inoOf(machine, 'a'), fileOffset: 0 },
    }),
    'PRECONDITION_FAILED',
  );
  assert.equal(held(machine, 'u'), 0);
  put(machine, 'a', stripe(50)); // the overwrite releases the relocated stripe
  assert.deepEqual(counts(machine), sixOnS, 'only the new stripe is left, t/3 is uncounted');
});

test('multipart: parts count when put, once when completed, unused and aborted parts uncount', () => {
  const machine = withServers();
  const upload = (uploadId: string) =>
    ok(machine, {
      op: 'createUpload',
      uploadId,
      bucket: 'b',
      key: `big-${uploadId}`,
      object: { userMeta: {} },
      owner: 'o',
    });
  upload('u1');
  const [p1, p2, p3] = [stripe(10), stripe(10), stripe(3)];
  for (const [partNumber, s] of [p1, p2, p3].entries())
    ok(machine, {
      op: 'putPart',
      uploadId: 'u1',
      partNumber: partNumber + 1,
      size: s.dataLengthBytes,
      etag: `p${partNumber + 1}`,
      extents: [extent(0, s.dataLengthBytes, s)],
    });
  assert.equal(held(machine, 's'), 18);
  // A relocation found in a part moves with the part into the object.
  assert.equal(
    relocate(machine, p1, { uploadId: 'u1', partNumber: 1 }, 0, { serverId: 'u', disk: 7 }),
    'ok',
  );
  ok(machine, {
    op: 'completeUpload',
    uploadId: 'u1',
    parts: [
      { partNumber: 1, etag: 'p1' },
      { partNumber: 2, etag: 'p2' },
    ],
    etag: 'x-2',
    minPartSizeBytes: 5,
    caller: ROOT,
  });
  assert.equal(held(machine, 's'), 11, 'part 3 unused and released');
  assert.deepEqual(counts(machine, 'u'), { 'u/7': 1 });
  assert.deepEqual(counts(machine), recount(machine));
  upload('u2');
  ok(machine, {
    op: 'putPart',
    uploadId: 'u2',
    partNumber: 1,
    size: 10,
    etag: 'q',
    extents: [extent(0, 10)],
  });
  assert.equal(held(machine, 's'), 17);
  ok(machine, { op: 'abortUpload', uploadId: 'u2' });
  assert.equal(held(machine, 's'), 11);
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'big-u1' });
  assert.deepEqual(counts(machine), {});
});

test('counts match a recount after random puts (some degraded), copies, overwrites, writes, relocations, deletes (seeded)', () => {
  const seed = Number(process.env.STRATA_SEED ?? 12);
  const random = seededRandom(seed);
  const machine = withServers();
  const keys = ['k0', 'k1', 'k2', 'k3'];
  const targets = [
    ...['t', 'u'].flatMap((serverId) => disks.map((d) => ({ serverId, disk: d.disk }))),
  ];
  for (let step = 0; step < 300; step++) {
    const key = keys[random(keys.length)];
    const exists = machine.reader.resolvePath(`/b/${key}`) !== undefined;
    const action = random(6);
    // Some stripes from degraded writes: an absent shard counts where its record names it.
    const s = stripe(100 + random(100));
    if (random(3) === 0) s.absentShards = [random(6)];
    if (action === 0 || !exists) put(machine, key, s);
    else if (action === 1)
      run(machine, {
        op: 'copyObject',
        srcBucket: 'b',
        srcKey: key,
        bucket: 'b',
        key: keys[random(keys.length)],
        caller: ROOT,
      });
    else if (action === 2) ok(machine, { op: 'deleteObject', bucket: 'b', key });
    else if (action === 3) {
      // A POSIX write over part of the file: punches the range, a stripe may be referenced twice.
      const ino = inoOf(machine, key);
      const size = machine.reader.getattr(ino)!.size;
      const at = random(Math.max(1, size));
      run(machine, { op: 'write', ino, extents: [extent(at, 10)] });
    } else {
      const ino = inoOf(machine, key);
      const [first] = machine.reader.extents(ino, 0, 1);
      if (first?.stripe)
        relocate(
          machine,
          first.stripe,
          { ino, fileOffset: first.fileOffset },
          random(6),
          targets[random(targets.length)],
        );
    }
    if (step % 25 === 0)
      assert.deepEqual(counts(machine), recount(machine), `seed ${seed} step ${step}`);
  }
  assert.deepEqual(counts(machine), recount(machine), `seed ${seed}`);
});

// Takes the counts out, as a state written by an older version would be.
async function stripCounts(path: string): Promise<void> {
  const db = open<any, Buffer>({ path, keyEncoding: 'binary', compression: false });
  await db.transaction(() => {
    for (const key of db.getKeys(K.shardCountRange())) db.removeSync(key as Buffer);
    db.removeSync(K.shardCountsReadyKey());
  });
  assert.equal([...db.getKeys(K.shardCountRange())].length, 0);
  await db.close();
}

test('a state from before the counts gets them rebuilt when opened or installed as a snapshot', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'strata-counts-'));
  const path = join(dir, 'metadata');
  const machine = MetadataStateMachine.open(path);
  try {
    ok(machine, { op: 'registerDataServer', server: { serverId: 's', addr: 'h:1', disks } });
    ok(machine, { op: 'registerDataServer', server: { serverId: 't', addr: 'h:1', disks } });
    ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
    const s = stripe(100);
    put(machine, 'a', s);
    put(machine, 'x', stripe(30));
    relocate(machine, s, { ino: inoOf(machine, 'a'), fileOffset: 0 }, 1, {
      serverId: 't',
      disk: 6,
    });
    const expected = counts(machine);
    assert.equal(held(machine, 't'), 1);
    await machine.close();
    await stripCounts(path);
    const reopened = MetadataStateMachine.open(path);
    try {
      assert.deepEqual(counts(reopened), expected);
    } finally {
      await reopened.close();
    }
    // Installed as a snapshot by a member (replaceWith): rebuilt as well.
    await stripCounts(path);
    const index = MetadataStateMachine.appliedIndexAt(path);
    const member = MetadataStateMachine.open(join(dir, 'member'));
    try {
      await member.replaceWith(path, index);
      assert.deepEqual(counts(member), expected);
    } finally {
      await member.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('drain, undrain and remove: removal only of a draining server that holds no shard', () => {
  const machine = withServers();
  const s = stripe(100);
  put(machine, 'a', s);
  const state = (id: string) => machine.reader.dataServer(id)?.state;
  const set = (serverId: string, to: 'up' | 'draining' | 'removed' | 'down') =>
    codeOf(machine, { op: 'setServerState', serverId, state: to });
  assert.equal(set('s', 'removed'), 'SERVER_NOT_DRAINED', 'an up server is drained first');
  assert.equal(set('s', 'draining'), 'ok');
  assert.equal(set('s', 'down'), 'PRECONDITION_FAILED', 'the detector never ends a drain');
  const refused = run(machine, { op: 'setServerState', serverId: 's', state: 'removed' });
  assert.ok(!refused.ok && refused.code === 'SERVER_NOT_DRAINED');
  assert.match(refused.message, /still holds 6 shards/);
  assert.equal(state('s'), 'draining');
  assert.equal(set('s', 'up'), 'ok', 'undrain');
  assert.equal(set('s', 'draining'), 'ok');
  const ino = inoOf(machine, 'a');
  for (let i = 0; i < 6; i++)
    assert.equal(
      relocate(machine, s, { ino, fileOffset: 0 }, i, { serverId: i < 3 ? 't' : 'u', disk: i }),
      'ok',
    );
  assert.equal(held(machine, 's'), 0);
  assert.equal(set('s', 'removed'), 'ok');
  assert.equal(state('s'), 'removed');
  // Final: no state change, no registration under that id.
  assert.equal(set('s', 'up'), 'SERVER_REMOVED');
  assert.equal(
    codeOf(machine, { op: 'registerDataServer', server: { serverId: 's', addr: 'h:2', disks } }),
    'SERVER_REMOVED',
  );
  // A down server can be drained (its shards are rebuilt from the others), not removed.
  assert.equal(set('t', 'down'), 'ok');
  assert.equal(set('t', 'removed'), 'SERVER_NOT_DRAINED');
  assert.equal(set('t', 'draining'), 'ok');
});
