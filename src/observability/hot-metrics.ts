// Counters and histograms for per-request paths, exported through prom-client's registries in
// prom-client's own format. prom-client's inc and observe build a string from the label object on
// every call (sorting and validating its names), and its histogram looks its bucket up by the
// bound's decimal string: with the handful a request touches (the FUSE request's latency and
// count, the RPC's, the shard bytes read), that was 7% of a FUSE 4 KiB random read's time across
// the mount and the data server (stubbed out, 3,132 reads/s against 2,915, three runs each).
// Here a label set's cell is found by its values alone (one Map lookup; no sorting, no object
// built) and holds plain numbers; the registry formats what get() returns as it formats
// prom-client's own (test/observability/hot-metrics.test.ts compares the two outputs).
//
// What prom-client offers and these do not: exemplars, zero(), remove(), and a label name outside
// `labelNames` being refused on every call (here: when its label set is first seen). reset()
// forgets every label set, as prom-client's does; a child taken by labels() before it counts into
// a set no longer exported (nothing here resets a metric that hands out children).
import assert from 'node:assert';
import type { Registry } from 'prom-client';

type LabelValue = string | number;
export type Labels<T extends string> = Partial<Record<T, LabelValue>>;

// What a registry reads from a metric to write it out (prom-client's own metrics' shape).
interface ExportedValue {
  labels: Labels<string>;
  value: number;
  metricName?: string;
  sharedLabels?: Labels<string>; // a histogram's cell labels, apart from its bucket's `le`
  exemplar?: null;
}

interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: string;
  values: ExportedValue[];
}

interface MetricConfig<T extends string, M> {
  name: string;
  help: string;
  labelNames?: readonly T[];
  registers?: Registry[];
  aggregator?: 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';
  // Runs before each export (a scrape), to bring the metric up to date from elsewhere.
  collect?: (this: M) => void | Promise<void>;
}

// The cells' key: a label set's values in `labelNames` order. U+0001 cannot be mistaken for
// part of a method name, an operation or an error code.
function keyOf<T extends string>(labelNames: readonly T[], labels: Labels<T>): string {
  if (labelNames.length === 1) return String(labels[labelNames[0]]);
  let key = '';
  for (const name of labelNames) key += `${labels[name]}\u0001`;
  return key;
}

// The label set as prom-client keeps it: the names given, in the order given.
function ownLabels<T extends string>(
  metric: string,
  labelNames: readonly T[],
  labels: Labels<T>,
): Labels<T> {
  const kept: Labels<T> = {};
  for (const [name, value] of Object.entries(labels) as Array<[T, LabelValue | undefined]>) {
    assert(labelNames.includes(name), `${metric}: no label named ${name}`);
    if (value !== undefined) kept[name] = value;
  }
  return kept;
}

// A label set from its values in `labelNames` order (labels(...values)).
function labelsOf<T extends string>(
  metric: string,
  labelNames: readonly T[],
  values: LabelValue[],
): Labels<T> {
  assert.equal(values.length, labelNames.length, `${metric}: one value per label`);
  const labels: Labels<T> = {};
  labelNames.forEach((name, i) => {
    labels[name] = values[i];
  });
  return labels;
}

function register(metric: { name: string }, registers: Registry[] | undefined): void {
  assert(metric.name.length > 0, 'a metric has a name');
  for (const registry of registers ?? [])
    registry.registerMetric(metric as unknown as Parameters<Registry['registerMetric']>[0]);
}

export interface CounterChild {
  inc(amount?: number): void;
}

class CounterCell implements CounterChild {
  readonly labels: Labels<string>;
  value = 0;
  constructor(labels: Labels<string>) {
    this.labels = labels;
  }
  inc(amount = 1): void {
    if (!(amount >= 0) || !Number.isFinite(amount))
      throw new TypeError(`a counter goes up by a finite amount, not ${amount}`);
    this.value += amount;
  }
}

export class Counter<T extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'counter' as const;
  readonly aggregator: NonNullable<MetricConfig<T, Counter<T>>['aggregator']>;
  private readonly labelNames: readonly T[];
  private readonly collect: MetricConfig<T, Counter<T>>['collect'];
  private cells = new Map<string, CounterCell>();

  constructor(config: MetricConfig<T, Counter<T>>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
    this.aggregator = config.aggregator ?? 'sum';
    this.collect = config.collect;
    this.reset();
    register(this, config.registers);
  }

  // inc(), inc(amount), inc(labels), inc(labels, amount), as prom-client's.
  inc(labelsOrAmount?: Labels<T> | number, amount?: number): void {
    if (typeof labelsOrAmount === 'object') this.cell(labelsOrAmount).inc(amount);
    else this.cell({}).inc(labelsOrAmount);
  }

  // The cell of one label set, values in `labelNames` order: for a caller that keeps it.
  labels(...values: LabelValue[]): CounterChild {
    return this.cell(labelsOf(this.name, this.labelNames, values));
  }

  reset(): void {
    this.cells = new Map();
    // prom-client shows a counter without labels at 0 from the start.
    if (this.labelNames.length === 0) this.cell({});
  }

  async get(): Promise<Exported> {
    if (this.collect) await this.collect.call(this);
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: [...this.cells.values()].map((cell) => ({
        labels: { ...cell.labels },
        value: cell.value,
      })),
    };
  }

  private cell(labels: Labels<T>): CounterCell {
    const key = keyOf(this.labelNames, labels);
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = new CounterCell(ownLabels(this.name, this.labelNames, labels));
      this.cells.set(key, cell);
    }
    return cell;
  }
}

export interface HistogramChild {
  observe(value: number): void;
  // Resolves the time since it was started, in seconds, into the histogram; returns it.
  startTimer(): () => number;
}

class HistogramCell implements HistogramChild {
  readonly labels: Labels<string>;
  readonly upperBounds: readonly number[];
  readonly counts: Float64Array; // per bucket, not cumulative
  sum = 0;
  count = 0;
  constructor(labels: Labels<string>, upperBounds: readonly number[]) {
    this.labels = labels;
    this.upperBounds = upperBounds;
    this.counts = new Float64Array(upperBounds.length);
  }
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${value}`);
    this.sum += value;
    this.count += 1;
    const bounds = this.upperBounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]) {
        this.counts[i] += 1;
        return;
      }
    }
  }
  startTimer(): () => number {
    const startedMs = performance.now();
    return () => {
      const seconds = (performance.now() - startedMs) / 1000;
      this.observe(seconds);
      return seconds;
    };
  }
}

// prom-client's default buckets, for a histogram that names none.
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram<T extends string = string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator: NonNullable<MetricConfig<T, Histogram<T>>['aggregator']>;
  private readonly labelNames: readonly T[];
  private readonly upperBounds: readonly number[];
  private readonly collect: MetricConfig<T, Histogram<T>>['collect'];
  private cells = new Map<string, HistogramCell>();

  constructor(config: MetricConfig<T, Histogram<T>> & { buckets?: readonly number[] }) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
    assert(!this.labelNames.includes('le' as T), 'le is a reserved label keyword');
    this.upperBounds = Object.freeze([...(config.buckets ?? DEFAULT_BUCKETS)]);
    for (let i = 1; i < this.upperBounds.length; i++)
      assert(this.upperBounds[i - 1] < this.upperBounds[i], `${this.name}: buckets ascend`);
    this.aggregator = config.aggregator ?? 'sum';
    this.collect = config.collect;
    this.reset();
    register(this, config.registers);
  }

  // observe(value) or observe(labels, value), as prom-client's.
  observe(labelsOrValue: Labels<T> | number, value?: number): void {
    if (typeof labelsOrValue === 'object') this.cell(labelsOrValue).observe(value as number);
    else this.cell({}).observe(labelsOrValue);
  }

  // As prom-client's: the returned function observes the time since, in seconds, under the
  // start's labels and the end's, and returns it.
  startTimer(labels: Labels<T> = {}): (endLabels?: Labels<T>) => number {
    const startedMs = performance.now();
    return (endLabels?: Labels<T>) => {
      const seconds = (performance.now() - startedMs) / 1000;
      this.cell(endLabels === undefined ? labels : { ...labels, ...endLabels }).observe(seconds);
      return seconds;
    };
  }

  labels(...values: LabelValue[]): HistogramChild {
    return this.cell(labelsOf(this.name, this.labelNames, values));
  }

  reset(): void {
    this.cells = new Map();
    if (this.labelNames.length === 0) this.cell({});
  }

  // What the text format is written from: each bucket's `le` apart from the cell's labels, as
  // prom-client's own histogram gives them (so the lines come out the same).
  async getForPromString(): Promise<Exported> {
    if (this.collect) await this.collect.call(this);
    const bucketName = `${this.name}_bucket`;
    const values: ExportedValue[] = [];
    for (const cell of this.cells.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((bound, i) => {
        cumulative += cell.counts[i];
        values.push(pair({ le: bound }, cumulative, bucketName, cell.labels, null));
      });
      values.push(pair({ le: '+Inf' }, cell.count, bucketName, cell.labels, null));
      values.push(pair({}, cell.sum, `${this.name}_sum`, cell.labels, undefined));
      values.push(pair({}, cell.count, `${this.name}_count`, cell.labels, undefined));
    }
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  // For JSON (the combined node's aggregation): each value's labels in one object.
  async get(): Promise<Exported> {
    const data = await this.getForPromString();
    data.values = data.values.map(({ sharedLabels, labels, ...rest }) => ({
      ...rest,
      labels: { ...labels, ...sharedLabels },
    }));
    return data;
  }

  private cell(labels: Labels<T>): HistogramCell {
    const key = keyOf(this.labelNames, labels);
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = new HistogramCell(ownLabels(this.name, this.labelNames, labels), this.upperBounds);
      this.cells.set(key, cell);
    }
    return cell;
  }
}

function pair(
  labels: Labels<string>,
  value: number,
  metricName: string,
  sharedLabels: Labels<string>,
  exemplar: null | undefined, // as prom-client leaves it: null on buckets, absent on sum and count
): ExportedValue {
  return { labels, sharedLabels, value, metricName, exemplar };
}
