// The scrubber's pure decisions (src/data/scrub-core.ts): the byte-rate pacer over time passed
// in, which disk to walk next, and the bounded book of corrupt shards kept between passes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  advanceCursor,
  chooseWork,
  completePass,
  FINDINGS_PER_DISK_MAX,
  forgetShard,
  newDiskState,
  parseDiskState,
  recordCorrupt,
  ScrubPacer,
  startPass,
} from '../../src/data/scrub-core.ts';

const MIB = 1024 * 1024;
const stripe = (n: number) => n.toString(16).padStart(32, '0');

// A deterministic generator (mulberry32), so a failing run replays.
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('scrub pacer', () => {
  test('a reader that waits as told never runs ahead of the rate by more than the burst and one read', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const next = random(seed);
      const rate = 16 * MIB;
      const burst = MIB;
      const pacer = new ScrubPacer(rate, burst);
      const reads: Array<{ atMs: number; bytes: number }> = [];
      let nowMs = 1000 * next();
      for (let i = 0; i < 2000; i++) {
        nowMs += 20 * next() ** 3; // the read's own time: mostly quick, sometimes slow
        const bytes = Math.floor(MIB * next());
        reads.push({ atMs: nowMs, bytes });
        nowMs += pacer.charge(nowMs, bytes);
        if (next() < 0.01) nowMs += 5000 * next(); // an idle spell between passes
      }
      // Every window [reads[i], reads[j]]: bytes read by reads i..j.
      for (let i = 0; i < reads.length; i += 37) {
        let bytes = 0;
        for (let j = i; j < reads.length; j++) {
          bytes += reads[j].bytes;
          const allowed = (rate * (reads[j].atMs - reads[i].atMs)) / 1000 + burst + MIB;
          assert.ok(bytes <= allowed, `seed ${seed}: ${bytes} bytes in reads ${i}..${j}`);
        }
      }
    }
  });

  test('each read waits its bytes over the rate when reads are quick', () => {
    const pacer = new ScrubPacer(MIB, 0);
    assert.equal(pacer.charge(0, MIB), 1000);
    assert.equal(pacer.charge(1000, MIB / 2), 500);
    assert.equal(pacer.charge(1500, MIB / 4), 250);
  });

  test('a read slower than the rate is not made to wait again', () => {
    const pacer = new ScrubPacer(MIB, MIB);
    assert.equal(pacer.charge(0, MIB), 0, 'the first read is the burst');
    assert.equal(pacer.charge(0, MIB), 1000);
    // The next MiB, started at 1000, took 3 s to read: it already went slower than the rate.
    assert.equal(pacer.charge(4000, MIB), 0);
    assert.equal(pacer.charge(4000, MIB), 1000, 'and earned no more than the burst');
  });

  test('idle time earns at most the burst', () => {
    const pacer = new ScrubPacer(MIB, MIB);
    pacer.charge(0, MIB);
    const nowMs = 3_600_000; // an hour idle
    assert.equal(pacer.charge(nowMs, MIB), 0, 'one burst is free');
    assert.equal(pacer.charge(nowMs, MIB), 1000, 'the next waits its full time');
  });

  test('a rate of zero is refused (0 means no scrub, decided by the caller)', () => {
    assert.throws(() => new ScrubPacer(0, MIB));
  });
});

describe('scrub work order', () => {
  const HOUR_MS = 3_600_000;

  test('disks never scrubbed are walked first, lowest first', () => {
    const states = [newDiskState(), newDiskState()];
    assert.deepEqual(chooseWork(states, 0, HOUR_MS), { kind: 'walk', disk: 0 });
  });

  test('a running pass continues before any other disk starts', () => {
    const states = [newDiskState(), newDiskState(), newDiskState()];
    startPass(states[2], 0);
    assert.deepEqual(chooseWork(states, 0, HOUR_MS), { kind: 'walk', disk: 2 });
  });

  test('a pass starts one interval after the last start, on the disk due soonest', () => {
    const states = [newDiskState(), newDiskState()];
    for (const [disk, startedMs] of [
      [0, 500],
      [1, 100],
    ]) {
      startPass(states[disk], startedMs);
      completePass(states[disk], startedMs + 50);
    }
    assert.deepEqual(chooseWork(states, 1000, HOUR_MS), {
      kind: 'wait',
      waitMs: 100 + HOUR_MS - 1000,
    });
    assert.deepEqual(chooseWork(states, 100 + HOUR_MS, HOUR_MS), { kind: 'walk', disk: 1 });
  });
});

describe('scrub findings', () => {
  const corrupt = (n: number) => ({
    disk: 0,
    stripeId: stripe(n),
    shardIndex: 1,
    reason: 'checksum' as const,
    detail: 'block 3 checksum mismatch',
  });

  test('a shard found corrupt again is not new; the list is bounded and counts what it drops', () => {
    const state = newDiskState();
    startPass(state, 0);
    assert.equal(recordCorrupt(state, corrupt(1), 10), 'new');
    assert.equal(recordCorrupt(state, corrupt(1), 20), 'again');
    assert.equal(state.findings.length, 1);
    assert.equal(state.findings[0].foundAtMs, 10, 'first found is kept');
    for (let n = 2; n <= FINDINGS_PER_DISK_MAX; n++) recordCorrupt(state, corrupt(n), 30);
    assert.equal(recordCorrupt(state, corrupt(FINDINGS_PER_DISK_MAX + 1), 40), 'dropped');
    assert.equal(state.findings.length, FINDINGS_PER_DISK_MAX);
    assert.equal(state.findingsDropped, 1);
  });

  test('a pass that no longer finds a shard corrupt (healthy or gone) removes its finding', () => {
    const state = newDiskState();
    startPass(state, 0);
    recordCorrupt(state, corrupt(1), 1);
    recordCorrupt(state, corrupt(2), 1);
    recordCorrupt(state, corrupt(3), 1);
    completePass(state, 2);
    startPass(state, 10);
    forgetShard(state, stripe(1), 1); // verified healthy
    recordCorrupt(state, corrupt(2), 11); // still corrupt
    // stripe 3's file was not seen by this pass: deleted
    completePass(state, 12);
    assert.deepEqual(
      state.findings.map((f) => f.stripeId),
      [stripe(2)],
    );
    assert.equal(state.lastPassStartedAtMs, 10);
    assert.equal(state.lastPassCompletedAtMs, 12);
  });

  test('the cursor moves forward only, and a saved state reads back as it was', () => {
    const state = newDiskState();
    startPass(state, 5);
    advanceCursor(state, `${stripe(1)}.0`);
    recordCorrupt(state, corrupt(1), 6);
    assert.throws(() => advanceCursor(state, `${stripe(0)}.0`));
    assert.deepEqual(parseDiskState(JSON.stringify(state)), state);
  });

  test('a malformed saved state is refused, so the disk starts afresh', () => {
    assert.equal(parseDiskState('{'), undefined);
    assert.equal(parseDiskState('null'), undefined);
    const state = newDiskState();
    startPass(state, 5);
    recordCorrupt(state, corrupt(1), 6);
    const bad = JSON.parse(JSON.stringify(state));
    bad.findings[0].reason = 'cosmic rays';
    assert.equal(parseDiskState(JSON.stringify(bad)), undefined);
  });
});
