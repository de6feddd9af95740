// Runs a parsed query over records, one at a time: WHERE, then either the SELECT list (one output
// row per kept record, up to LIMIT) or the aggregates' accumulators (one row at the end). Pure:
// records in, output text out; the reading and the sending are the handler's.
import assert from 'node:assert';
import type { Expr, PathStep, Query } from './ast.ts';
import { SelectError } from './errors.ts';
import { evaluate, isTrue } from './evaluate.ts';
import type { OutputRow, RowWriter } from './output.ts';
import { children } from './parser.ts';
import { CsvRecord, type InputRecord } from './records.ts';
import { compareValues, isAbsent, typeName } from './values.ts';

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
  private rowsOut = 0;

  constructor(query: Query, writer: RowWriter, nowMs: number) {
    this.query = query;
    this.writer = writer;
    this.nowMs = nowMs;
    stripAlias(query);
    this.names = (query.items ?? []).map((item, i) => item.alias ?? itemName(item.expr, i));
    this.accumulators = query.aggregates.map(() => ({ count: 0, sum: 0, best: undefined }));
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
    const ctx = { record, nowMs: this.nowMs };
    if (this.query.where !== undefined && !isTrue(evaluate(this.query.where, ctx))) return '';
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
    const empty = new CsvRecord([], undefined);
    return this.writer.write(this.row(empty, results));
  }

  private row(record: InputRecord, aggregates: unknown[] | undefined): OutputRow {
    const items = this.query.items;
    if (items === undefined) {
      if (record instanceof CsvRecord) return { names: record.names(), values: record.fields };
      return { whole: record.value };
    }
    const ctx = { record, nowMs: this.nowMs, aggregates };
    return { names: this.names, values: items.map((item) => evaluate(item.expr, ctx)) };
  }

  private accumulate(ctx: { record: InputRecord; nowMs: number }): void {
    this.query.aggregates.forEach((a, i) => {
      const acc = this.accumulators[i];
      if (a.arg === 'star') {
        acc.count++;
        return;
      }
      const v = evaluate(a.arg, ctx);
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
