import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type KvModelInput, type KvOperation, kvModel } from './kv-model.ts';
import { checkLinearizability, type Model } from './linearizability.ts';

function op(
  clientId: number,
  callTime: number,
  returnTime: number | undefined,
  input: KvModelInput,
  output?: string | null | boolean,
): KvOperation {
  return { clientId, input, output, callTime, returnTime };
}
const put = (key: string, value: string): KvModelInput => ({ op: 'put', key, value });
const get = (key: string): KvModelInput => ({ op: 'get', key });
const cas = (key: string, expected: string | null, value: string): KvModelInput => ({
  op: 'cas',
  key,
  expected,
  value,
});

test('sequential history that follows the model is linearizable', () => {
  const history = [
    op(1, 0, 1, put('x', 'a'), null),
    op(1, 2, 3, get('x'), 'a'),
    op(2, 4, 5, cas('x', 'a', 'b'), true),
    op(2, 6, 7, get('x'), 'b'),
  ];
  assert.equal(checkLinearizability(kvModel, history).result, 'ok');
});

test('a stale read after a completed write is not linearizable', () => {
  const history = [op(1, 0, 1, put('x', 'a'), null), op(2, 2, 3, get('x'), null)];
  const outcome = checkLinearizability(kvModel, history);
  assert.equal(outcome.result, 'illegal');
  assert.match(outcome.result === 'illegal' ? outcome.explanation : '', /get\(x\) -> null/);
});

test('concurrent write and read may see either value', () => {
  const before = [op(1, 0, 10, put('x', 'a'), null), op(2, 1, 2, get('x'), null)];
  const after = [op(1, 0, 10, put('x', 'a'), null), op(2, 1, 2, get('x'), 'a')];
  assert.equal(checkLinearizability(kvModel, before).result, 'ok');
  assert.equal(checkLinearizability(kvModel, after).result, 'ok');
});

test('a read may not go back to an older value once a newer one was read', () => {
  // Both writes are concurrent with both reads, but a read of b followed by a read of a requires
  // a order b then a (second read) and b before the first read: impossible when the reads are
  // sequential and a was written strictly before b.
  const history = [
    op(1, 0, 1, put('x', 'a'), null),
    op(1, 2, 20, put('x', 'b'), null),
    op(2, 3, 4, get('x'), 'b'),
    op(3, 5, 6, get('x'), 'a'),
  ];
  assert.equal(checkLinearizability(kvModel, history).result, 'illegal');
});

test('two compare-and-sets from the same value cannot both succeed', () => {
  const history = [
    op(1, 0, 1, put('x', 'a'), null),
    op(2, 2, 10, cas('x', 'a', 'b'), true),
    op(3, 3, 11, cas('x', 'a', 'c'), true),
  ];
  assert.equal(checkLinearizability(kvModel, history).result, 'illegal');
});

test('a read of a value that was never written is not linearizable', () => {
  const history = [op(1, 0, 1, put('x', 'a'), null), op(2, 2, 3, get('x'), 'zzz')];
  assert.equal(checkLinearizability(kvModel, history).result, 'illegal');
});

test('an operation without an answer may or may not have taken effect', () => {
  const took = [op(1, 0, undefined, put('x', 'a')), op(2, 5, 6, get('x'), 'a')];
  const didNot = [op(1, 0, undefined, put('x', 'a')), op(2, 5, 6, get('x'), null)];
  assert.equal(checkLinearizability(kvModel, took).result, 'ok');
  assert.equal(checkLinearizability(kvModel, didNot).result, 'ok');
  // ...but not before it was called.
  const early = [op(2, 0, 1, get('x'), 'a'), op(1, 5, undefined, put('x', 'a'))];
  assert.equal(checkLinearizability(kvModel, early).result, 'illegal');
});

test('an unanswered write cannot take effect and then be undone', () => {
  const history = [
    op(1, 0, undefined, put('x', 'a')),
    op(2, 5, 6, get('x'), 'a'),
    op(3, 7, 8, get('x'), null),
  ];
  assert.equal(checkLinearizability(kvModel, history).result, 'illegal');
});

test('keys are checked independently', () => {
  const history = [
    op(1, 0, 1, put('x', 'a'), null),
    op(2, 0, 1, put('y', 'b'), null),
    op(3, 2, 3, get('y'), 'b'),
    op(3, 4, 5, get('x'), 'b'),
  ];
  assert.equal(checkLinearizability(kvModel, history).result, 'illegal');
});

test('a larger concurrent history is checked quickly', () => {
  // 6 clients, 40 rounds of overlapping put/get on one key, consistent with a real order.
  const history: KvOperation[] = [];
  let value: string | null = null;
  let time = 0;
  for (let round = 0; round < 40; round++) {
    const start = time;
    const writer = round % 6;
    const written = `v${round}`;
    for (let client = 0; client < 6; client++) {
      if (client === writer) continue;
      history.push(op(client, start + client, start + 20 + client, get('x'), value));
    }
    history.push(op(writer, start, start + 30, put('x', written), null));
    value = written;
    time += 31;
  }
  const startedMs = performance.now();
  assert.equal(checkLinearizability(kvModel, history).result, 'ok');
  assert.ok(performance.now() - startedMs < 2000, 'checker too slow');
});

test('the search gives up with unknown instead of running forever', () => {
  const counter: Model<number, null, number> = {
    init: () => 0,
    step: (state, _input, output) =>
      output === undefined || output === state + 1 ? state + 1 : undefined,
    stateKey: (state) => String(state),
  };
  const history = Array.from({ length: 14 }, (_, i) => ({
    clientId: i,
    input: null,
    output: 100 + i, // never consistent: every order fails at the first step
    callTime: 0,
    returnTime: 1,
  }));
  assert.equal(checkLinearizability(counter, history).result, 'illegal');
  const outcome = checkLinearizability(counter, history, { maxStepsPerPartition: 3 });
  assert.equal(outcome.result, 'unknown');
});
