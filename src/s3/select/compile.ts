// Compiles an expression once per query into closures, so the per-record work of the common
// shapes (columns, literals, CAST, comparisons, arithmetic, AND/OR/NOT, IS) walks no syntax
// tree and looks up no column name: a CSV column's field index is found once per header (one
// header per run) instead of by name for every record. Every other node is evaluated by
// evaluate.ts, the reference semantics, which the compiled nodes call for their value rules
// (binaryValues, unary, castValue), so both paths give the same answers.
import type { Expr, PathStep } from './ast.ts';
import { castValue } from './cast.ts';
import { binaryValues, type EvalContext, evaluate, is, truth, unary } from './evaluate.ts';
import { type CsvHeader, CsvRecord, csvFieldIndex } from './records.ts';
import { isAbsent } from './values.ts';

export type Compiled = (ctx: EvalContext) => unknown;

export function compile(expr: Expr): Compiled {
  switch (expr.type) {
    case 'literal': {
      const value = expr.value;
      return () => value;
    }
    case 'column':
      return column(expr.path);
    case 'cast': {
      const value = compile(expr.value);
      const to = expr.to;
      return (ctx) => castValue(value(ctx), to);
    }
    case 'unary': {
      const operand = compile(expr.operand);
      const op = expr.op;
      return (ctx) => unary(op, operand(ctx));
    }
    case 'is': {
      const value = compile(expr.value);
      const { what, negated } = expr;
      return (ctx) => is(what, value(ctx)) !== negated;
    }
    case 'binary': {
      const left = compile(expr.left);
      const right = compile(expr.right);
      const op = expr.op;
      if (op === 'AND' || op === 'OR') return logical(op, left, right);
      const float = expr.float === true;
      return (ctx) => binaryValues(op, left(ctx), right(ctx), float);
    }
    default:
      return (ctx) => evaluate(expr, ctx);
  }
}

// A CSV record's field by an index looked up again only when the header changes (never, within
// one run); any other record resolves the path itself.
function column(path: PathStep[]): Compiled {
  if (path.length === 0) return (ctx) => ctx.record.resolve(path);
  let header: CsvHeader | undefined;
  let index = csvFieldIndex(path, undefined);
  return (ctx) => {
    const record = ctx.record;
    if (!(record instanceof CsvRecord)) return record.resolve(path);
    if (record.header !== header) {
      header = record.header;
      index = csvFieldIndex(path, header);
    }
    return index === undefined ? undefined : record.fields[index];
  };
}

// AND is FALSE if either side is FALSE, OR is TRUE if either side is TRUE, else NULL when either
// is NULL or MISSING (evaluate.ts, logical).
function logical(op: 'AND' | 'OR', left: Compiled, right: Compiled): Compiled {
  const decisive = op === 'OR';
  return (ctx) => {
    const l = left(ctx);
    if (!isAbsent(l) && truth(l, op) === decisive) return decisive;
    const r = right(ctx);
    if (!isAbsent(r) && truth(r, op) === decisive) return decisive;
    if (isAbsent(l) || isAbsent(r)) return null;
    return !decisive;
  };
}
