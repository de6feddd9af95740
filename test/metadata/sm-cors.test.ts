// A bucket's CORS rules in the state machine: what the gateway validated is checked again in
// apply, so a command from any path that breaks a rule is refused (EINVAL) and stores nothing.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { CorsRule } from '../../src/metadata/cors-rules.ts';
import { closeAll, codeOf, ok, openMachineWithServers } from './sm-helpers.ts';

after(closeAll);

const RULE: CorsRule = {
  allowedOrigins: ['https://*.example.com'],
  allowedMethods: ['GET', 'PUT'],
  allowedHeaders: ['x-amz-*'],
  exposeHeaders: ['ETag'],
  maxAgeSeconds: 60,
};

test('rules are stored in order, replaced whole, and removed by null', () => {
  const machine = openMachineWithServers([]);
  const second: CorsRule = { ...RULE, id: 'two', allowedOrigins: ['*'] };
  ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'cors', value: [RULE, second] });
  assert.deepEqual(machine.reader.getBucket('b')?.cors, [RULE, second]);
  ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'cors', value: [second] });
  assert.deepEqual(machine.reader.getBucket('b')?.cors, [second]);
  ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'cors', value: null });
  assert.equal(machine.reader.getBucket('b')?.cors, undefined);
});

test('a configuration that breaks a rule is refused and leaves the stored one alone', () => {
  const machine = openMachineWithServers([]);
  ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'cors', value: [RULE] });
  const broken: Array<[unknown, string]> = [
    [[], 'no rules'],
    [Array(101).fill(RULE), '101 rules'],
    [[{ ...RULE, allowedMethods: ['PATCH'] }], 'an unsupported method'],
    [[{ ...RULE, allowedOrigins: [] }], 'no origin'],
    [[{ ...RULE, allowedOrigins: ['https://*.*.example'] }], 'two wildcards in an origin'],
    [[{ ...RULE, allowedHeaders: ['*-*'] }], 'two wildcards in a header'],
    [[{ ...RULE, maxAgeSeconds: -1 }], 'a negative age'],
    [[{ ...RULE, id: 'i'.repeat(256) }], 'a long id'],
    ['GET', 'not a list'],
  ];
  for (const [value, what] of broken) {
    const command = { op: 'setBucketAttr', name: 'b', attr: 'cors', value } as const;
    assert.equal(codeOf(machine, command as never), 'EINVAL', what);
  }
  assert.deepEqual(machine.reader.getBucket('b')?.cors, [RULE]);
  ok(machine, { op: 'setBucketAttr', name: 'b', attr: 'cors', value: Array(100).fill(RULE) });
});
