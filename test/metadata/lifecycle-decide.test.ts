// The lifecycle decision as a pure function (src/metadata/lifecycle/decide.ts): AWS's day
// arithmetic by table, and properties over random rules and version histories by fast-check —
// the current version is never removed for good, the newest NewerNoncurrentVersions noncurrent
// versions are never expired, nothing is decided twice, a disabled rule does nothing, and a
// decision once due stays due.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  AWS_TIMING,
  currentExpiry,
  DAY_MS,
  decideKey,
  decideTransitions,
  decideUpload,
  dueAtMs,
  filterMatches,
  type LifecycleAction,
} from '../../src/metadata/lifecycle/decide.ts';
import type {
  LifecycleKeyFacts,
  LifecycleRule,
  LifecycleTiming,
  LifecycleVersionFacts,
} from '../../src/metadata/types.ts';

const TEST_TIMING: LifecycleTiming = { dayMs: 1000, roundToMidnight: false };
const at = (iso: string) => Date.parse(iso);

test('Days count from the object, rounded up to the next midnight UTC (AWS)', () => {
  const rows: Array<[string, number, string]> = [
    ['2026-01-01T00:00:00Z', 1, '2026-01-02T00:00:00Z'], // already midnight: stays
    ['2026-01-01T00:00:01Z', 1, '2026-01-03T00:00:00Z'],
    ['2026-01-01T23:59:59Z', 1, '2026-01-03T00:00:00Z'],
    ['2026-01-31T12:00:00Z', 30, '2026-03-03T00:00:00Z'],
  ];
  for (const [made, days, due] of rows)
    assert.equal(
      new Date(dueAtMs(at(made), days, AWS_TIMING)).toISOString(),
      new Date(at(due)).toISOString(),
      `${made} + ${days}`,
    );
});

test('a test day is exact: no rounding', () => {
  assert.equal(dueAtMs(1_234, 3, TEST_TIMING), 4_234);
});

test('filters: prefix, every tag, strict size bounds; markers only by prefix', () => {
  const object = { deleteMarker: false, sizeBytes: 100, tags: { a: '1', b: '2' } };
  const marker = { deleteMarker: true, sizeBytes: 0 };
  const rows: Array<[object, string, typeof object | typeof marker, boolean]> = [
    [{}, 'x', object, true],
    [{ prefix: 'lo' }, 'logs/a', object, true],
    [{ prefix: 'lo' }, 'alogs', object, false],
    [{ tags: { a: '1' } }, 'k', object, true],
    [{ tags: { a: '1', c: '3' } }, 'k', object, false],
    [{ tags: { a: '2' } }, 'k', object, false],
    [{ sizeGreaterThanBytes: 99 }, 'k', object, true],
    [{ sizeGreaterThanBytes: 100 }, 'k', object, false],
    [{ sizeLessThanBytes: 100 }, 'k', object, false],
    [{ sizeLessThanBytes: 101 }, 'k', object, true],
    [{ prefix: 'k' }, 'k', marker, true],
    [{ tags: { a: '1' } }, 'k', marker, false],
    [{ sizeLessThanBytes: 10 }, 'k', marker, false],
  ];
  for (const [filter, key, version, expected] of rows)
    assert.equal(filterMatches(filter, key, version), expected, `${JSON.stringify(filter)} ${key}`);
});

test('x-amz-expiration names the earliest due date among matching enabled rules', () => {
  const rules: LifecycleRule[] = [
    { id: 'late', enabled: true, filter: {}, expiration: { days: 10 } },
    { id: 'early', enabled: true, filter: { prefix: 'a' }, expiration: { days: 2 } },
    { id: 'off', enabled: false, filter: {}, expiration: { days: 1 } },
    { id: 'date', enabled: true, filter: { prefix: 'b' }, expiration: { dateMs: 5 * DAY_MS } },
  ];
  const v = { versionId: 'null', deleteMarker: false, lastModifiedMs: 0, sizeBytes: 1 };
  assert.deepEqual(currentExpiry(rules, 'a1', v, AWS_TIMING), {
    dueMs: 2 * DAY_MS,
    ruleId: 'early',
  });
  assert.deepEqual(currentExpiry(rules, 'b1', v, AWS_TIMING), {
    dueMs: 5 * DAY_MS,
    ruleId: 'date',
  });
  assert.deepEqual(currentExpiry(rules, 'c1', v, AWS_TIMING), {
    dueMs: 10 * DAY_MS,
    ruleId: 'late',
  });
});

test('an upload is aborted DaysAfterInitiation after it began, by prefix', () => {
  const rules: LifecycleRule[] = [
    { id: 'u', enabled: true, filter: { prefix: 'tmp/' }, abortIncompleteUploadDays: 2 },
  ];
  const upload = { key: 'tmp/x', initiatedAtMs: 500 };
  assert.equal(decideUpload(rules, upload, 2_499, TEST_TIMING), undefined);
  assert.equal(decideUpload(rules, upload, 2_500, TEST_TIMING), 'u');
  assert.equal(decideUpload(rules, { ...upload, key: 'keep/x' }, 1e9, TEST_TIMING), undefined);
});

// Random histories: versions newest first, times strictly decreasing.
const versionArb: fc.Arbitrary<Omit<LifecycleVersionFacts, 'lastModifiedMs' | 'versionId'>> =
  fc.record({
    deleteMarker: fc.boolean(),
    sizeBytes: fc.integer({ min: 0, max: 200 }),
    tags: fc.option(fc.constant({ t: 'x' }), { nil: undefined }),
  });
const factsArb: fc.Arbitrary<LifecycleKeyFacts> = fc
  .record({
    key: fc.constantFrom('a', 'ab', 'b'),
    versioned: fc.boolean(),
    versions: fc.array(versionArb, { minLength: 1, maxLength: 8 }),
    gaps: fc.array(fc.integer({ min: 1, max: 5_000 }), { minLength: 8, maxLength: 8 }),
  })
  .map(({ key, versioned, versions, gaps }) => {
    const list = versioned ? versions : [{ ...versions[0], deleteMarker: false }];
    let t = 100_000;
    return {
      key,
      versioned,
      versions: list.map((v, i) => {
        t -= gaps[i];
        return {
          ...v,
          versionId: `v${i}`,
          lastModifiedMs: t,
          sizeBytes: v.deleteMarker ? 0 : v.sizeBytes,
        };
      }),
    };
  });
const ruleArb: fc.Arbitrary<LifecycleRule> = fc.record({
  id: fc.constantFrom('r1', 'r2', 'r3'),
  enabled: fc.boolean(),
  filter: fc.record(
    {
      prefix: fc.constantFrom('a', 'b', ''),
      tags: fc.constant({ t: 'x' }),
      sizeGreaterThanBytes: fc.integer({ min: 0, max: 100 }),
    },
    { requiredKeys: [] },
  ),
  expiration: fc.option(
    fc.oneof(
      fc.record({ days: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ expiredObjectDeleteMarker: fc.boolean() }),
    ),
    { nil: undefined },
  ),
  noncurrentExpiration: fc.option(
    fc.record(
      {
        noncurrentDays: fc.integer({ min: 1, max: 5 }),
        newerNoncurrentVersions: fc.integer({ min: 1, max: 4 }),
      },
      { requiredKeys: ['noncurrentDays'] },
    ),
    { nil: undefined },
  ),
});
const nowArb = fc.integer({ min: 90_000, max: 120_000 });

test('decisions keep what the rules keep, once each, and stay due (fast-check)', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(ruleArb, { maxLength: 3, selector: (r) => r.id }),
      factsArb,
      nowArb,
      (rules, facts, nowMs) => {
        const actions = decideKey(rules, facts, nowMs, TEST_TIMING);
        const current = facts.versions[0];
        const ids = actions.filter((a) => a.kind !== 'expireCurrent').map((a) => a.versionId);
        assert.equal(new Set(ids).size, ids.length, 'a version is decided on once');
        assert.ok(actions.filter((a) => a.kind === 'expireCurrent').length <= 1);
        for (const a of actions) {
          if (a.kind === 'expireNoncurrent') {
            const index = facts.versions.findIndex((v) => v.versionId === a.versionId);
            assert.ok(index >= 1, 'the current version is never expired as noncurrent');
            const rule = rules.find((r) => r.id === a.ruleId && r.noncurrentExpiration);
            assert.ok(rule?.enabled, 'an enabled rule with a noncurrent action decided it');
          }
          if (a.kind === 'removeExpiredMarker') {
            assert.ok(current.deleteMarker && facts.versions.length === 1, 'only a lone marker');
          }
          if (a.kind === 'expireCurrent')
            assert.ok(!current.deleteMarker, 'a marker is not expired');
        }
        // The newest N noncurrent versions are kept by every rule that keeps N.
        for (const rule of rules) {
          const keep = rule.noncurrentExpiration?.newerNoncurrentVersions;
          if (keep === undefined || rules.some((r) => r !== rule && r.noncurrentExpiration))
            continue;
          for (const a of actions)
            if (a.kind === 'expireNoncurrent')
              assert.ok(
                Number(a.versionId.slice(1)) > keep,
                `${a.versionId} is among the newest ${keep}`,
              );
        }
        // Later, with the same facts, everything decided is still decided (perhaps by another
        // rule that has come due meanwhile).
        const what = (a: LifecycleAction) =>
          `${a.kind} ${a.kind === 'expireCurrent' ? '' : a.versionId}`;
        const later = decideKey(rules, facts, nowMs + 10_000, TEST_TIMING).map(what);
        for (const a of actions) assert.ok(later.includes(what(a)), `${what(a)} stays due`);
        // Disabled, the same rules do nothing.
        const disabled = rules.map((r) => ({ ...r, enabled: false }));
        assert.deepEqual(decideKey(disabled, facts, nowMs, TEST_TIMING), []);
      },
    ),
    { numRuns: 2000 },
  );
});

test('transitions: the coldest due class, never back, noncurrent ones from their successor', () => {
  const version = (id: string, madeMs: number, extra: Partial<LifecycleVersionFacts> = {}) => ({
    versionId: id,
    deleteMarker: false,
    lastModifiedMs: madeMs,
    sizeBytes: 10,
    objectMeta: true,
    ...extra,
  });
  const rules: LifecycleRule[] = [
    {
      id: 'g',
      enabled: true,
      filter: {},
      transitions: [
        { days: 1, storageClass: 'GLACIER' },
        { days: 3, storageClass: 'DEEP_ARCHIVE' },
      ],
      noncurrentTransitions: [{ noncurrentDays: 2, storageClass: 'GLACIER' }],
    },
  ];
  const facts: LifecycleKeyFacts = {
    key: 'k',
    versioned: true,
    versions: [version('v2', 5_000), version('v1', 0)],
  };
  const decide = (nowMs: number, f = facts) => decideTransitions(rules, f, nowMs, TEST_TIMING);
  assert.deepEqual(decide(5_999), []);
  assert.deepEqual(decide(6_000), [{ versionId: 'v2', storageClass: 'GLACIER', ruleId: 'g' }]);
  // v1 became noncurrent at 5,000 (v2's time): due two days later.
  assert.deepEqual(
    decide(7_000).map((a) => [a.versionId, a.storageClass]),
    [
      ['v2', 'GLACIER'],
      ['v1', 'GLACIER'],
    ],
  );
  assert.deepEqual(
    decide(8_000).map((a) => [a.versionId, a.storageClass]),
    [
      ['v2', 'DEEP_ARCHIVE'],
      ['v1', 'GLACIER'],
    ],
    'the coldest due class wins',
  );
  const archived: LifecycleKeyFacts = {
    ...facts,
    versions: [
      version('v2', 5_000, { storageClass: 'DEEP_ARCHIVE' }),
      version('v1', 0, { storageClass: 'GLACIER' }),
    ],
  };
  assert.deepEqual(decide(100_000, archived), [], 'never to the same or a warmer class');
  const posixOnly: LifecycleKeyFacts = {
    ...facts,
    versions: [version('v2', 5_000, { objectMeta: undefined })],
  };
  assert.deepEqual(decide(100_000, posixOnly), [], 'files without S3 metadata stay');
  const inline: LifecycleKeyFacts = {
    ...facts,
    versions: [version('v2', 5_000, { inline: true }), version('v1', 0, { inline: true })],
  };
  assert.deepEqual(decide(100_000, inline), [], 'small objects kept inline stay STANDARD');
  const disabled = rules.map((r) => ({ ...r, enabled: false }));
  assert.deepEqual(decideTransitions(disabled, facts, 100_000, TEST_TIMING), []);
});

test('NoncurrentVersionTransition keeps the newest NewerNoncurrentVersions; STANDARD_IA first', () => {
  const version = (id: string, madeMs: number) => ({
    versionId: id,
    deleteMarker: false,
    lastModifiedMs: madeMs,
    sizeBytes: 10,
    objectMeta: true,
  });
  const rules: LifecycleRule[] = [
    {
      id: 'nc',
      enabled: true,
      filter: {},
      transitions: [{ days: 30, storageClass: 'STANDARD_IA' }],
      noncurrentTransitions: [
        { noncurrentDays: 1, storageClass: 'GLACIER', newerNoncurrentVersions: 2 },
      ],
    },
  ];
  const facts: LifecycleKeyFacts = {
    key: 'k',
    versioned: true,
    versions: [version('v3', 3_000), version('v2', 2_000), version('v1', 1_000), version('v0', 0)],
  };
  const moved = (nowMs: number) =>
    decideTransitions(rules, facts, nowMs, TEST_TIMING).map((a) => [a.versionId, a.storageClass]);
  // v2 and v1 are the two newest noncurrent versions: they stay whatever their age.
  assert.deepEqual(moved(10_000), [['v0', 'GLACIER']]);
  assert.deepEqual(moved(33_000), [
    ['v3', 'STANDARD_IA'],
    ['v0', 'GLACIER'],
  ]);
});

// Random transition rules over random histories: a version is moved at most once per decision,
// only to a colder class than its own, never among a rule's newest NewerNoncurrentVersions
// noncurrent versions (when that rule is the only one with noncurrent transitions), and once
// due it stays due.
const classArb = fc.constantFrom(
  'STANDARD_IA' as const,
  'GLACIER' as const,
  'DEEP_ARCHIVE' as const,
);
const transitionRuleArb: fc.Arbitrary<LifecycleRule> = fc.record(
  {
    id: fc.constantFrom('t1', 't2', 't3'),
    enabled: fc.boolean(),
    filter: fc.record({ prefix: fc.constantFrom('a', 'b', '') }, { requiredKeys: [] }),
    transitions: fc.array(
      fc.record({ days: fc.integer({ min: 1, max: 40 }), storageClass: classArb }),
      { minLength: 1, maxLength: 3 },
    ),
    noncurrentTransitions: fc.array(
      fc.record(
        {
          noncurrentDays: fc.integer({ min: 1, max: 5 }),
          storageClass: classArb,
          newerNoncurrentVersions: fc.integer({ min: 1, max: 4 }),
        },
        { requiredKeys: ['noncurrentDays', 'storageClass'] },
      ),
      { minLength: 1, maxLength: 3 },
    ),
  },
  { requiredKeys: ['id', 'enabled', 'filter'] },
);
const transitionFactsArb = fc
  .tuple(
    factsArb,
    fc.array(fc.constantFrom(undefined, 'STANDARD_IA' as const, 'GLACIER' as const), {
      minLength: 8,
      maxLength: 8,
    }),
  )
  .map(([facts, classes]) => ({
    ...facts,
    versions: facts.versions.map((v, i) => ({ ...v, objectMeta: true, storageClass: classes[i] })),
  }));

test('transitions move versions colder only, keep the newest noncurrent, stay due (fast-check)', () => {
  const rank = { STANDARD: 0, STANDARD_IA: 1, GLACIER: 2, DEEP_ARCHIVE: 3 };
  fc.assert(
    fc.property(
      fc.uniqueArray(transitionRuleArb, { maxLength: 3, selector: (r) => r.id }),
      transitionFactsArb,
      nowArb,
      (rules, facts, nowMs) => {
        const actions = decideTransitions(rules, facts, nowMs, TEST_TIMING);
        const ids = actions.map((a) => a.versionId);
        assert.equal(new Set(ids).size, ids.length, 'a version is moved once');
        for (const a of actions) {
          const index = facts.versions.findIndex((v) => v.versionId === a.versionId);
          const v = facts.versions[index];
          assert.ok(!v.deleteMarker, 'a delete marker has no data to move');
          assert.ok(rank[a.storageClass] > rank[v.storageClass ?? 'STANDARD'], 'only colder');
          const rule = rules.find((r) => r.id === a.ruleId);
          assert.ok(rule?.enabled, 'an enabled rule decided it');
          const onlyNoncurrent = rules.filter((r) => r.noncurrentTransitions !== undefined);
          if (index >= 1 && onlyNoncurrent.length === 1) {
            const keeps = (rule?.noncurrentTransitions ?? []).filter(
              (t) => t.storageClass === a.storageClass,
            );
            assert.ok(
              keeps.some((t) => index - 1 >= (t.newerNoncurrentVersions ?? 0)),
              `${a.versionId} is not among the newest noncurrent versions its rule keeps`,
            );
          }
        }
        const later = decideTransitions(rules, facts, nowMs + 100_000, TEST_TIMING);
        for (const a of actions)
          assert.ok(
            later.some(
              (b) => b.versionId === a.versionId && rank[b.storageClass] >= rank[a.storageClass],
            ),
            `${a.versionId} stays due (to ${a.storageClass} or colder)`,
          );
        const disabled = rules.map((r) => ({ ...r, enabled: false }));
        assert.deepEqual(decideTransitions(disabled, facts, nowMs, TEST_TIMING), []);
      },
    ),
    { numRuns: 2000 },
  );
});
