// Bucket replication in the state machine: the configuration needs versioning Enabled; a write a
// rule takes is queued and PENDING in its own transaction; outcomes settle it (COMPLETED, gone,
// failed with backoff until FAILED); a stale outcome changes nothing; a new write of the key
// sends its FAILED versions again at once. Time is the commands' nowMs.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { REPLICATION_ATTEMPTS_BEFORE_FAILED } from '../../src/metadata/bucket-replication.ts';
import type { ReplicationRule } from '../../src/metadata/bucket-replication-types.ts';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { closeAll, codeOf, extent, ok, openMachineWithServers, ROOT, run } from './sm-helpers.ts';

after(closeAll);

const rule = (over: Partial<ReplicationRule> = {}): ReplicationRule => ({
  id: 'r',
  priority: 1,
  enabled: true,
  shape: 'Prefix',
  prefix: 'p/',
  tags: [],
  deleteMarkers: false,
  destinationBucket: 'copies',
  ...over,
});

function replicatedBucket(rules: ReplicationRule[] = [rule()]): MetadataStateMachine {
  const machine = openMachineWithServers([]);
  ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
  ok(machine, { op: 'setBucketReplication', name: 'b', config: { role: '', rules } });
  return machine;
}

function put(machine: MetadataStateMachine, key: string, tags?: Record<string, string>) {
  const object = { etag: 'e', userMeta: {}, tags };
  const command = { op: 'putObject' as const, bucket: 'b', key, size: 4, caller: ROOT, object };
  return ok(machine, { ...command, extents: [extent(0, 4)] }).versionId as string;
}

const statusOf = (machine: MetadataStateMachine, key: string, versionId?: string) =>
  machine.reader.objectVersion('b', key, versionId)?.replicationStatus;

describe('bucket replication in the state machine', () => {
  test('a configuration needs versioning Enabled, and then keeps it Enabled', () => {
    const machine = openMachineWithServers([]);
    const set = {
      op: 'setBucketReplication' as const,
      name: 'b',
      config: { role: '', rules: [rule()] },
    };
    assert.equal(codeOf(machine, set), 'INVALID_BUCKET_STATE');
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
    ok(machine, set);
    const suspend = { op: 'setBucketAttr' as const, name: 'b', attr: 'versioning' as const };
    assert.equal(codeOf(machine, { ...suspend, value: 'Suspended' }), 'INVALID_BUCKET_STATE');
    ok(machine, { op: 'setBucketReplication', name: 'b', config: null });
    ok(machine, { ...suspend, value: 'Suspended' });
  });

  test('a matching write is queued PENDING; others are not', () => {
    const machine = replicatedBucket([
      rule(),
      rule({ id: 't', priority: 2, prefix: '', tags: [{ key: 'k', value: 'v' }], shape: 'Tag' }),
    ]);
    const v1 = put(machine, 'p/a');
    put(machine, 'q/a');
    const v3 = put(machine, 'q/tagged', { k: 'v' });
    assert.equal(statusOf(machine, 'p/a'), 'PENDING');
    assert.equal(statusOf(machine, 'q/a'), undefined);
    assert.equal(statusOf(machine, 'q/tagged'), 'PENDING');
    const queue = machine.reader.replicationQueue(10);
    assert.deepEqual(
      queue.map((e) => [e.key, e.versionId, e.ruleId]),
      [
        ['p/a', v1, 'r'],
        ['q/tagged', v3, 't'],
      ],
    );
    assert.deepEqual(machine.reader.replicationBacklog(), {
      pending: 2,
      failed: 0,
      oldestEnqueuedAtMs: 1_000,
    });
  });

  test('delete markers are queued only when the rule replicates them', () => {
    const without = replicatedBucket();
    put(without, 'p/a');
    ok(without, { op: 'deleteObject', bucket: 'b', key: 'p/a' });
    assert.equal(without.reader.replicationQueue(10).length, 1);
    const withMarkers = replicatedBucket([rule({ deleteMarkers: true })]);
    put(withMarkers, 'p/a');
    ok(withMarkers, { op: 'deleteObject', bucket: 'b', key: 'p/a' });
    const queue = withMarkers.reader.replicationQueue(10);
    assert.deepEqual(
      queue.map((e) => e.deleteMarker),
      [false, true],
    );
  });

  test('outcomes: completed, stale, failed until FAILED, retried at once by a new write', () => {
    const machine = replicatedBucket();
    const v1 = put(machine, 'p/a');
    const [entry] = machine.reader.replicationQueue(1);
    const settle = { op: 'settleReplication' as const, seq: entry.seq };
    assert.equal(
      codeOf(machine, { ...settle, versionId: 'other', outcome: 'completed' }),
      'PRECONDITION_FAILED',
    );
    for (let i = 0; i < REPLICATION_ATTEMPTS_BEFORE_FAILED; i++) {
      assert.equal(statusOf(machine, 'p/a', v1), 'PENDING');
      ok(machine, { ...settle, versionId: v1, outcome: 'failed', retryAtMs: 900_000 });
    }
    assert.equal(statusOf(machine, 'p/a', v1), 'FAILED');
    assert.deepEqual(machine.reader.replicationBacklog(), {
      pending: 1,
      failed: 1,
      oldestEnqueuedAtMs: 1_000,
    });
    // A new write of the key: the FAILED version is due again now, ahead of the new one.
    const second = run(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'p/a',
      size: 0,
      extents: [],
      object: { etag: 'e', userMeta: {} },
      caller: ROOT,
      nowMs: 5_000,
    });
    assert.ok(second.ok && second.versionId !== undefined, 'the second write made a version');
    const v2 = second.versionId;
    const queue = machine.reader.replicationQueue(10);
    assert.deepEqual(
      queue.map((e) => [e.versionId, e.nextAttemptAtMs]),
      [
        [v1, 5_000],
        [v2, 5_000],
      ],
    );
    ok(machine, { ...settle, versionId: v1, outcome: 'completed' });
    assert.equal(statusOf(machine, 'p/a', v1), 'COMPLETED');
    assert.equal(statusOf(machine, 'p/a'), 'PENDING');
    assert.deepEqual(machine.reader.replicationBacklog(), {
      pending: 1,
      failed: 0,
      oldestEnqueuedAtMs: 5_000,
    });
    // Settled twice (a new leader re-sent it): the second changes nothing.
    assert.equal(
      codeOf(machine, { ...settle, versionId: v1, outcome: 'completed' }),
      'PRECONDITION_FAILED',
    );
    ok(machine, { op: 'settleReplication', seq: queue[1].seq, versionId: v2, outcome: 'gone' });
    assert.equal(statusOf(machine, 'p/a'), undefined);
    assert.deepEqual(machine.reader.replicationBacklog(), { pending: 0, failed: 0 });
  });

  test('a multipart completion and a copy are queued like a put', () => {
    const machine = replicatedBucket();
    put(machine, 'src');
    ok(machine, {
      op: 'copyObject',
      srcBucket: 'b',
      srcKey: 'src',
      bucket: 'b',
      key: 'p/copy',
      caller: ROOT,
    });
    ok(machine, {
      op: 'createUpload',
      uploadId: 'u1',
      bucket: 'b',
      key: 'p/mp',
      object: { userMeta: {} },
      owner: 'o',
    });
    ok(machine, {
      op: 'putPart',
      uploadId: 'u1',
      partNumber: 1,
      size: 4,
      etag: 'pe',
      extents: [extent(0, 4)],
    });
    const complete = {
      op: 'completeUpload' as const,
      bucket: 'b',
      key: 'p/mp',
      uploadId: 'u1',
      parts: [{ partNumber: 1, etag: 'pe' }],
      etag: 'x-1',
      minPartSizeBytes: 0,
      caller: ROOT,
    };
    ok(machine, complete);
    ok(machine, complete); // a retry makes no second entry
    assert.deepEqual(
      machine.reader.replicationQueue(10).map((e) => e.key),
      ['p/copy', 'p/mp'],
    );
  });
});

// Replicas (x-strata-replica-version-id at a Strata destination): placed by their source id.
describe('replicas in the state machine', () => {
  const SOURCE = 0x1fffffffff0000; // a source's 65,536th version: its id sorts before newer ones
  const idOf = (older: number) => (SOURCE + older).toString(16).padStart(14, '0');
  function destination(): MetadataStateMachine {
    const machine = openMachineWithServers([]);
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Enabled' });
    return machine;
  }
  const replica = (key: string, id: string, size = 4) => ({
    op: 'putObject' as const,
    bucket: 'b',
    key,
    size,
    caller: ROOT,
    object: { etag: `e${id}`, userMeta: {} },
    extents: [extent(0, size)],
    replicaVersionId: id,
  });
  const ids = (machine: MetadataStateMachine, key: string) =>
    machine.reader
      .listObjectVersions({ bucket: 'b', prefix: key, maxKeys: 1000 })
      .versions.map((v) => `${v.versionId}${v.isLatest ? '*' : ''}${v.deleteMarker ? '!' : ''}`);

  test('a replica keeps its id, is REPLICA, and is not queued again', () => {
    const machine = destination();
    ok(machine, { op: 'setBucketReplication', name: 'b', config: { role: '', rules: [rule()] } });
    assert.equal(ok(machine, replica('p/a', idOf(2))).versionId, idOf(2));
    assert.equal(statusOf(machine, 'p/a', idOf(2)), 'REPLICA');
    assert.equal(machine.reader.replicationQueue(10).length, 0, 'a replica is not sent on');
    assert.equal(machine.reader.objectVersion('b', 'p/a')?.versionId, idOf(2), 'it is current');
  });

  test('replicas sort by their source ids; an older one joins as noncurrent', () => {
    const machine = destination();
    ok(machine, replica('k', idOf(2)));
    ok(machine, replica('k', idOf(0))); // newer at the source: current
    ok(machine, replica('k', idOf(1))); // arrives late: between the two, noncurrent
    assert.deepEqual(ids(machine, 'k'), [`${idOf(0)}*`, idOf(1), idOf(2)]);
    const current = machine.reader.objectVersion('b', 'k');
    assert.equal(current?.versionId, idOf(0));
    assert.equal(current?.inode?.object?.etag, `e${idOf(0)}`, 'the live file is the newest');
    const late = machine.reader.objectVersion('b', 'k', idOf(1));
    assert.equal(late?.inode?.frozen, true, 'a noncurrent replica is frozen data');
  });

  test('a version made here after replicas is newer than all of them', () => {
    const machine = destination();
    ok(machine, replica('k', idOf(0)));
    const local = put(machine, 'k');
    assert.ok(local < idOf(0), `${local} sorts before ${idOf(0)}`);
    assert.deepEqual(ids(machine, 'k'), [`${local}*`, idOf(0)]);
  });

  test('a replicated delete marker keeps its id; an older one leaves the current object', () => {
    const machine = destination();
    ok(machine, replica('k', idOf(1)));
    const marker = { op: 'deleteObject' as const, bucket: 'b', key: 'k' };
    const made = ok(machine, { ...marker, replicaVersionId: idOf(0) });
    assert.equal(made.versionId, idOf(0));
    assert.equal(made.deleteMarker, true);
    assert.deepEqual(ids(machine, 'k'), [`${idOf(0)}*!`, idOf(1)]);
    assert.equal(machine.reader.objectVersion('b', 'k')?.deleteMarker, true);
    ok(machine, replica('j', idOf(0)));
    ok(machine, { ...marker, key: 'j', replicaVersionId: idOf(1) });
    assert.deepEqual(ids(machine, 'j'), [`${idOf(0)}*`, `${idOf(1)}!`]);
    assert.equal(machine.reader.objectVersion('b', 'j')?.deleteMarker, false);
  });

  test('refused: a held id (EEXIST), null and far ids, a bucket without versioning Enabled', () => {
    const machine = destination();
    ok(machine, replica('k', idOf(0)));
    assert.equal(codeOf(machine, replica('k', idOf(0))), 'EEXIST');
    assert.equal(codeOf(machine, replica('k', 'null')), 'EINVAL');
    assert.equal(codeOf(machine, replica('k', '00000000000001')), 'EINVAL');
    const dm = { op: 'deleteObject' as const, bucket: 'b', key: 'k', replicaVersionId: idOf(5) };
    assert.equal(codeOf(machine, { ...dm, versionId: idOf(0) }), 'EINVAL');
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: 'Suspended' });
    assert.equal(codeOf(machine, replica('k', idOf(9))), 'INVALID_BUCKET_STATE');
    assert.equal(codeOf(machine, dm), 'INVALID_BUCKET_STATE');
    assert.deepEqual(ids(machine, 'k'), [`${idOf(0)}*`], 'nothing changed');
  });
});

// Metadata changes of replicated versions (tags, retention, legal hold): a metadata-only entry
// joins the queue in the change's own command, after the version's own entry.
describe('metadata changes in the state machine', () => {
  const LATER_MS = 10_000_000_000_000;
  function lockedReplicatedBucket(rules: ReplicationRule[] = [rule()]) {
    const machine = replicatedBucket(rules);
    ok(machine, { op: 'setObjectLockConfig', name: 'b', rule: null });
    return machine;
  }
  const settle = (machine: MetadataStateMachine, seq: number, versionId: string, outcome: string) =>
    run(machine, { op: 'settleReplication', seq, versionId, outcome } as never);
  const shape = (machine: MetadataStateMachine) =>
    machine.reader
      .replicationQueue(10)
      .map((e) => [e.versionId, e.metadata?.join(',') ?? 'version', e.current]);

  test('a tag, retention or legal hold change of a replicated version is queued by its command', () => {
    const machine = lockedReplicatedBucket();
    const v1 = put(machine, 'p/a');
    const v2 = put(machine, 'p/a');
    const [first] = machine.reader.replicationQueue(1);
    ok(machine, { op: 'settleReplication', seq: first.seq, versionId: v1, outcome: 'completed' });
    assert.equal(statusOf(machine, 'p/a', v1), 'COMPLETED');
    const tags = ok(machine, {
      op: 'setObjectTags',
      bucket: 'b',
      key: 'p/a',
      versionId: v1,
      tags: { t: '1' },
    });
    assert.equal(tags.versionId, v1);
    assert.equal(statusOf(machine, 'p/a', v1), 'PENDING', 'the change is pending with its entry');
    const retention = { mode: 'GOVERNANCE' as const, untilMs: LATER_MS };
    ok(machine, { op: 'setObjectRetention', bucket: 'b', key: 'p/a', retention });
    ok(machine, { op: 'setObjectLegalHold', bucket: 'b', key: 'p/a', versionId: v1, on: true });
    assert.deepEqual(shape(machine), [
      [v2, 'version', undefined],
      [v1, 'tags', false],
      [v2, 'retention', true],
      [v1, 'legalHold', false],
    ]);
    // A refused change (weakening a GOVERNANCE retention without the bypass) queues nothing:
    // the entry is in the command's transaction.
    const weaker = { op: 'setObjectRetention' as const, bucket: 'b', key: 'p/a', retention: null };
    assert.equal(codeOf(machine, weaker), 'OBJECT_LOCKED');
    assert.equal(machine.reader.replicationQueue(10).length, 4);
    ok(machine, { ...weaker, bypassGovernance: true });
    const removal = machine.reader.replicationQueue(10)[4];
    assert.deepEqual([removal.metadata, removal.bypassGovernance], [['retention'], true]);
    assert.deepEqual(machine.reader.replicationBacklog(), {
      pending: 5,
      failed: 0,
      oldestEnqueuedAtMs: 1_000,
    });
  });

  test('versions never sent, replicas and unreplicated buckets queue no change', () => {
    const machine = lockedReplicatedBucket();
    put(machine, 'q/outside'); // no rule takes q/
    ok(machine, { op: 'setObjectTags', bucket: 'b', key: 'q/outside', tags: { t: '1' } });
    ok(machine, { op: 'setObjectLegalHold', bucket: 'b', key: 'q/outside', on: true });
    ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key: 'p/replica',
      size: 0,
      extents: [],
      caller: ROOT,
      object: { etag: 'e', userMeta: {} },
      replicaVersionId: '1fffffffff0000',
    });
    ok(machine, { op: 'setObjectTags', bucket: 'b', key: 'p/replica', tags: { t: '1' } });
    assert.deepEqual(machine.reader.replicationQueue(10), []);
  });

  test('a tag change that leaves the tag filter is still sent; one that enters it is not', () => {
    const tagged = rule({ id: 't', prefix: '', tags: [{ key: 'k', value: 'v' }], shape: 'Tag' });
    const machine = lockedReplicatedBucket([tagged]);
    const sent = put(machine, 'x', { k: 'v' });
    const never = put(machine, 'y');
    ok(machine, { op: 'setObjectTags', bucket: 'b', key: 'x', tags: { k: 'other' } });
    ok(machine, { op: 'setObjectTags', bucket: 'b', key: 'y', tags: { k: 'v' } });
    assert.deepEqual(shape(machine), [
      [sent, 'version', undefined],
      [sent, 'tags', true],
    ]);
    assert.equal(statusOf(machine, 'y', never), undefined, 'y was never replicated');
  });

  test('outcomes: the newest entry owns the status; refused makes the version FAILED', () => {
    const machine = lockedReplicatedBucket();
    const v1 = put(machine, 'p/a');
    ok(machine, { op: 'setObjectTags', bucket: 'b', key: 'p/a', tags: { t: '1' } });
    const [version, change] = machine.reader.replicationQueue(10);
    assert.equal(settle(machine, version.seq, v1, 'refused').ok, false, 'a version is not refused');
    assert.equal(settle(machine, version.seq, v1, 'completed').ok, true);
    assert.equal(statusOf(machine, 'p/a', v1), 'PENDING', 'its tag change is still queued');
    assert.equal(settle(machine, change.seq, v1, 'completed').ok, true);
    assert.equal(statusOf(machine, 'p/a', v1), 'COMPLETED');
    ok(machine, { op: 'setObjectLegalHold', bucket: 'b', key: 'p/a', on: true });
    const [hold] = machine.reader.replicationQueue(10);
    assert.equal(settle(machine, hold.seq, v1, 'refused').ok, true);
    assert.equal(statusOf(machine, 'p/a', v1), 'FAILED', 'the replica is out of date');
    assert.deepEqual(machine.reader.replicationBacklog(), { pending: 0, failed: 0 });
  });
});
