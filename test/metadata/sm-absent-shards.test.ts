// The table of shards degraded writes left absent (src/metadata/absent-shards.ts): listed at a
// stripe's first reference, dropped when relocateShard rebuilds the shard and when the stripe's
// last reference goes; copies and multipart parts share the stripe and list it once. Readers see
// an absent shard named in the stripe until a repair moved it or rebuilt it where it is recorded.
// The shard counts stay exact.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { ShardLocation, Stripe } from '../../src/metadata/types.ts';
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
const withServers = () => openMachineWithServers(['t']);

const degraded = (absentShards: number[], size = 100): Stripe => ({
  ...stripe(size),
  absentShards,
});

const put = (machine: MetadataStateMachine, key: string, s: Stripe) =>
  codeOf(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size: s.dataLengthBytes,
    extents: [extent(0, s.dataLengthBytes, s)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });

// The table as "stripe/index@server/disk", in key order.
const listed = (machine: MetadataStateMachine) => {
  const { shards, count } = machine.reader.absentShards(1000);
  assert.equal(count, shards.length);
  return shards.map(
    (a) => `${a.stripeId}/${a.shardIndex}@${a.location.serverId}/${a.location.disk}`,
  );
};

const at = (s: Stripe, i: number) => `${s.id}/${i}@${s.shards[i].serverId}/${s.shards[i].disk}`;

const firstExtent = (machine: MetadataStateMachine, key: string) => {
  const ino = machine.reader.resolvePath(`/b/${key}`)!.ino;
  return { ino, extent: machine.reader.extents(ino, 0, 1)[0] };
};

const relocate = (
  machine: MetadataStateMachine,
  s: Stripe,
  site: { ino: number; fileOffset: number } | { uploadId: string; partNumber: number },
  shardIndex: number,
  to: ShardLocation,
) =>
  codeOf(machine, {
    op: 'relocateShard',
    stripeId: s.id,
    shardIndex,
    from: (machine.reader.relocatedShards(s.id) ?? s.shards)[shardIndex],
    to,
    at: site,
  });

test('a degraded write lists its absent shards at the first reference; copies list nothing more', () => {
  const machine = withServers();
  const s = degraded([4]);
  const other = degraded([1]);
  assert.equal(put(machine, 'a', s), 'ok');
  assert.equal(put(machine, 'other', other), 'ok');
  assert.deepEqual(listed(machine), [at(s, 4), at(other, 1)]);
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'other' });
  assert.deepEqual(listed(machine), [at(s, 4)]);
  // Counted where the record names them, like every other shard.
  assert.equal(
    machine.reader.shardCounts('s').reduce((sum, c) => sum + c.shards, 0),
    6,
  );
  assert.deepEqual(firstExtent(machine, 'a').extent.stripe!.absentShards, [4]);
  ok(machine, {
    op: 'copyObject',
    srcBucket: 'b',
    srcKey: 'a',
    bucket: 'b',
    key: 'copy',
    caller: ROOT,
  });
  assert.deepEqual(listed(machine), [at(s, 4)], 'the copy shares the stripe');
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'a' });
  assert.deepEqual(listed(machine), [at(s, 4)], 'the copy still references it');
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'copy' });
  assert.deepEqual(listed(machine), [], 'the last release drops the stripe');
  assert.deepEqual(machine.reader.shardCounts(), []);
});

test('relocateShard drops the shard it rebuilds, and readers no longer see it absent', () => {
  const machine = withServers();
  const s = degraded([2]);
  put(machine, 'a', s);
  const { ino } = firstExtent(machine, 'a');
  // Moving a shard that was written leaves the absent one listed.
  assert.equal(relocate(machine, s, { ino, fileOffset: 0 }, 0, { serverId: 't', disk: 0 }), 'ok');
  assert.deepEqual(listed(machine), [at(s, 2)]);
  assert.deepEqual(firstExtent(machine, 'a').extent.stripe!.absentShards, [2]);
  // A stale relocation (the shard is not at `from`) is refused and changes nothing.
  assert.equal(
    codeOf(machine, {
      op: 'relocateShard',
      stripeId: s.id,
      shardIndex: 2,
      from: { serverId: 't', disk: 7 },
      to: { serverId: 't', disk: 2 },
      at: { ino, fileOffset: 0 },
    }),
    'PRECONDITION_FAILED',
  );
  assert.deepEqual(listed(machine), [at(s, 2)]);
  assert.equal(relocate(machine, s, { ino, fileOffset: 0 }, 2, { serverId: 't', disk: 2 }), 'ok');
  assert.deepEqual(listed(machine), []);
  assert.equal(firstExtent(machine, 'a').extent.stripe!.absentShards, undefined);
  // The counts moved with the relocations: 4 shards left on s.
  assert.equal(
    machine.reader.shardCounts('s').reduce((sum, c) => sum + c.shards, 0),
    4,
  );
});

test('relocateShard in place (to = from) drops the absent shard and changes nothing else', () => {
  // A shard rebuilt where its record names it (a cluster of exactly k + m disks has nowhere
  // else): the record, the counts and the other stripe's absent shard stay; a repeat changes
  // nothing.
  const machine = withServers();
  const s = degraded([2]);
  const other = degraded([1]);
  put(machine, 'a', s);
  put(machine, 'other', other);
  const { ino } = firstExtent(machine, 'a');
  const counts = machine.reader.shardCounts();
  const inPlace = () => relocate(machine, s, { ino, fileOffset: 0 }, 2, s.shards[2]);
  assert.equal(inPlace(), 'ok');
  assert.deepEqual(listed(machine), [at(other, 1)]);
  const seen = firstExtent(machine, 'a').extent.stripe!;
  assert.equal(seen.absentShards, undefined, 'readers no longer skip it');
  assert.deepEqual(seen.shards, s.shards);
  assert.deepEqual(machine.reader.shardCounts(), counts);
  assert.equal(inPlace(), 'ok');
  assert.deepEqual(listed(machine), [at(other, 1)]);
  assert.deepEqual(machine.reader.shardCounts(), counts);
  // Another shard's place is still refused as a target.
  assert.equal(relocate(machine, s, { ino, fileOffset: 0 }, 1, s.shards[2]), 'PRECONDITION_FAILED');
});

test('multipart: a part lists its absent shards; completion keeps them, an unused part drops them', () => {
  const machine = withServers();
  ok(machine, {
    op: 'createUpload',
    uploadId: 'u1',
    bucket: 'b',
    key: 'big',
    object: { userMeta: {} },
    owner: 'o',
  });
  const parts = [degraded([0], 10), degraded([3], 10), degraded([1], 3)];
  for (const [i, s] of parts.entries())
    ok(machine, {
      op: 'putPart',
      uploadId: 'u1',
      partNumber: i + 1,
      size: s.dataLengthBytes,
      etag: `p${i + 1}`,
      extents: [extent(0, s.dataLengthBytes, s)],
    });
  assert.deepEqual(listed(machine), [at(parts[0], 0), at(parts[1], 3), at(parts[2], 1)]);
  // Rebuilt where the walk found it: in its part.
  const site = { uploadId: 'u1', partNumber: 1 };
  assert.equal(relocate(machine, parts[0], site, 0, { serverId: 't', disk: 0 }), 'ok');
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
  assert.deepEqual(listed(machine), [at(parts[1], 3)], 'part 3 was unused and released');
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'big' });
  assert.deepEqual(listed(machine), []);
});

test('absent shards the writer could not have left are refused and change nothing', () => {
  const machine = withServers();
  // 4+2: a writer commits with k+1 = 5 shards, so at most one is absent.
  for (const bad of [[0, 1], [6], [-1], [1, 1], [0.5]]) {
    assert.equal(put(machine, 'a', degraded(bad)), 'EINVAL', JSON.stringify(bad));
    assert.equal(machine.reader.resolvePath('/b/a'), undefined);
  }
  assert.deepEqual(listed(machine), []);
  assert.deepEqual(machine.reader.shardCounts(), []);
  // Nor a list that is not one, even on a stripe already referenced (only its shape is read
  // there, but every replica reads it): EINVAL, not a broken replica.
  const s = stripe(100);
  assert.equal(put(machine, 'first', s), 'ok');
  const bogus = { ...s, absentShards: 'x' as unknown as number[] };
  assert.equal(put(machine, 'again', bogus), 'EINVAL');
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'first' });
  // A stripe from a writer before the field lists nothing.
  assert.equal(put(machine, 'a', stripe(100)), 'ok');
  assert.deepEqual(listed(machine), []);
});

// The table is a function of the referenced stripes: each absent shard its current record still
// names at the written location (relocations applied), once per stripe.
function expected(machine: MetadataStateMachine): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = machine.reader.scanStripes(cursor, 1000);
    for (const { stripe: s } of page.stripes) {
      if (seen.has(s.id)) continue;
      seen.add(s.id);
      for (const i of s.absentShards ?? []) out.push(at(s, i));
    }
    cursor = page.next;
  } while (cursor !== undefined);
  return out.sort();
}

test('the table matches its stripes after random puts, copies, writes, relocations, deletes (seeded)', () => {
  const seed = Number(process.env.STRATA_SEED ?? 7);
  const random = seededRandom(seed);
  const machine = withServers();
  const keys = ['k0', 'k1', 'k2', 'k3'];
  const targets = disks.map((d) => ({ serverId: 't', disk: d.disk }));
  const drawn = () => (random(2) === 0 ? stripe(100) : degraded([random(6)]));
  for (let step = 0; step < 300; step++) {
    const key = keys[random(keys.length)];
    const exists = machine.reader.resolvePath(`/b/${key}`) !== undefined;
    const action = random(6);
    if (action === 0 || !exists) assert.equal(put(machine, key, drawn()), 'ok');
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
      const { ino } = firstExtent(machine, key);
      const size = machine.reader.getattr(ino)!.size;
      const s = drawn();
      run(machine, { op: 'write', ino, extents: [extent(random(Math.max(1, size)), 10, s)] });
    } else {
      const { ino, extent: first } = firstExtent(machine, key);
      if (first?.stripe)
        relocate(
          machine,
          first.stripe,
          { ino, fileOffset: first.fileOffset },
          random(6),
          targets[random(targets.length)],
        );
    }
    assert.deepEqual(listed(machine).sort(), expected(machine), `seed ${seed} step ${step}`);
  }
});
