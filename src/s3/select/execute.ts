// Runs a parsed query over records, one at a time: WHERE, then either the SELECT list (one output
// row per kept record, up to LIMIT) or the aggregates' accumulators (one row at the end). Pure:
// records in, output text out; the reading and the sending are the handler's.
import assert from 'node:assert';
import type { Expr, PathStep, Query } from './ast.ts';
import { type Compiled, compile } from './compile.ts';
import { SelectError } from './errors.ts';
import { type EvalContext, isTrue } from './evaluate.ts';
import type { OutputRow, RowWriter } from './output.ts';
import { children } from './parser.ts';
import { type CsvHeader, CsvRecord, type InputRecord } from './records.ts';
import { compareValues, isAbsent, typeName } from './values.ts';

// The record of an aggregate query's one output row, and of the context before any record.
const EMPTY_RECORD = new CsvRecord([], undefined);

interface Accumulator {
  count: number;
  sum: number;
  best: unknown; // MIN or MAX so far
}

export class SelectExecution {
  private readonly query: Query;
  private readonly writer: RowWriter;
  private readonly nowMs: number;
  private readonly names: string[];
  private readonly accumulators: Accumulator[];
  // The query's expressions compiled once (compile.ts): WHERE, the SELECT list, aggregate args.
  private readonly where: Compiled | undefined;
  private readonly items: Compiled[] | undefined;
  private readonly aggregateArgs: Array<Compiled | 'star'>;
  // One context, its record replaced for each record: no allocation per record.
  private readonly ctx: EvalContext;
  private rowsOut = 0;
  private starNames: { header: CsvHeader | undefined; names: string[] } | undefined;

  constructor(query: Query, writer: RowWriter, nowMs: number) {
    this.query = query;
    this.writer = writer;
    this.nowMs = nowMs;
    stripAlias(query);
    this.names = (query.items ?? []).map((item, i) => item.alias ?? itemName(item.expr, i));
    this.accumulators = query.aggregates.map(() => ({ count: 0, sum: 0, best: undefined }));
    this.where = query.where === undefined ? undefined : compile(query.where);
    this.items = query.items?.map((item) => compile(item.expr));
    this.aggregateArgs = query.aggregates.map((a) => (a.arg === 'star' ? 'star' : compile(a.arg)));
    this.ctx = { record: EMPTY_RECORD, nowMs };
  }

  get isAggregate(): boolean {
    return this.query.aggregates.length > 0;
  }

  // True once LIMIT is reached: no later record can add anything.
  get done(): boolean {
    return this.query.limit !== undefined && this.rowsOut >= this.query.limit;
  }

  // The record's output text ('' when it is filtered out or only accumulated).
  push(record: InputRecord): string {
    assert(!this.done, 'no record is pushed after LIMIT is reached');
    const ctx = this.ctx;
    ctx.record = record;
    if (this.where !== undefined && !isTrue(this.where(ctx))) return '';
    if (this.isAggregate) {
      this.accumulate(ctx);
      return '';
    }
    this.rowsOut++;
    return this.writer.write(this.row(record, undefined));
  }

  // The aggregate row, once every record has been pushed ('' for other queries).
  finish(): string {
    if (!this.isAggregate || this.done) return '';
    const results = this.query.aggregates.map((a, i) => result(a.name, this.accumulators[i]));
    this.rowsOut++;
    return this.writer.write(this.row(EMPTY_RECORD, results));
  }

  private row(record: InputRecord, aggregates: unknown[] | undefined): OutputRow {
    const items = this.items;
    if (items === undefined) {
      if (record instanceof CsvRecord)
        return { names: this.csvNames(record), values: record.fields };
      return { whole: record.value };
    }
    const ctx = aggregates === undefined ? this.ctx : { record, nowMs: this.nowMs, aggregates };
    const values = new Array<unknown>(items.length);
    for (let i = 0; i < items.length; i++) values[i] = items[i](ctx);
    return { names: this.names, values };
  }

  // SELECT * on CSV: the names (JSON output's keys) of a record's fields, made again only when
  // the header or the field count changes, not for every record.
  private csvNames(record: CsvRecord): string[] {
    const cached = this.starNames;
    const same =
      cached !== undefined &&
      cached.header === record.header &&
      cached.names.length === record.fields.length;
    if (same) return cached.names;
    this.starNames = { header: record.header, names: record.names() };
    return this.starNames.names;
  }

  private accumulate(ctx: EvalContext): void {
    this.query.aggregates.forEach((a, i) => {
      const acc = this.accumulators[i];
      const arg = this.aggregateArgs[i];
      if (arg === 'star') {
        acc.count++;
        return;
      }
      const v = arg(ctx);
      if (isAbsent(v)) return; // aggregates skip NULL and MISSING
      acc.count++;
      if (a.name === 'SUM' || a.name === 'AVG') {
        if (typeof v !== 'number')
          throw new SelectError(
            'IncorrectSqlFunctionArgumentType',
            `${a.name} takes numbers, got ${typeName(v)} (CAST the column).`,
          );
        acc.sum += v;
      } else if (a.name === 'MIN' || a.name === 'MAX') {
        const sign = a.name === 'MIN' ? -1 : 1;
        if (acc.best === undefined || compareValues(v, acc.best) * sign > 0) acc.best = v;
      }
    });
  }
}

function result(name: string, acc: Accumulator): unknown {
  switch (name) {
    case 'COUNT':
      return acc.count;
    case 'SUM':
      return acc.count === 0 ? null : acc.sum;
    case 'AVG':
      return acc.count === 0 ? null : acc.sum / acc.count;
    default:
      return acc.best === undefined ? null : acc.best;
  }
}

// The name an unaliased item has in JSON output: a column's last name, else _1, _2, ... by
// position (as AWS names them).
function itemName(expr: Expr, index: number): string {
  if (expr.type === 'column') {
    const last = expr.path[expr.path.length - 1];
    if (last !== undefined && 'name' in last) return last.name;
  }
  return `_${index + 1}`;
}

// s.price with FROM S3Object s is the column price: the alias is taken off every path once.
function stripAlias(query: Query): void {
  const alias = query.fromAlias;
  if (alias === undefined) return;
  const matches = (step: PathStep | undefined) =>
    step !== undefined && 'name' in step && step.name.toLowerCase() === alias.toLowerCase();
  const visit = (expr: Expr) => {
    if (expr.type === 'column' && expr.path.length > 0 && matches(expr.path[0])) expr.path.shift();
    children(expr).forEach(visit);
  };
  for (const item of query.items ?? []) visit(item.expr);
  if (query.where !== undefined) visit(query.where);
}
