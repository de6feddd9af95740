// Properties of the state machine as a whole: determinism, atomicity, durability, and the
// invariants (link counts, stripe reference counts) after long random command sequences.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Store } from '../../src/metadata/store.ts';
import {
  type Command,
  type CommandResult,
  type Extent,
  ROOT_INO,
  type Stripe,
} from '../../src/metadata/types.ts';
import {
  type CommandInput,
  closeAll,
  codeOf,
  extent,
  ok,
  openMachine,
  ROOT,
  seededRandom,
  stripe,
} from './sm-helpers.ts';

after(closeAll);

const NAMES = ['a', 'b', 'a-b', 'c', 'é'];
const KEYS = ['k', 'k/x', 'k/y', 'k-z', 'd/', 'd/e', 'm/n/o'];

// A random mix of every kind of command, most of them valid, some failing on purpose. It learns
// the inodes that exist from the results it is shown, so most POSIX commands hit real ones.
function* commandStream(seed: number, count: number): Generator<Command, void, CommandResult> {
  const random = seededRandom(seed);
  const pick = <T>(xs: T[]) => xs[random(xs.length)];
  const stripes: Stripe[] = [];
  const dirs = [2, 3];
  const files: number[] = [];
  const anExtent = (at: number): Extent => {
    if (stripes.length > 0 && random(3) === 0) {
      const s = pick(stripes);
      const length = 1 + random(s.dataLengthBytes);
      return extent(at, length, s, s.dataLengthBytes - length);
    }
    const s = stripe(1 + random(64));
    stripes.push(s);
    return extent(at, s.dataLengthBytes, s);
  };
  const dir = () => (random(10) === 0 ? 2 + random(40) : pick(dirs));
  const file = () => (random(10) === 0 || files.length === 0 ? 2 + random(40) : pick(files));
  const upload = () => `u${random(2)}`;
  const uploaded = new Map<string, Set<number>>(); // parts put to each live upload
  const make: Array<() => CommandInput> = [
    () => ({ op: 'mkdir', parent: dir(), name: pick(NAMES), mode: 0o755, caller: ROOT }),
    () => ({
      op: 'create',
      parent: dir(),
      name: pick(NAMES),
      mode: 0o644,
      caller: ROOT,
      exclusive: random(2) === 0,
    }),
    () => ({ op: 'symlink', parent: dir(), name: pick(NAMES), target: 't', caller: ROOT }),
    () => ({ op: 'link', ino: file(), parent: dir(), name: pick(NAMES) }),
    () => ({ op: 'unlink', parent: dir(), name: pick(NAMES) }),
    () => ({ op: 'rmdir', parent: dir(), name: pick(NAMES) }),
    () => ({
      op: 'rename',
      srcParent: dir(),
      srcName: pick(NAMES),
      dstParent: dir(),
      dstName: pick(NAMES),
      noReplace: random(5) === 0,
      exchange: random(5) === 0,
    }),
    () => ({ op: 'setattr', ino: file(), size: random(200) }),
    () => ({ op: 'write', ino: file(), extents: [anExtent(random(100)), anExtent(random(150))] }),
    () => ({ op: 'setxattr', ino: file(), name: 'user.x', value: Uint8Array.of(random(256)) }),
    () => {
      const key = pick(KEYS);
      const size = key.endsWith('/') ? 0 : 1 + random(64);
      return {
        op: 'putObject',
        bucket: pick(['b1', 'b2']),
        key,
        size,
        extents: size > 0 ? [anExtent(0)].filter((e) => e.length <= size) : [],
        object: { etag: `e${random(9)}`, userMeta: {} },
        caller: ROOT,
        ...(random(5) === 0 ? { ifNoneMatch: '*' } : {}),
      };
    },
    () => ({ op: 'deleteObject', bucket: pick(['b1', 'b2']), key: pick(KEYS) }),
    () => ({
      op: 'copyObject',
      srcBucket: 'b1',
      srcKey: pick(KEYS),
      bucket: pick(['b1', 'b2']),
      key: pick(KEYS),
      caller: ROOT,
    }),
    () => ({
      op: 'createUpload',
      uploadId: upload(),
      bucket: 'b1',
      key: pick(KEYS),
      object: { userMeta: {} },
      owner: 'o',
    }),
    () => {
      const e = anExtent(0);
      const partNumber = 1 + random(3);
      return {
        op: 'putPart',
        uploadId: upload(),
        partNumber,
        size: e.length + random(3),
        etag: `p${partNumber}`,
        extents: [e],
      };
    },
    () => {
      const live = [...uploaded.keys()];
      const uploadId = live.length > 0 && random(4) > 0 ? pick(live) : upload();
      const parts = uploaded.get(uploadId) ?? new Set<number>();
      return {
        op: 'completeUpload',
        uploadId,
        parts: [1, 2, 3]
          .filter((n) => (parts.has(n) ? random(6) > 0 : random(12) === 0))
          .map((partNumber) => ({ partNumber, etag: `"p${random(12) === 0 ? 0 : partNumber}"` })),
        etag: 'mp-2',
        minPartSizeBytes: random(4) === 0 ? 30 : 0,
        caller: ROOT,
      };
    },
    () => ({ op: 'abortUpload', uploadId: upload() }),
    () => ({ op: 'gcDone', stripeIds: stripes.slice(-3).map((s) => s.id) }),
    () => ({ op: 'deleteBucket', name: pick(['b1', 'b2']) }),
    () => ({ op: 'createBucket', name: pick(['b1', 'b2']), owner: 'o', caller: ROOT }),
  ];
  const first: CommandInput[] = [
    { op: 'createBucket', name: 'b1', owner: 'o', caller: ROOT },
    { op: 'createBucket', name: 'b2', owner: 'o', caller: ROOT },
    { op: 'registerDataServer', server: { serverId: 's1', addr: 'h:1', disks: [] } },
  ];
  for (let i = 0; i < count + first.length; i++) {
    const input = i < first.length ? first[i] : pick(make)();
    const result = yield { ...input, nowMs: 1_000 + i } as Command;
    const inode = result.ok ? result.inode : undefined;
    if (inode?.type === 'dir' && !dirs.includes(inode.ino)) dirs.push(inode.ino);
    if (inode?.type === 'file' && !files.includes(inode.ino)) files.push(inode.ino);
    const c = input as Command;
    if (!result.ok) continue;
    if (c.op === 'createUpload') uploaded.set(c.uploadId, new Set());
    if (c.op === 'putPart') uploaded.get(c.uploadId)?.add(c.partNumber);
    if (c.op === 'completeUpload' || c.op === 'abortUpload') uploaded.delete(c.uploadId);
  }
}

// Applies one random stream to every machine (the first one's results steer it); returns the
// commands and the first machine's results.
function applyRandom(machines: MetadataStateMachine[], seed: number, count: number) {
  const stream = commandStream(seed, count);
  const applied: Array<[Command, CommandResult]> = [];
  let next = stream.next();
  while (!next.done) {
    const command = next.value;
    const results = machines.map((m) => m.apply(command));
    for (const r of results.slice(1))
      assert.deepEqual(r, results[0], `seed ${seed}: ${command.op} gave another result`);
    applied.push([command, results[0]]);
    next = stream.next(results[0]);
  }
  return applied;
}

// Everything the reader can say about the store, gathered by walking the tree from the root.
function dump(machine: MetadataStateMachine) {
  const r = machine.reader;
  const tree: unknown[] = [];
  const walk = (dir: number, path: string) => {
    let after: string | undefined;
    for (;;) {
      const page = r.readdir(dir, after, 3);
      if (page.length === 0) break;
      for (const entry of page) {
        const inode = r.getattr(entry.ino);
        assert.ok(inode, `${path}/${entry.name} has its inode`);
        tree.push([`${path}/${entry.name}`, inode, r.extents(entry.ino, 0, 2 ** 40)]);
        if (entry.type === 'dir') walk(entry.ino, `${path}/${entry.name}`);
      }
      after = page[page.length - 1].name;
    }
  };
  walk(ROOT_INO, '');
  const buckets = r.listBuckets();
  return {
    root: r.getattr(ROOT_INO),
    tree,
    buckets,
    objects: buckets.map((b) => r.listObjects({ bucket: b.name, prefix: '', maxKeys: 1000 })),
    uploads: buckets.map((b) => r.listUploads(b.name).map((u) => [u, r.listParts(u.uploadId)])),
    pendingGc: r.pendingGc(100_000),
    servers: r.dataServers(),
    appliedIndex: machine.appliedIndex(),
  };
}

// Link counts match the tree; every stripe's reference count matches the extents and parts that
// point into it, and a stripe nothing references is queued for collection or forgotten.
function checkInvariants(machine: MetadataStateMachine) {
  const r = machine.reader;
  const store = (machine as unknown as { store: Store }).store;
  const links = new Map<number, number>();
  const refs = new Map<string, number>();
  const seen = new Set<number>();
  const count = (extents: Extent[]) => {
    for (const e of extents) refs.set(e.stripe.id, (refs.get(e.stripe.id) ?? 0) + 1);
  };
  const walk = (dir: number) => {
    const entries = r.readdir(dir, undefined, 10_000);
    const subdirs = entries.filter((e) => e.type === 'dir').length;
    assert.equal(r.getattr(dir)?.nlink, 2 + subdirs, `nlink of directory ${dir}`);
    for (const entry of entries) {
      links.set(entry.ino, (links.get(entry.ino) ?? 0) + 1);
      if (entry.type === 'dir') {
        assert.equal(r.getattr(entry.ino)?.parent, dir, `parent of ${entry.name}`);
        walk(entry.ino);
      } else if (!seen.has(entry.ino)) {
        seen.add(entry.ino);
        const inode = r.getattr(entry.ino)!;
        const extents = r.extents(entry.ino, 0, 2 ** 40);
        for (const e of extents) assert.ok(e.fileOffset + e.length <= inode.size, 'extent in size');
        count(extents.flatMap((e) => (e.stripe ? [e] : [])));
      }
    }
  };
  walk(ROOT_INO);
  for (const [ino, n] of links) {
    const inode = r.getattr(ino)!;
    if (inode.type !== 'dir') assert.equal(inode.nlink, n, `nlink of ${inode.type} ${ino}`);
  }
  for (const b of r.listBuckets())
    for (const u of r.listUploads(b.name))
      for (const p of r.listParts(u.uploadId)) count(p.extents);
  for (const [id, n] of refs) assert.equal(store.refCount(id), n, `references of stripe ${id}`);
  // And no stripe counts references that nothing holds (a leak would never be collected).
  for (const { key, value } of store.db.getRange({
    start: Buffer.of(0x72),
    end: Buffer.of(0x73),
  })) {
    const id = (key as Buffer).subarray(1).toString('latin1');
    assert.equal(value, refs.get(id), `stripe ${id} counts references nothing holds`);
  }
  for (const s of r.pendingGc(100_000)) {
    assert.equal(refs.get(s.id), undefined, `stripe ${s.id} is queued but referenced`);
    assert.equal(r.stripeState(s.id), 'collecting');
  }
}

describe('state machine integrity', () => {
  test('the same random commands on two stores give the same results and state', () => {
    const seed = Number(process.env.STRATA_SEED ?? 4242);
    const one = openMachine();
    const two = openMachine();
    const indexBefore = one.appliedIndex(); // the data server's registration
    const applied = applyRandom([one, two], seed, 600);
    const codes = new Map<string, number>();
    for (const [command, r] of applied) {
      const key = `${command.op}:${r.ok ? 'ok' : r.code}`;
      codes.set(key, (codes.get(key) ?? 0) + 1);
    }
    for (const op of ['rename', 'unlink', 'link', 'write', 'completeUpload', 'putObject'])
      assert.ok(
        (codes.get(`${op}:ok`) ?? 0) >= 2,
        `seed ${seed}: few ${op}s succeed: ${[...codes]}`,
      );
    assert.deepEqual(dump(one), dump(two), `seed ${seed}`);
    checkInvariants(one);
    assert.equal(one.appliedIndex(), indexBefore + applied.length);
  });

  test('link counts and stripe references stay exact over many seeds', () => {
    for (let seed = 1; seed <= 8; seed++) {
      const machine = openMachine();
      for (let round = 0; round < 5; round++) {
        applyRandom([machine], seed * 100 + round, 60);
        checkInvariants(machine);
      }
    }
  });

  test('state survives close and reopen, and the applied index goes on from there', async () => {
    const machine = openMachine();
    const path = (machine as unknown as { db: { path: string } }).db.path;
    applyRandom([machine], 99, 300);
    const before = dump(machine);
    await machine.close();
    const reopened = MetadataStateMachine.open(path);
    try {
      assert.deepEqual(dump(reopened), before);
      checkInvariants(reopened);
      const at = reopened.appliedIndex();
      assert.ok(at > 300);
      reopened.apply({ op: 'gcDone', nowMs: 1, stripeIds: [] }, at + 10);
      assert.equal(reopened.appliedIndex(), at + 10, 'an index given by the log is taken');
      assert.throws(() => reopened.apply({ op: 'gcDone', nowMs: 1, stripeIds: [] }, at + 10));
    } finally {
      await reopened.close();
    }
  });

  test('a command that fails halfway leaves nothing behind', () => {
    const machine = openMachine();
    ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
    const bucket = machine.reader.getBucket('b')!;
    const f = ok(machine, {
      op: 'create',
      parent: bucket.ino,
      name: 'f',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    }).inode!;
    const doomed = stripe(10);
    ok(machine, { op: 'write', ino: f.ino, extents: [extent(0, 10, doomed)] });
    ok(machine, { op: 'setattr', ino: f.ino, size: 0 }); // `doomed` is now queued for collection
    const fresh = stripe(10);
    const before = dump(machine);
    // The first extent is written, the second refers to a stripe being collected: EIO.
    const write: CommandInput = {
      op: 'write',
      ino: f.ino,
      extents: [extent(0, 10, fresh), extent(10, 10, doomed)],
    };
    assert.equal(codeOf(machine, write), 'EIO');
    // Implicit parents are created before the extents are refused.
    const put: CommandInput = {
      op: 'putObject',
      bucket: 'b',
      key: 'p/q/r',
      size: 10,
      extents: [extent(0, 10, doomed)],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
    };
    assert.equal(codeOf(machine, put), 'EIO');
    const after = dump(machine);
    assert.equal(after.appliedIndex, before.appliedIndex + 2, 'failed commands are applied');
    assert.deepEqual({ ...after, appliedIndex: 0 }, { ...before, appliedIndex: 0 });
    assert.equal(machine.reader.stripeState(fresh.id), 'unknown');
  });

  test('malformed extents are refused as EINVAL, not thrown', () => {
    const machine = openMachine();
    ok(machine, { op: 'createBucket', name: 'b', owner: 'o', caller: ROOT });
    const bucket = machine.reader.getBucket('b')!;
    const f = ok(machine, {
      op: 'create',
      parent: bucket.ino,
      name: 'f',
      mode: 0o644,
      caller: ROOT,
      exclusive: true,
    }).inode!;
    const s = stripe(10);
    for (const bad of [
      extent(0, 0, s),
      extent(-1, 5, s),
      extent(0, 11, s),
      extent(0, 5, s, 6),
      extent(0.5, 5, s),
    ]) {
      assert.equal(codeOf(machine, { op: 'write', ino: f.ino, extents: [bad] }), 'EINVAL');
    }
    const put = (size: number, extents: Extent[]) =>
      codeOf(machine, {
        op: 'putObject',
        bucket: 'b',
        key: 'o',
        size,
        extents,
        object: { etag: 'e', userMeta: {} },
        caller: ROOT,
      });
    assert.equal(put(5, [extent(0, 10, s)]), 'EINVAL', 'extents past the object size');
    assert.equal(put(-1, []), 'EINVAL');
    assert.equal(put(20, [extent(0, 10, s)]), 'ok', 'a sparse tail reads as zeros');
  });
});
