// The hot counters and histograms must export exactly what prom-client's own would for the same
// calls: prom-client is the oracle. Each case makes both kinds in two registries, drives them
// with the same seeded calls, and compares the text page, the JSON and the sum of two processes'
// JSON (the combined node's page, src/cluster/data-child.ts).
// Replay a failing seed: HOT_METRICS_SEED=<seed> node --test test/observability/hot-metrics.test.ts
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as prom from 'prom-client';
import { Counter, Histogram } from '../../src/observability/hot-metrics.ts';
import { SeededPrng } from '../../src/raft/prng.ts';

// A float in [0, 1) from the seed's sequence.
function rng(seed: number): () => number {
  const prng = new SeededPrng(seed);
  return () => prng.next();
}

const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const METHODS = ['data.getShard', 'meta.apply', 'meta.read'];
const CODES = ['OK', 'NOT_FOUND', 0, '0'];

interface Pair {
  ours: prom.Registry;
  theirs: prom.Registry;
}

// The same counter made both ways, each in its side's registry.
function counters<T extends string>(registries: Pair, name: string, labelNames: readonly T[] = []) {
  const config = { name, help: `help of ${name}`, labelNames };
  return {
    ours: new Counter({ ...config, registers: [registries.ours] }),
    theirs: new prom.Counter({ ...config, registers: [registries.theirs] }),
  };
}

// The same histogram made both ways; `buckets` undefined: each side's default.
function histograms<T extends string>(
  registries: Pair,
  name: string,
  labelNames: readonly T[] = [],
  buckets: number[] | undefined = BUCKETS,
) {
  const config = { name, help: `help of ${name}`, labelNames, ...(buckets ? { buckets } : {}) };
  return {
    ours: new Histogram({ ...config, registers: [registries.ours] }),
    theirs: new prom.Histogram({ ...config, registers: [registries.theirs] }),
  };
}

async function assertSameExport(registries: Pair, note: string): Promise<void> {
  assert.equal(await registries.ours.metrics(), await registries.theirs.metrics(), `${note}: text`);
  const ours = await registries.ours.getMetricsAsJSON();
  const theirs = await registries.theirs.getMetricsAsJSON();
  assert.deepEqual(JSON.parse(JSON.stringify(ours)), JSON.parse(JSON.stringify(theirs)), note);
  const summed = (json: prom.MetricObjectWithValues<prom.MetricValue<string>>[]) =>
    prom.AggregatorRegistry.aggregate([json, json] as never[]).metrics();
  assert.equal(await summed(ours), await summed(theirs), `${note}: two processes summed`);
}

function seeds(): number[] {
  const fixed = process.env.HOT_METRICS_SEED;
  return fixed !== undefined ? [Number(fixed)] : Array.from({ length: 20 }, (_, i) => i + 1);
}

test('counters export what prom-client exports, over seeded calls', async () => {
  for (const seed of seeds()) {
    const random = rng(seed);
    const registries = { ours: new prom.Registry(), theirs: new prom.Registry() };
    const labelled = counters(registries, 't_requests_total', ['method', 'code'] as const);
    const plain = counters(registries, 't_plain_total');
    const oneLabel = counters(registries, 't_bytes_total', ['direction'] as const);
    await assertSameExport(registries, `seed ${seed}, before any call`);
    for (let call = 0; call < 200; call++) {
      const pick = random();
      const method = METHODS[Math.floor(random() * METHODS.length)];
      const code = CODES[Math.floor(random() * CODES.length)];
      const amount = random() < 0.5 ? undefined : Math.floor(random() * 5000) / 7;
      if (pick < 0.4) {
        labelled.ours.inc({ method, code }, amount);
        labelled.theirs.inc({ method, code }, amount);
      } else if (pick < 0.55) {
        labelled.ours.labels(method, String(code)).inc(amount);
        labelled.theirs.labels(method, String(code)).inc(amount);
      } else if (pick < 0.75) {
        if (amount === undefined) {
          plain.ours.inc();
          plain.theirs.inc();
        } else {
          plain.ours.inc(amount);
          plain.theirs.inc(amount);
        }
      } else {
        const direction = random() < 0.5 ? 'read' : 'write';
        oneLabel.ours.inc({ direction }, amount);
        oneLabel.theirs.inc({ direction }, amount);
      }
      if (call % 50 === 49) await assertSameExport(registries, `seed ${seed}, call ${call}`);
    }
    labelled.ours.reset();
    labelled.theirs.reset();
    plain.ours.reset();
    plain.theirs.reset();
    await assertSameExport(registries, `seed ${seed}, after reset`);
  }
});

test('histograms export what prom-client exports, over seeded calls', async () => {
  for (const seed of seeds()) {
    const random = rng(seed);
    const registries = { ours: new prom.Registry(), theirs: new prom.Registry() };
    const labelled = histograms(registries, 't_duration_seconds', ['method'] as const);
    const plain = histograms(registries, 't_apply_seconds');
    const defaults = histograms(registries, 't_default_seconds', [], undefined);
    await assertSameExport(registries, `seed ${seed}, before any call`);
    for (let call = 0; call < 300; call++) {
      // Bucket bounds themselves (a value equal to a bound is in its bucket), values between
      // them, and values above the last (counted in +Inf only).
      const value =
        random() < 0.3
          ? BUCKETS[Math.floor(random() * BUCKETS.length)]
          : random() < 0.9
            ? random() ** 4 * 3
            : 10 + random() * 100;
      const method = METHODS[Math.floor(random() * METHODS.length)];
      const pick = random();
      if (pick < 0.5) {
        labelled.ours.observe({ method }, value);
        labelled.theirs.observe({ method }, value);
      } else if (pick < 0.65) {
        labelled.ours.labels(method).observe(value);
        labelled.theirs.labels(method).observe(value);
      } else if (pick < 0.85) {
        plain.ours.observe(value);
        plain.theirs.observe(value);
      } else {
        defaults.ours.observe(value);
        defaults.theirs.observe(value);
      }
      if (call % 75 === 74) await assertSameExport(registries, `seed ${seed}, call ${call}`);
    }
  }
});

test("a counter's collect hook runs before each export, as prom-client's does", async () => {
  const registries = { ours: new prom.Registry(), theirs: new prom.Registry() };
  let source = 0;
  const counted = { ours: 0, theirs: 0 };
  new Counter({
    name: 't_collected_total',
    help: 'h',
    labelNames: ['from'] as const,
    registers: [registries.ours],
    collect() {
      this.inc({ from: 'idle' }, source - counted.ours);
      counted.ours = source;
    },
  });
  new prom.Counter({
    name: 't_collected_total',
    help: 'h',
    labelNames: ['from'] as const,
    registers: [registries.theirs],
    collect() {
      this.inc({ from: 'idle' }, source - counted.theirs);
      counted.theirs = source;
    },
  });
  for (const next of [0, 5, 5, 12]) {
    source = next;
    // Text first (each export runs the hook once per registry).
    assert.equal(await registries.ours.metrics(), await registries.theirs.metrics());
  }
  assert.match(await registries.ours.metrics(), /t_collected_total\{from="idle"\} 12/);
});

test('timers observe the seconds since their start, under the start and end labels', async () => {
  const registry = new prom.Registry();
  const histogram = new Histogram({
    name: 't_timed_seconds',
    help: 'h',
    labelNames: ['op', 'errno'] as const,
    buckets: [0.001, 10],
    registers: [registry],
  });
  const stop = histogram.startTimer({ op: 'read' });
  await new Promise((resolve) => setTimeout(resolve, 20));
  const seconds = stop({ errno: 0 });
  assert.ok(seconds >= 0.015 && seconds < 10, `${seconds} s`);
  const child = histogram.labels('read', 0).startTimer();
  const childSeconds = child();
  assert.ok(childSeconds >= 0 && childSeconds < 10);
  const text = await registry.metrics();
  assert.match(text, /t_timed_seconds_count\{op="read",errno="0"\} 2\n/);
  assert.match(text, /t_timed_seconds_bucket\{le="0.001",op="read",errno="0"\} [01]\n/);
  assert.match(text, /t_timed_seconds_bucket\{le="10",op="read",errno="0"\} 2\n/);
});

test('refusals: a label not declared, a counter going down, a value that is no number', () => {
  const counter = new Counter({ name: 't_refusals_total', help: 'h', labelNames: ['a'] as const });
  assert.throws(() => counter.inc({ b: 1 } as never), /no label named b/);
  assert.throws(() => counter.inc({ a: 1 }, -1), /goes up/);
  assert.throws(() => counter.inc(Number.NaN), /goes up/);
  const histogram = new Histogram({ name: 't_refusals_seconds', help: 'h' });
  assert.throws(() => histogram.observe(Number.POSITIVE_INFINITY), /not a valid number/);
  assert.throws(() => new Histogram({ name: 't_le', help: 'h', labelNames: ['le'] }), /reserved/);
  assert.throws(() => new Histogram({ name: 't_b', help: 'h', buckets: [1, 0.5] }), /ascend/);
});
