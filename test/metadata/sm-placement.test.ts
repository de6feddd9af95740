// The placement invariant in the state machine: the command that first commits a stripe checks
// its locations against the replicated server records (src/metadata/stripe-placement.ts), and
// refuses a violating stripe with PLACEMENT_VIOLATION, changing nothing.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { ClusterConfig, ShardLocation, Stripe } from '../../src/metadata/types.ts';
import { closeAll, codeOf, ok, openEmptyMachine, ROOT, run } from './sm-helpers.ts';

after(closeAll);

const GiB = 2 ** 30;
let stripeCounter = 0;

// Three servers on three hosts, six disks each, every disk reported with room: 4+2 stripes must
// hold at most 2 shards per host.
function cluster(serverCount = 3): MetadataStateMachine {
  const machine = openEmptyMachine();
  for (let n = 1; n <= serverCount; n++) {
    const disks = Array.from({ length: 6 }, (_, disk) => ({ disk, path: `/d${disk}` }));
    const domain = { zone: 'z', rack: 'r', host: `h${n}` };
    ok(machine, {
      op: 'registerDataServer',
      server: { serverId: `s${n}`, addr: `h${n}:1`, disks, domain },
    });
    ok(machine, {
      op: 'setDiskStatus',
      serverId: `s${n}`,
      disks: disks.map(({ disk }) => ({ disk, state: 'up', capacityBytes: GiB, freeBytes: GiB })),
    });
  }
  ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
  return machine;
}

const epochOf = (machine: MetadataStateMachine) => machine.reader.placementView().epoch;

// A 4+2 stripe with shard i on `where[i]` ("s1:0" = server s1, disk 0).
function stripeOn(where: string[], placementEpoch?: number): Stripe {
  stripeCounter++;
  const shards: ShardLocation[] = where.map((w) => {
    const [serverId, disk] = w.split(':');
    return { serverId, disk: Number(disk) };
  });
  return {
    id: stripeCounter.toString(16).padStart(32, 'a'),
    k: 4,
    m: 2,
    shardSizeBytes: 1,
    dataLengthBytes: 4,
    shards,
    placementEpoch,
  };
}

function put(machine: MetadataStateMachine, key: string, stripe: Stripe): string {
  return codeOf(machine, {
    op: 'putObject',
    bucket: 'b',
    key,
    size: 4,
    extents: [{ fileOffset: 0, length: 4, stripe, stripeOffset: 0 }],
    object: { etag: key, userMeta: {} },
    caller: ROOT,
  });
}

const TWO_EACH = ['s1:0', 's1:1', 's2:0', 's2:1', 's3:0', 's3:1'];
const THREE_THREE = ['s1:0', 's1:1', 's1:2', 's2:0', 's2:1', 's2:2'];

test('a stripe with two shards per host of three commits; three on one host is refused', () => {
  const machine = cluster();
  const epoch = epochOf(machine);
  assert.equal(put(machine, 'good', stripeOn(TWO_EACH, epoch)), 'ok');
  assert.equal(put(machine, 'bad', stripeOn(THREE_THREE, epoch)), 'PLACEMENT_VIOLATION');
  assert.equal(machine.reader.resolvePath('/b/bad'), undefined, 'a refused stripe leaves nothing');
  const result = run(machine, {
    op: 'putObject',
    bucket: 'b',
    key: 'bad',
    size: 4,
    extents: [{ fileOffset: 0, length: 4, stripe: stripeOn(THREE_THREE, epoch), stripeOffset: 0 }],
    object: { etag: 'x', userMeta: {} },
    caller: ROOT,
  });
  assert.ok(!result.ok && /more than m = 2/.test(result.message), JSON.stringify(result));
});

test('duplicate disks, unknown servers or disks and a wrong width are refused at any epoch', () => {
  const machine = cluster();
  const epoch = epochOf(machine);
  for (const placementEpoch of [epoch, undefined, epoch - 1]) {
    const cases: Array<[string, string[]]> = [
      ['dup', ['s1:0', 's1:0', 's2:0', 's2:1', 's3:0', 's3:1']],
      ['unknown-server', ['s1:0', 's1:1', 's2:0', 's2:1', 's3:0', 'nope:1']],
      ['unknown-disk', ['s1:0', 's1:1', 's2:0', 's2:1', 's3:0', 's3:9']],
      ['narrow', ['s1:0', 's1:1', 's2:0', 's2:1', 's3:0']],
    ];
    for (const [key, where] of cases)
      assert.equal(
        put(machine, key, stripeOn(where, placementEpoch)),
        'PLACEMENT_VIOLATION',
        `${key} at epoch ${placementEpoch}`,
      );
  }
});

test('multipart parts and POSIX writes are checked the same way', () => {
  const machine = cluster();
  const epoch = epochOf(machine);
  ok(machine, {
    op: 'createUpload',
    uploadId: 'u1',
    bucket: 'b',
    key: 'mp',
    object: { userMeta: {} },
    owner: 'o',
  });
  const part = (stripe: Stripe) =>
    codeOf(machine, {
      op: 'putPart',
      uploadId: 'u1',
      partNumber: 1,
      size: 4,
      etag: 'p',
      extents: [{ fileOffset: 0, length: 4, stripe, stripeOffset: 0 }],
    });
  assert.equal(part(stripeOn(THREE_THREE, epoch)), 'PLACEMENT_VIOLATION');
  assert.equal(part(stripeOn(TWO_EACH, epoch)), 'ok');
  const bucketIno = machine.reader.getBucket('b')?.ino as number;
  ok(machine, {
    op: 'create',
    parent: bucketIno,
    name: 'f',
    mode: 0o644,
    caller: ROOT,
    exclusive: true,
  });
  const ino = machine.reader.lookup(bucketIno, 'f')?.ino as number;
  const write = (stripe: Stripe) =>
    codeOf(machine, {
      op: 'write',
      ino,
      extents: [{ fileOffset: 0, length: 4, stripe, stripeOffset: 0 }],
    });
  assert.equal(write(stripeOn(THREE_THREE, epoch)), 'PLACEMENT_VIOLATION');
  assert.equal(write(stripeOn(TWO_EACH, epoch)), 'ok');
});

test('a stripe placed while a server was up commits after it is marked down (liveness is not checked)', () => {
  const machine = cluster();
  const epoch = epochOf(machine);
  ok(machine, { op: 'setServerState', serverId: 's3', state: 'suspect' });
  ok(machine, { op: 'setServerState', serverId: 's3', state: 'down' });
  assert.equal(epochOf(machine), epoch, 'a narrower live view keeps the epoch');
  assert.equal(put(machine, 'degraded', stripeOn(TWO_EACH, epoch)), 'ok');
});

test('with one of three hosts down, three shards on each of the other two commit', () => {
  const machine = cluster();
  // Judged against the records as of each command (the map is cached within a command only).
  assert.equal(
    put(machine, 'all-up', stripeOn(THREE_THREE, epochOf(machine))),
    'PLACEMENT_VIOLATION',
  );
  ok(machine, { op: 'setServerState', serverId: 's3', state: 'down' });
  assert.equal(put(machine, 'two-hosts', stripeOn(THREE_THREE, epochOf(machine))), 'ok');
});

test('a server back up moves the epoch: a stripe placed before is judged on structure only', () => {
  const machine = cluster();
  ok(machine, { op: 'setServerState', serverId: 's3', state: 'down' });
  const placedAt = epochOf(machine);
  ok(machine, { op: 'setServerState', serverId: 's3', state: 'up' });
  assert.ok(epochOf(machine) > placedAt, 'a wider live view moves the epoch');
  // Placed 3+3 while s3 was down, committed just after it came back: the writer could not know.
  assert.equal(put(machine, 'old-view', stripeOn(THREE_THREE, placedAt)), 'ok');
  // The same shape placed in today's view breaks the rule.
  assert.equal(
    put(machine, 'new-view', stripeOn(THREE_THREE, epochOf(machine))),
    'PLACEMENT_VIOLATION',
  );
});

test('the epoch moves when a disk gains room or a new server reports, not when one fills', () => {
  const machine = cluster();
  const status = (freeBytes: number) =>
    ok(machine, {
      op: 'setDiskStatus',
      serverId: 's1',
      disks: [{ disk: 0, state: 'up', capacityBytes: GiB, freeBytes }],
    });
  const start = epochOf(machine);
  status(0);
  assert.equal(epochOf(machine), start, 'a full disk narrows the view');
  status(GiB);
  assert.equal(epochOf(machine), start + 1, 'a disk with room again widens it');
  const disks = [{ disk: 0, path: '/d0' }];
  ok(machine, { op: 'registerDataServer', server: { serverId: 's9', addr: 'h9:1', disks } });
  assert.equal(epochOf(machine), start + 2, 'a new server widens it');
  // Its first report widens repair's view (an unreported disk counts for writers only), so
  // repair walks again with it; a later report does not.
  const report = () =>
    ok(machine, {
      op: 'setDiskStatus',
      serverId: 's9',
      disks: [{ disk: 0, state: 'up', capacityBytes: GiB, freeBytes: GiB }],
    });
  report();
  assert.equal(epochOf(machine), start + 3, "the new server's first report widens it again");
  report();
  assert.equal(epochOf(machine), start + 3, 'a report that changes nothing');
});

// Six hosts and 4+2 under spread-domains: one shard per host. A stripe within the
// rule (two on one host) but beyond that spread, as a writer leaves one when it placed a failed
// shard again beside the others, is counted, so that repair walks and spreads it.
test('a stripe committed beyond the spread of spread-domains is counted; a spread one is not', () => {
  const machine = cluster(6);
  const crowded = () => machine.reader.placementView().crowdedWrites;
  const spread = ['s1:0', 's2:0', 's3:0', 's4:0', 's5:0', 's6:0'];
  const doubled = ['s1:0', 's1:1', 's3:0', 's4:0', 's5:0', 's6:0'];
  // Without a recorded strategy (a cluster before its first leader recorded one) nothing counts.
  assert.equal(put(machine, 'before', stripeOn(doubled, epochOf(machine))), 'ok');
  assert.equal(crowded(), 0);
  ok(machine, {
    op: 'initClusterConfig',
    config: {
      erasure: { k: 4, m: 2, shardSizeBytes: 1 << 20 },
      placement: { strategy: 'spread-domains' },
    } as ClusterConfig,
  });
  assert.equal(put(machine, 'spread', stripeOn(spread, epochOf(machine))), 'ok');
  assert.equal(crowded(), 0);
  assert.equal(put(machine, 'doubled', stripeOn(doubled, epochOf(machine))), 'ok');
  assert.equal(crowded(), 1);
  // With s2 down five hosts are live: two shards on one of them is the spread they allow.
  ok(machine, { op: 'setServerState', serverId: 's2', state: 'down' });
  assert.equal(put(machine, 'around-s2', stripeOn(doubled, epochOf(machine))), 'ok');
  assert.equal(crowded(), 1);
});

test('the check reads only replicated state: two stores given the same commands agree', () => {
  const results = [cluster(), cluster()].map((machine) => {
    const epoch = epochOf(machine);
    ok(machine, { op: 'setServerState', serverId: 's2', state: 'down' });
    return [
      put(machine, 'a', stripeOn(THREE_THREE, epoch)),
      put(machine, 'b', stripeOn(['s1:0', 's1:1', 's1:2', 's3:0', 's3:1', 's3:2'], epoch)),
      JSON.stringify(machine.reader.placementView()),
    ];
  });
  assert.deepEqual(results[0].slice(0, 2), results[1].slice(0, 2));
  assert.equal(results[0][2], results[1][2]);
});

// A repair's move (relocateShard, relocateShards) is judged by the same rule: the target's domain
// may not end with more than m shards of the stripe, when the planner's epoch is today's.
function moveOf(machine: MetadataStateMachine, key: string, from: string, to: string) {
  const ino = machine.reader.resolvePath(`/b/${key}`)?.ino as number;
  const stripe = machine.reader.extents(ino, 0, 4)[0].stripe!;
  const at = (w: string) => ({ serverId: w.split(':')[0], disk: Number(w.split(':')[1]) });
  const shardIndex = stripe.shards.findIndex((s) => `${s.serverId}:${s.disk}` === from);
  assert.ok(shardIndex >= 0, `${key} has a shard on ${from}`);
  return {
    stripeId: stripe.id,
    shardIndex,
    from: at(from),
    to: at(to),
    at: { ino, fileOffset: 0 },
  };
}

test('a relocation that puts more than m shards in the target domain is refused', () => {
  const machine = cluster();
  const epoch = epochOf(machine);
  assert.equal(put(machine, 'obj', stripeOn(TWO_EACH, epoch)), 'ok');
  const crowding = { op: 'relocateShard' as const, ...moveOf(machine, 'obj', 's3:0', 's1:2') };
  const result = run(machine, { ...crowding, placementEpoch: epoch });
  assert.ok(!result.ok && result.code === 'PLACEMENT_VIOLATION', JSON.stringify(result));
  assert.match(result.message, /puts 3 shards in host .*h1, more than m = 2/);
  // Within the cap on the same host: accepted.
  ok(machine, {
    op: 'relocateShard',
    ...moveOf(machine, 'obj', 's3:0', 's3:2'),
    placementEpoch: epoch,
  });
  const ino = machine.reader.resolvePath('/b/obj')?.ino as number;
  assert.deepEqual(machine.reader.extents(ino, 0, 4)[0].stripe!.shards[4], {
    serverId: 's3',
    disk: 2,
  });
});

test('a relocation planned at an older epoch, or without one, is judged on its record only', () => {
  const machine = cluster();
  const epoch = epochOf(machine);
  assert.equal(put(machine, 'a', stripeOn(TWO_EACH, epoch)), 'ok');
  assert.equal(put(machine, 'b', stripeOn(TWO_EACH, epoch)), 'ok');
  // A planner whose view was narrower than today's, and a leader from before the check.
  ok(machine, {
    op: 'relocateShard',
    ...moveOf(machine, 'a', 's3:0', 's1:2'),
    placementEpoch: epoch - 1,
  });
  ok(machine, { op: 'relocateShard', ...moveOf(machine, 'b', 's3:0', 's1:2') });
});

test('a stripe already over the cap elsewhere may still be repaired into a domain with room', () => {
  const machine = cluster();
  ok(machine, { op: 'setServerState', serverId: 's3', state: 'down' });
  const placedAt = epochOf(machine);
  // Written 3+3 over the two live hosts while s3 was down; s3 is back.
  assert.equal(put(machine, 'obj', stripeOn(THREE_THREE, placedAt)), 'ok');
  ok(machine, { op: 'setServerState', serverId: 's3', state: 'up' });
  const epoch = epochOf(machine);
  // s2 loses a shard, rebuilt on s3: s1 still holds 3, but s3 ends with 1.
  const outcome = ok(machine, {
    op: 'relocateShards',
    moves: [{ ...moveOf(machine, 'obj', 's2:0', 's3:0'), placementEpoch: epoch }],
  });
  assert.deepEqual(outcome.relocations, [{ ok: true }]);
});
