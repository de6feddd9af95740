// The repair's relocateShard command: a shard of a stripe moves from where the repair found it to
// where it was rebuilt, once; stale and duplicate commits are refused without a change.
// relocateShards: several moves in one command, each judged alone.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Relocation, Stripe } from '../../src/metadata/types.ts';
import { closeAll, codeOf, extent, ok, openMachine, ROOT, stripe } from './sm-helpers.ts';

after(closeAll);

const disks = Array.from({ length: 8 }, (_, disk) => ({ disk, path: `/d${disk}` }));

function withObject() {
  const machine = openMachine();
  for (const serverId of ['s', 't'])
    ok(machine, { op: 'registerDataServer', server: { serverId, addr: 'h:1', disks } });
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  const s = stripe(100);
  ok(machine, {
    op: 'putObject',
    bucket: 'b',
    key: 'k',
    size: 100,
    extents: [extent(0, 100, s)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });
  const ino = machine.reader.resolvePath('/b/k')!.ino;
  return { machine, s, ino };
}

const move = (s: Stripe, ino: number, to = { serverId: 't', disk: 0 }) =>
  ({
    op: 'relocateShard',
    stripeId: s.id,
    shardIndex: 2,
    from: { serverId: 's', disk: 2 },
    to,
    at: { ino, fileOffset: 0 },
  }) as const;

const shardsOf = (machine: MetadataStateMachine, ino: number) =>
  machine.reader.extents(ino, 0, 100)[0].stripe!.shards.map((l) => `${l.serverId}/${l.disk}`);

test('a relocated shard is read at its new location, the others where they were', () => {
  const { machine, s, ino } = withObject();
  ok(machine, move(s, ino));
  assert.deepEqual(shardsOf(machine, ino), ['s/0', 's/1', 't/0', 's/3', 's/4', 's/5']);
});

test('a duplicate or stale commit is refused and changes nothing', () => {
  const { machine, s, ino } = withObject();
  ok(machine, move(s, ino));
  // The same commit again (a retry, or a new leader replaying the task): `from` is gone.
  assert.equal(codeOf(machine, move(s, ino)), 'PRECONDITION_FAILED');
  // Another task that rebuilt the same shard elsewhere, planned against the old record.
  assert.equal(codeOf(machine, move(s, ino, { serverId: 't', disk: 1 })), 'PRECONDITION_FAILED');
  assert.deepEqual(shardsOf(machine, ino), ['s/0', 's/1', 't/0', 's/3', 's/4', 's/5']);
});

test('a target already holding a shard of the stripe is refused', () => {
  const { machine, s, ino } = withObject();
  assert.equal(codeOf(machine, move(s, ino, { serverId: 's', disk: 4 })), 'PRECONDITION_FAILED');
  assert.equal(codeOf(machine, move(s, ino, { serverId: 'nobody', disk: 0 })), 'EINVAL');
});

test('a commit for an object overwritten since the repair found it is refused', () => {
  const { machine, s, ino } = withObject();
  ok(machine, {
    op: 'putObject',
    bucket: 'b',
    key: 'k',
    size: 50,
    extents: [extent(0, 50)],
    object: { etag: 'f', userMeta: {} },
    caller: ROOT,
  });
  const again = machine.reader.resolvePath('/b/k')!.ino;
  assert.equal(codeOf(machine, move(s, ino)), 'PRECONDITION_FAILED');
  assert.equal(codeOf(machine, move(s, again)), 'PRECONDITION_FAILED');
  // Its stripe went to the collector with its shards where they were.
  assert.deepEqual(
    machine.reader.pendingGc(10).map((g) => g.id),
    [s.id],
  );
});

test('a copy shares the relocation, and the collector gets the stripe where it is now', () => {
  const { machine, s, ino } = withObject();
  ok(machine, {
    op: 'copyObject',
    srcBucket: 'b',
    srcKey: 'k',
    bucket: 'b',
    key: 'c',
    caller: ROOT,
  });
  ok(machine, move(s, ino));
  const copy = machine.reader.resolvePath('/b/c')!.ino;
  assert.deepEqual(shardsOf(machine, copy), shardsOf(machine, ino));
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'k' });
  ok(machine, { op: 'deleteObject', bucket: 'b', key: 'c' });
  const [collected] = machine.reader.pendingGc(10);
  assert.equal(collected.id, s.id);
  assert.deepEqual(collected.shards[2], { serverId: 't', disk: 0 });
});

test('the stripe walk returns every referenced stripe once per extent, page by page', () => {
  const { machine, s, ino } = withObject();
  ok(machine, {
    op: 'createUpload',
    uploadId: 'u1',
    bucket: 'b',
    key: 'm',
    object: { userMeta: {} },
    owner: 'o',
  });
  const p = stripe(10);
  ok(machine, {
    op: 'putPart',
    uploadId: 'u1',
    partNumber: 1,
    size: 10,
    etag: 'x',
    extents: [extent(0, 10, p)],
  });
  ok(machine, move(s, ino));
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = machine.reader.scanStripes(cursor, 1);
    assert.ok(page.stripes.length <= 1);
    for (const { stripe: found, at } of page.stripes) {
      seen.push(`${found.id === s.id ? 's' : 'p'} ${JSON.stringify(at)}`);
      if (found.id === s.id) assert.deepEqual(found.shards[2], { serverId: 't', disk: 0 });
    }
    cursor = page.next;
  } while (cursor !== undefined);
  assert.deepEqual(seen, [`s {"ino":${ino},"fileOffset":0}`, 'p {"uploadId":"u1","partNumber":1}']);
  // A part's stripe is relocated through its part.
  ok(machine, { ...move(p, 0), at: { uploadId: 'u1', partNumber: 1 } });
  assert.deepEqual(machine.reader.listParts('u1')[0].extents[0].stripe.shards[2], {
    serverId: 't',
    disk: 0,
  });
});

const batch = (moves: Array<Relocation & { op?: string }>) => ({
  op: 'relocateShards' as const,
  moves: moves.map(({ op: _op, ...m }) => m),
});

test('relocateShards applies each move alone: a refused one changes nothing, the rest apply', () => {
  const { machine, s, ino } = withObject();
  const other = {
    ...move(s, ino, { serverId: 't', disk: 1 }),
    shardIndex: 3,
    from: { serverId: 's', disk: 3 },
  };
  const stale = { ...move(s, ino, { serverId: 't', disk: 2 }), from: { serverId: 's', disk: 5 } };
  const result = ok(machine, batch([move(s, ino), stale, other]));
  assert.deepEqual(
    result.relocations?.map((r) => (r.ok ? 'ok' : r.code)),
    ['ok', 'PRECONDITION_FAILED', 'ok'],
  );
  assert.deepEqual(shardsOf(machine, ino), ['s/0', 's/1', 't/0', 't/1', 's/4', 's/5']);
  // Moves later in a batch see the earlier ones: the first again is stale, a target now taken
  // by the stripe is refused.
  const again = ok(
    machine,
    batch([move(s, ino), { ...other, shardIndex: 4, from: { serverId: 's', disk: 4 } }]),
  );
  assert.deepEqual(
    again.relocations?.map((r) => (r.ok ? 'ok' : r.code)),
    ['PRECONDITION_FAILED', 'PRECONDITION_FAILED'],
  );
  assert.deepEqual(shardsOf(machine, ino), ['s/0', 's/1', 't/0', 't/1', 's/4', 's/5']);
});

test('relocateShards counts the moved shards per disk as single moves do', () => {
  const { machine, s, ino } = withObject();
  const other = {
    ...move(s, ino, { serverId: 't', disk: 1 }),
    shardIndex: 3,
    from: { serverId: 's', disk: 3 },
  };
  ok(machine, batch([move(s, ino), other]));
  const counts = Object.fromEntries(
    machine.reader.shardCounts().map((c) => [`${c.serverId}/${c.disk}`, c.shards]),
  );
  assert.equal(counts['t/0'], 1);
  assert.equal(counts['t/1'], 1);
  assert.equal(counts['s/2'], undefined);
  assert.equal(counts['s/3'], undefined);
});

test('relocateShards takes 1 to 256 moves, each an object', () => {
  const { machine, s, ino } = withObject();
  assert.equal(codeOf(machine, batch([])), 'EINVAL');
  assert.equal(codeOf(machine, batch(Array.from({ length: 257 }, () => move(s, ino)))), 'EINVAL');
  const junk = { op: 'relocateShards', moves: [null] } as unknown as ReturnType<typeof batch>;
  const result = ok(machine, junk);
  assert.deepEqual(
    result.relocations?.map((r) => (r.ok ? 'ok' : r.code)),
    ['EINVAL'],
  );
  assert.deepEqual(shardsOf(machine, ino), ['s/0', 's/1', 's/2', 's/3', 's/4', 's/5']);
});

// A cold stripe (placed on the servers labelled pool "cold") on 's'; 'c' is cold too, 't' hot.
function withColdObject() {
  const machine = openMachine();
  const domain = (host: string, pool?: string) => ({
    zone: 'z',
    rack: 'r',
    host,
    ...(pool === undefined ? {} : { pool }),
  });
  for (const [serverId, pool] of [
    ['s', 'cold'],
    ['c', 'cold'],
    ['t', undefined],
  ] as const)
    ok(machine, {
      op: 'registerDataServer',
      server: { serverId, addr: 'h:1', disks, domain: domain(serverId, pool) },
    });
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  const s: Stripe = { ...stripe(100), pool: 'cold' };
  ok(machine, {
    op: 'putObject',
    bucket: 'b',
    key: 'k',
    size: 100,
    extents: [extent(0, 100, s)],
    object: { etag: 'e', userMeta: {} },
    caller: ROOT,
  });
  const ino = machine.reader.resolvePath('/b/k')!.ino;
  return { machine, s, ino };
}

test("a relocation out of the stripe's pool is refused on every path, one move or a batch", () => {
  const { machine, s, ino } = withColdObject();
  const hot = move(s, ino, { serverId: 't', disk: 0 });
  assert.equal(codeOf(machine, hot), 'PLACEMENT_VIOLATION');
  // In a batch the move out of the pool is refused alone; the one within it applies.
  const cold = { ...move(s, ino, { serverId: 'c', disk: 1 }), shardIndex: 3 };
  const result = ok(machine, batch([hot, { ...cold, from: { serverId: 's', disk: 3 } }]));
  assert.deepEqual(
    result.relocations?.map((r) => (r.ok ? 'ok' : r.code)),
    ['PLACEMENT_VIOLATION', 'ok'],
  );
  assert.deepEqual(shardsOf(machine, ino), ['s/0', 's/1', 's/2', 'c/1', 's/4', 's/5']);
  // Within the pool a single move goes too.
  ok(machine, move(s, ino, { serverId: 'c', disk: 0 }));
  assert.deepEqual(shardsOf(machine, ino), ['s/0', 's/1', 'c/0', 'c/1', 's/4', 's/5']);
});

test('a stripe with no pool may move to any server, labelled or not', () => {
  const { machine, s, ino } = withObject();
  ok(machine, {
    op: 'registerDataServer',
    server: {
      serverId: 'c',
      addr: 'h:1',
      disks,
      domain: { zone: 'z', rack: 'r', host: 'c', pool: 'cold' },
    },
  });
  ok(machine, move(s, ino, { serverId: 'c', disk: 0 }));
  assert.deepEqual(shardsOf(machine, ino), ['s/0', 's/1', 'c/0', 's/3', 's/4', 's/5']);
});
