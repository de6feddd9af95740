// Evaluates an expression on one record. Pure: the record, the query's start time and the
// aggregates' results come in; a value comes out. NULL and MISSING follow SQL's three-valued logic
// as AWS documents it: a comparison with either is NULL, AND is FALSE if either side is FALSE, OR
// is TRUE if either side is TRUE, and WHERE keeps a record only when its condition is TRUE.
import assert from 'node:assert';
import type { BinaryOp, Expr, PathStep } from './ast.ts';
import { castValue } from './cast.ts';
import { cannotEvaluate, SelectError } from './errors.ts';
import { callScalar, dateAdd, dateDiff, extract, timestampArg, trim } from './functions.ts';
import { compareValues, isAbsent, typeName, valuesEqual } from './values.ts';

// What a column path resolves against: CSV fields by position or header name, or a JSON value.
export interface RecordView {
  resolve(path: PathStep[]): unknown;
}

export interface EvalContext {
  record: RecordView;
  nowMs: number;
  aggregates?: unknown[]; // the results, when the output row of an aggregate query is built
}

export function evaluate(expr: Expr, ctx: EvalContext): unknown {
  switch (expr.type) {
    case 'literal':
      return expr.value;
    case 'column':
      return ctx.record.resolve(expr.path);
    case 'unary':
      return unary(expr.op, evaluate(expr.operand, ctx));
    case 'binary':
      return binary(expr.op, expr.left, expr.right, ctx, expr.float === true);
    case 'like':
      return like(expr, ctx);
    case 'between': {
      const v = evaluate(expr.value, ctx);
      const low = evaluate(expr.low, ctx);
      const high = evaluate(expr.high, ctx);
      if (isAbsent(v) || isAbsent(low) || isAbsent(high)) return null;
      const inside = compareValues(v, low) >= 0 && compareValues(v, high) <= 0;
      return inside !== expr.negated;
    }
    case 'in':
      return inList(expr, ctx);
    case 'is':
      return is(expr.what, evaluate(expr.value, ctx)) !== expr.negated;
    case 'cast':
      return castValue(evaluate(expr.value, ctx), expr.to);
    case 'case':
      return caseWhen(expr, ctx);
    case 'call':
      return callScalar(
        expr.name,
        expr.args.map((a) => evaluate(a, ctx)),
        ctx.nowMs,
      );
    default:
      return dateOrString(expr, ctx);
  }
}

function dateOrString(expr: Expr, ctx: EvalContext): unknown {
  switch (expr.type) {
    case 'extract': {
      const v = evaluate(expr.value, ctx);
      return isAbsent(v) ? null : extract(expr.part, timestampArg('EXTRACT', v));
    }
    case 'dateAdd': {
      const quantity = evaluate(expr.quantity, ctx);
      const v = evaluate(expr.value, ctx);
      if (isAbsent(quantity) || isAbsent(v)) return null;
      if (typeof quantity !== 'number')
        throw new SelectError('IncorrectSqlFunctionArgumentType', 'DATE_ADD takes a number.');
      return dateAdd(expr.part, quantity, timestampArg('DATE_ADD', v));
    }
    case 'dateDiff': {
      const from = evaluate(expr.from, ctx);
      const to = evaluate(expr.to, ctx);
      if (isAbsent(from) || isAbsent(to)) return null;
      return dateDiff(expr.part, timestampArg('DATE_DIFF', from), timestampArg('DATE_DIFF', to));
    }
    case 'trim': {
      const v = evaluate(expr.value, ctx);
      const chars = expr.chars === undefined ? ' ' : evaluate(expr.chars, ctx);
      if (isAbsent(v) || isAbsent(chars)) return null;
      if (typeof v !== 'string' || typeof chars !== 'string')
        throw new SelectError('IncorrectSqlFunctionArgumentType', 'TRIM takes strings.');
      return trim(v, expr.where, chars);
    }
    case 'aggregate':
      assert(ctx.aggregates !== undefined, 'aggregates are read only from the output row');
      return ctx.aggregates[expr.slot];
    default:
      assert.fail(`unhandled expression ${expr.type}`);
  }
}

export function unary(op: '-' | 'NOT', v: unknown): unknown {
  if (isAbsent(v)) return null;
  if (op === 'NOT') return !truth(v, 'NOT');
  if (typeof v !== 'number') throw cannotEvaluate(`cannot negate ${typeName(v)}`);
  return -v;
}

export function truth(v: unknown, where: string): boolean {
  if (typeof v !== 'boolean') throw cannotEvaluate(`${where} needs a boolean, got ${typeName(v)}`);
  return v;
}

function binary(
  op: BinaryOp,
  leftExpr: Expr,
  rightExpr: Expr,
  ctx: EvalContext,
  float: boolean,
): unknown {
  if (op === 'AND' || op === 'OR') return logical(op, leftExpr, rightExpr, ctx);
  return binaryValues(op, evaluate(leftExpr, ctx), evaluate(rightExpr, ctx), float);
}

// A comparison, || or arithmetic on two evaluated operands (not AND, OR: they short-circuit).
// float: an operand is a FLOAT or DECIMAL by its form (the binary node's flag).
export function binaryValues(op: BinaryOp, left: unknown, right: unknown, float = false): unknown {
  if (isAbsent(left) || isAbsent(right)) return null;
  switch (op) {
    case '=':
      return valuesEqual(left, right);
    case '<>':
      return !valuesEqual(left, right);
    case '<':
      return compareValues(left, right) < 0;
    case '>':
      return compareValues(left, right) > 0;
    case '<=':
      return compareValues(left, right) <= 0;
    case '>=':
      return compareValues(left, right) >= 0;
    case '||':
      if (typeof left !== 'string' || typeof right !== 'string')
        throw cannotEvaluate(`|| joins strings, not ${typeName(left)} and ${typeName(right)}`);
      return left + right;
    default:
      return arithmetic(op, left, right, float);
  }
}

function arithmetic(op: BinaryOp, left: unknown, right: unknown, float: boolean): number {
  if (typeof left !== 'number' || typeof right !== 'number')
    throw cannotEvaluate(`${typeName(left)} ${op} ${typeName(right)}`);
  switch (op) {
    case '+':
      return left + right;
    case '-':
      return left - right;
    case '*':
      return left * right;
    case '/':
    case '%': {
      if (right === 0) throw new SelectError('DivideByZero', 'Division by zero.');
      // INT / INT stays an INT (truncated), as in SQL; a FLOAT or DECIMAL operand divides exactly.
      if (op === '%') return left % right;
      const q = left / right;
      return !float && Number.isInteger(left) && Number.isInteger(right) ? Math.trunc(q) : q;
    }
    default:
      assert.fail(`not arithmetic: ${op}`);
  }
}

function logical(op: 'AND' | 'OR', leftExpr: Expr, rightExpr: Expr, ctx: EvalContext): unknown {
  const left = evaluate(leftExpr, ctx);
  const decisive = op === 'OR';
  if (!isAbsent(left) && truth(left, op) === decisive) return decisive;
  const right = evaluate(rightExpr, ctx);
  if (!isAbsent(right) && truth(right, op) === decisive) return decisive;
  if (isAbsent(left) || isAbsent(right)) return null;
  return !decisive;
}

export function is(what: 'NULL' | 'MISSING' | 'TRUE' | 'FALSE', v: unknown): boolean {
  switch (what) {
    case 'NULL':
      return isAbsent(v); // MISSING IS NULL too
    case 'MISSING':
      return v === undefined;
    case 'TRUE':
      return v === true;
    case 'FALSE':
      return v === false;
  }
}

function inList(expr: Extract<Expr, { type: 'in' }>, ctx: EvalContext): unknown {
  const v = evaluate(expr.value, ctx);
  if (isAbsent(v)) return null;
  let sawNull = false;
  for (const item of expr.list) {
    const candidate = evaluate(item, ctx);
    if (isAbsent(candidate)) sawNull = true;
    else if (valuesEqual(v, candidate)) return !expr.negated;
  }
  return sawNull ? null : expr.negated;
}

function caseWhen(expr: Extract<Expr, { type: 'case' }>, ctx: EvalContext): unknown {
  const subject = expr.subject === undefined ? undefined : evaluate(expr.subject, ctx);
  for (const { when, result } of expr.whens) {
    const w = evaluate(when, ctx);
    const hit =
      expr.subject === undefined
        ? w === true
        : !isAbsent(subject) && !isAbsent(w) && valuesEqual(subject, w);
    if (hit) return evaluate(result, ctx);
  }
  return expr.otherwise === undefined ? null : evaluate(expr.otherwise, ctx);
}

// LIKE patterns compile once per distinct (pattern, escape) pair; most queries have one.
const likeCache = new Map<string, RegExp>();
const LIKE_CACHE_ENTRIES_MAX = 256;

function like(expr: Extract<Expr, { type: 'like' }>, ctx: EvalContext): unknown {
  const v = evaluate(expr.value, ctx);
  const pattern = evaluate(expr.pattern, ctx);
  const escapeChar = expr.escape === undefined ? undefined : evaluate(expr.escape, ctx);
  if (isAbsent(v) || isAbsent(pattern) || escapeChar === null) return null;
  if (typeof v !== 'string' || typeof pattern !== 'string')
    throw new SelectError('LikeInvalidInputs', 'LIKE compares strings.');
  if (escapeChar !== undefined && (typeof escapeChar !== 'string' || [...escapeChar].length !== 1))
    throw new SelectError('LikeInvalidInputs', 'The LIKE escape must be one character.');
  return likeRegExp(pattern, escapeChar).test(v) !== expr.negated;
}

export function likeRegExp(pattern: string, escapeChar: string | undefined): RegExp {
  const cacheKey = `${escapeChar ?? ''}\u0000${pattern}`;
  const cached = likeCache.get(cacheKey);
  if (cached !== undefined) return cached;
  let source = '';
  const chars = [...pattern];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === escapeChar) {
      const next = chars[++i];
      if (next === undefined)
        throw new SelectError('LikeInvalidInputs', 'A LIKE pattern cannot end with its escape.');
      source += next.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
    } else if (c === '%') source += '.*';
    else if (c === '_') source += '.';
    else source += c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  }
  const re = new RegExp(`^${source}$`, 'su');
  if (likeCache.size >= LIKE_CACHE_ENTRIES_MAX) likeCache.clear();
  likeCache.set(cacheKey, re);
  return re;
}

// The WHERE test: only TRUE keeps the record.
export function isTrue(v: unknown): boolean {
  if (isAbsent(v)) return false;
  return truth(v, 'WHERE');
}
