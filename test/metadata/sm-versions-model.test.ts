// Versioning against a model (fast-check): random puts, deletes, version deletes, restores and
// changes of the bucket's versioning state. After every command the state machine's versions,
// its current listing and every stripe's reference state match the model: a stripe is referenced
// exactly while some version's data uses it, and queued for collection once none does.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import type { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import type { Stripe } from '../../src/metadata/types.ts';
import { closeAll, extent, ok, openMachineWithServers, ROOT, stripe } from './sm-helpers.ts';

after(closeAll);

const KEYS = ['a', 'b/c', 'b/d'];

interface ModelVersion {
  id: string;
  marker: boolean;
  etag?: string;
  stripe?: Stripe;
}

type Op =
  | { kind: 'versioning'; status: 'Enabled' | 'Suspended' }
  | { kind: 'put'; key: number }
  | { kind: 'delete'; key: number }
  | { kind: 'deleteVersion'; key: number; pick: number }
  | { kind: 'restore'; key: number; pick: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('versioning' as const),
    status: fc.constantFrom('Enabled' as const, 'Suspended' as const),
  }),
  fc.record({ kind: fc.constant('put' as const), key: fc.nat(KEYS.length - 1) }),
  fc.record({ kind: fc.constant('put' as const), key: fc.nat(KEYS.length - 1) }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.nat(KEYS.length - 1) }),
  fc.record({
    kind: fc.constant('deleteVersion' as const),
    key: fc.nat(KEYS.length - 1),
    pick: fc.nat(7),
  }),
  fc.record({
    kind: fc.constant('restore' as const),
    key: fc.nat(KEYS.length - 1),
    pick: fc.nat(7),
  }),
);

class Model {
  mode: 'Enabled' | 'Suspended' | undefined;
  readonly versions = new Map<string, ModelVersion[]>(KEYS.map((k) => [k, []]));
  readonly stripes: Stripe[] = [];

  // A new current version (or marker) as the state machine's mode makes it.
  push(key: string, version: ModelVersion): void {
    const list = this.versions.get(key) as ModelVersion[];
    if (this.mode !== 'Enabled') {
      const i = list.findIndex((v) => v.id === 'null');
      if (i >= 0) list.splice(i, 1);
    }
    list.unshift(version);
  }
}

function apply(machine: MetadataStateMachine, model: Model, op: Op, step: number): void {
  if (op.kind === 'versioning') {
    ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'versioning', value: op.status });
    model.mode = op.status;
    return;
  }
  const key = KEYS[op.key];
  const list = model.versions.get(key) as ModelVersion[];
  if (op.kind === 'put') {
    const s = stripe(4);
    model.stripes.push(s);
    const etag = `e${step}`;
    const result = ok(machine, {
      op: 'putObject',
      bucket: 'b',
      key,
      size: 4,
      extents: [extent(0, 4, s)],
      object: { etag, userMeta: {} },
      caller: ROOT,
    });
    model.push(key, { id: result.versionId ?? 'null', marker: false, etag, stripe: s });
  } else if (op.kind === 'delete') {
    const result = ok(machine, { op: 'deleteObject', bucket: 'b', key });
    if (model.mode === undefined) list.splice(0);
    else model.push(key, { id: result.versionId as string, marker: true });
  } else if (list.length > 0) {
    const chosen = list[op.pick % list.length];
    if (op.kind === 'deleteVersion') {
      ok(machine, { op: 'deleteObject', bucket: 'b', key, versionId: chosen.id });
      list.splice(list.indexOf(chosen), 1);
    } else if (!chosen.marker) {
      const result = ok(machine, {
        op: 'copyObject',
        srcBucket: 'b',
        srcKey: key,
        srcVersionId: chosen.id,
        bucket: 'b',
        key,
        caller: ROOT,
      });
      // Unversioned, a copy onto itself changes only metadata: the one version stays.
      if (model.mode !== undefined) model.push(key, { ...chosen, id: result.versionId as string });
    }
  }
}

function check(machine: MetadataStateMachine, model: Model): void {
  const listed = machine.reader.listObjectVersions({ bucket: 'b', prefix: '', maxKeys: 1000 });
  const expected = KEYS.flatMap((key) =>
    (model.versions.get(key) as ModelVersion[]).map((v, i) => ({
      key,
      id: v.id,
      marker: v.marker,
      etag: v.marker ? '' : v.etag,
      latest: i === 0,
    })),
  );
  const actual = listed.versions.map((v) => ({
    key: v.key,
    id: v.versionId,
    marker: v.deleteMarker,
    etag: v.etag,
    latest: v.isLatest,
  }));
  assert.deepEqual(actual, expected);
  const current = machine.reader
    .listObjects({ bucket: 'b', prefix: '', maxKeys: 1000 })
    .objects.map((o) => `${o.key}=${o.etag}`);
  const live = KEYS.flatMap((key) => {
    const top = (model.versions.get(key) as ModelVersion[])[0];
    return top !== undefined && !top.marker ? [`${key}=${top.etag}`] : [];
  });
  assert.deepEqual(current, live);
  const used = new Set(
    [...model.versions.values()].flat().flatMap((v) => (v.stripe ? [v.stripe.id] : [])),
  );
  for (const s of model.stripes) {
    const state = machine.reader.stripeState(s.id);
    assert.equal(state, used.has(s.id) ? 'referenced' : 'collecting', `stripe ${s.id}`);
  }
}

test('versions, listings and stripe references follow the model', () => {
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
      const machine = openMachineWithServers([]);
      const model = new Model();
      ops.forEach((op, step) => {
        apply(machine, model, op, step);
        check(machine, model);
      });
    }),
    { numRuns: 60, seed: 15 },
  );
});
