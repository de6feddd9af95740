// A recursive-descent parser for the S3 Select SQL subset (docs/guides/s3-select.md lists it):
// SELECT list FROM S3Object [alias] [WHERE condition] [LIMIT n]. Precedence, lowest first: OR,
// AND, NOT, comparisons and predicates (LIKE, BETWEEN, IN, IS), + - ||, * / %, unary minus.
import assert from 'node:assert';
import type {
  AggregateName,
  BinaryOp,
  CastType,
  DatePart,
  Expr,
  PathStep,
  Query,
  SelectItem,
} from './ast.ts';
import { notImplemented, SelectError } from './errors.ts';
import { type Token, tokenize } from './lexer.ts';
import { parseTimestamp } from './values.ts';

const CAST_TYPES: Record<string, CastType> = {
  INT: 'INT',
  INTEGER: 'INT',
  FLOAT: 'FLOAT',
  DECIMAL: 'DECIMAL',
  NUMERIC: 'DECIMAL',
  STRING: 'STRING',
  VARCHAR: 'STRING',
  BOOL: 'BOOL',
  BOOLEAN: 'BOOL',
  TIMESTAMP: 'TIMESTAMP',
};
const DATE_PARTS = new Set<string>([
  'YEAR',
  'MONTH',
  'DAY',
  'HOUR',
  'MINUTE',
  'SECOND',
  'TIMEZONE_HOUR',
  'TIMEZONE_MINUTE',
]);
const AGGREGATES = new Set<string>(['COUNT', 'SUM', 'AVG', 'MIN', 'MAX']);
// Scalar functions evaluated by functions.ts, with their accepted argument counts.
export const SCALAR_ARITY: Record<string, [number, number]> = {
  LOWER: [1, 1],
  UPPER: [1, 1],
  CHAR_LENGTH: [1, 1],
  CHARACTER_LENGTH: [1, 1],
  SUBSTRING: [2, 3],
  UTCNOW: [0, 0],
  TO_TIMESTAMP: [1, 1],
  COALESCE: [1, 64],
  NULLIF: [2, 2],
};
// AWS functions Strata does not evaluate: refused as such, not as unknown names.
const UNSUPPORTED_FUNCTIONS = new Set(['TO_STRING', 'BIT_LENGTH', 'OCTET_LENGTH']);
// Words that end an expression or a clause, so never taken as an alias.
const CLAUSE_WORDS = new Set([
  'FROM',
  'WHERE',
  'LIMIT',
  'AS',
  'AND',
  'OR',
  'NOT',
  'ORDER',
  'GROUP',
]);
const COMPARISONS = new Set(['=', '<>', '<', '>', '<=', '>=']);

export function parseQuery(source: string): Query {
  return new Parser(tokenize(source)).statement();
}

class Parser {
  private readonly tokens: Token[];
  private position = 0;
  private readonly aggregates: Query['aggregates'] = [];
  private insideAggregate = false;

  constructor(tokens: Token[]) {
    assert(tokens.length > 0 && tokens[tokens.length - 1].kind === 'end');
    this.tokens = tokens;
  }

  statement(): Query {
    this.expectKeyword('SELECT');
    const items = this.selectList();
    this.expectKeyword('FROM');
    const fromAlias = this.fromClause();
    let where: Expr | undefined;
    if (this.acceptKeyword('WHERE')) {
      const before = this.aggregates.length;
      where = this.expression();
      if (this.aggregates.length !== before)
        throw new SelectError(
          'UnsupportedSqlStructure',
          'Aggregate functions are not allowed in WHERE.',
        );
    }
    let limit: number | undefined;
    if (this.acceptKeyword('LIMIT')) limit = this.limitValue();
    this.acceptOp(';');
    const last = this.peek();
    if (last.kind !== 'end') this.unexpected(last);
    if (this.aggregates.length > 0 && items !== undefined) checkAggregateItems(items);
    if (this.aggregates.length > 0 && items === undefined)
      throw new SelectError('UnsupportedSqlStructure', 'SELECT * cannot be aggregated.');
    return { items, fromAlias, where, limit, aggregates: this.aggregates };
  }

  private selectList(): SelectItem[] | undefined {
    if (this.acceptOp('*')) return undefined;
    const items: SelectItem[] = [];
    do {
      const t = this.peek();
      const next = this.tokens[this.position + 1];
      const afterNext = this.tokens[this.position + 2];
      // alias.* is the whole record, like *.
      if (t.kind === 'ident' && isOp(next, '.') && isOp(afterNext, '*') && items.length === 0) {
        this.position += 3;
        if (isOp(this.peek(), ',')) this.unexpected(this.peek());
        return undefined;
      }
      const expr = this.expression();
      let alias: string | undefined;
      if (this.acceptKeyword('AS')) alias = this.identifier().text;
      else {
        const a = this.peek();
        if (a.kind === 'ident' && (a.quoted || !CLAUSE_WORDS.has(a.upper))) {
          alias = a.text;
          this.position++;
        }
      }
      items.push({ expr, alias });
    } while (this.acceptOp(','));
    return items;
  }

  private fromClause(): string | undefined {
    const source = this.identifier();
    if (source.upper !== 'S3OBJECT') this.unexpected(source, 'S3Object');
    if (isOp(this.peek(), '[') || isOp(this.peek(), '.'))
      throw notImplemented('A path in FROM (S3Object[*].path)');
    if (this.acceptKeyword('AS')) return this.identifier().text;
    const t = this.peek();
    if (t.kind === 'ident' && (t.quoted || !CLAUSE_WORDS.has(t.upper))) {
      this.position++;
      return t.text;
    }
    return undefined;
  }

  private limitValue(): number {
    const negative = this.acceptOp('-');
    const t = this.next();
    if (t.kind !== 'number' || !/^\d+$/.test(t.text)) this.unexpected(t, 'an integer');
    if (negative) throw new SelectError('EvaluatorNegativeLimit', 'LIMIT must not be negative.');
    return Number(t.text);
  }

  expression(): Expr {
    let left = this.conjunction();
    while (this.acceptKeyword('OR')) left = binary('OR', left, this.conjunction());
    return left;
  }

  private conjunction(): Expr {
    let left = this.negation();
    while (this.acceptKeyword('AND')) left = binary('AND', left, this.negation());
    return left;
  }

  private negation(): Expr {
    if (this.acceptKeyword('NOT')) return { type: 'unary', op: 'NOT', operand: this.negation() };
    return this.predicate();
  }

  private predicate(): Expr {
    const value = this.additive();
    const t = this.peek();
    if (t.kind === 'op' && COMPARISONS.has(t.text)) {
      this.position++;
      return binary(t.text as BinaryOp, value, this.additive());
    }
    if (this.acceptKeyword('IS')) {
      const negated = this.acceptKeyword('NOT');
      const what = this.identifier().upper;
      if (what !== 'NULL' && what !== 'MISSING' && what !== 'TRUE' && what !== 'FALSE')
        this.unexpected(this.tokens[this.position - 1], 'NULL, MISSING, TRUE or FALSE');
      return { type: 'is', value, what, negated };
    }
    const negated = this.acceptKeyword('NOT');
    if (this.acceptKeyword('LIKE')) {
      const pattern = this.additive();
      const escapeChar = this.acceptKeyword('ESCAPE') ? this.additive() : undefined;
      return { type: 'like', value, pattern, escape: escapeChar, negated };
    }
    if (this.acceptKeyword('BETWEEN')) {
      const low = this.additive();
      this.expectKeyword('AND');
      return { type: 'between', value, low, high: this.additive(), negated };
    }
    if (this.acceptKeyword('IN')) {
      this.expectOp('(');
      const list = this.expressionList();
      this.expectOp(')');
      return { type: 'in', value, list, negated };
    }
    if (negated) this.unexpected(this.peek(), 'LIKE, BETWEEN or IN');
    return value;
  }

  private additive(): Expr {
    let left = this.multiplicative();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !['+', '-', '||'].includes(t.text)) return left;
      this.position++;
      left = binary(t.text as BinaryOp, left, this.multiplicative());
    }
  }

  private multiplicative(): Expr {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (t.kind !== 'op' || !['*', '/', '%'].includes(t.text)) return left;
      this.position++;
      left = binary(t.text as BinaryOp, left, this.unary());
    }
  }

  private unary(): Expr {
    if (this.acceptOp('-')) return { type: 'unary', op: '-', operand: this.unary() };
    if (this.acceptOp('+')) return this.unary();
    return this.primary();
  }

  private primary(): Expr {
    const t = this.next();
    switch (t.kind) {
      case 'number':
        return /[.eE]/.test(t.text)
          ? { type: 'literal', value: Number(t.text), float: true }
          : { type: 'literal', value: Number(t.text) };
      case 'string':
        return { type: 'literal', value: t.text };
      case 'timestamp':
        return { type: 'literal', value: parseTimestamp(t.text) };
      case 'op':
        if (t.text !== '(') this.unexpected(t, 'an expression');
        return this.parenthesised();
      case 'ident':
        return this.identifierExpression(t);
      case 'end':
        throw new SelectError('ParseExpectedExpression', 'Expected an expression at the end.');
    }
  }

  private parenthesised(): Expr {
    const inner = this.expression();
    this.expectOp(')');
    return inner;
  }

  private identifierExpression(t: Extract<Token, { kind: 'ident' }>): Expr {
    if (!t.quoted && CLAUSE_WORDS.has(t.upper)) this.unexpected(t, 'an expression');
    if (!t.quoted) {
      if (t.upper === 'NULL') return { type: 'literal', value: null };
      if (t.upper === 'MISSING') return { type: 'literal', value: undefined };
      if (t.upper === 'TRUE') return { type: 'literal', value: true };
      if (t.upper === 'FALSE') return { type: 'literal', value: false };
      if (t.upper === 'CASE') return this.caseExpression();
      if (isOp(this.peek(), '(')) {
        this.position++;
        return this.call(t.upper);
      }
    }
    return this.columnPath(t);
  }

  private columnPath(first: Extract<Token, { kind: 'ident' }>): Expr {
    const path: PathStep[] = [{ name: first.text, quoted: first.quoted }];
    for (;;) {
      if (this.acceptOp('.')) {
        const step = this.identifier();
        path.push({ name: step.text, quoted: step.quoted });
      } else if (this.acceptOp('[')) {
        const index = this.next();
        if (index.kind === 'string') path.push({ name: index.text, quoted: true });
        else if (index.kind === 'number' && /^\d+$/.test(index.text))
          path.push({ index: Number(index.text) });
        else this.unexpected(index, 'an index');
        this.expectOp(']');
      } else {
        return { type: 'column', path };
      }
    }
  }

  private caseExpression(): Expr {
    const subject = this.peekKeyword('WHEN') ? undefined : this.expression();
    const whens: { when: Expr; result: Expr }[] = [];
    while (this.acceptKeyword('WHEN')) {
      const when = this.expression();
      this.expectKeyword('THEN');
      whens.push({ when, result: this.expression() });
    }
    if (whens.length === 0) this.unexpected(this.peek(), 'WHEN');
    const otherwise = this.acceptKeyword('ELSE') ? this.expression() : undefined;
    this.expectKeyword('END');
    return { type: 'case', subject, whens, otherwise };
  }

  private call(name: string): Expr {
    if (AGGREGATES.has(name)) return this.aggregate(name as AggregateName);
    if (name === 'CAST') {
      const value = this.expression();
      this.expectKeyword('AS');
      const type = this.identifier();
      const to = CAST_TYPES[type.upper];
      if (to === undefined || type.quoted)
        throw new SelectError('ParseInvalidTypeParam', `Unknown type ${type.text} in CAST.`);
      this.expectOp(')');
      return { type: 'cast', value, to };
    }
    if (name === 'EXTRACT') {
      const part = this.datePart();
      this.expectKeyword('FROM');
      const value = this.expression();
      this.expectOp(')');
      return { type: 'extract', part, value };
    }
    if (name === 'DATE_ADD' || name === 'DATE_DIFF') return this.dateArithmetic(name);
    if (name === 'TRIM') return this.trim();
    if (name === 'SUBSTRING') return this.substring();
    if (UNSUPPORTED_FUNCTIONS.has(name)) throw notImplemented(`The function ${name}`);
    const arity = SCALAR_ARITY[name];
    if (arity === undefined)
      throw new SelectError('UnsupportedFunction', `Function ${name} is not supported.`);
    const args = isOp(this.peek(), ')') ? [] : this.expressionList();
    this.expectOp(')');
    if (args.length < arity[0] || args.length > arity[1])
      throw new SelectError(
        'IncorrectSqlFunctionArgumentType',
        `${name} takes ${arity[0]} to ${arity[1]} arguments, not ${args.length}.`,
      );
    return { type: 'call', name, args };
  }

  private aggregate(name: AggregateName): Expr {
    if (this.insideAggregate)
      throw new SelectError('UnsupportedSqlStructure', 'Aggregate functions cannot be nested.');
    let arg: Expr | 'star';
    if (name === 'COUNT' && this.acceptOp('*')) arg = 'star';
    else {
      this.insideAggregate = true;
      arg = this.expression();
      this.insideAggregate = false;
    }
    this.expectOp(')');
    const node = { type: 'aggregate' as const, name, arg, slot: this.aggregates.length };
    this.aggregates.push(node);
    return node;
  }

  private dateArithmetic(name: 'DATE_ADD' | 'DATE_DIFF'): Expr {
    const part = this.datePart();
    if (part === 'TIMEZONE_HOUR' || part === 'TIMEZONE_MINUTE')
      throw new SelectError('ParseInvalidTypeParam', `${name} takes no ${part}.`);
    this.expectOp(',');
    const first = this.expression();
    this.expectOp(',');
    const second = this.expression();
    this.expectOp(')');
    if (name === 'DATE_ADD') return { type: 'dateAdd', part, quantity: first, value: second };
    return { type: 'dateDiff', part, from: first, to: second };
  }

  // TRIM([[LEADING|TRAILING|BOTH] [chars] FROM] string)
  private trim(): Expr {
    let where: 'LEADING' | 'TRAILING' | 'BOTH' = 'BOTH';
    let explicitWhere = false;
    for (const w of ['LEADING', 'TRAILING', 'BOTH'] as const) {
      if (this.acceptKeyword(w)) {
        where = w;
        explicitWhere = true;
      }
    }
    if (explicitWhere && this.acceptKeyword('FROM')) {
      const value = this.expression();
      this.expectOp(')');
      return { type: 'trim', where, value };
    }
    const first = this.expression();
    if (this.acceptKeyword('FROM')) {
      const value = this.expression();
      this.expectOp(')');
      return { type: 'trim', where, chars: first, value };
    }
    this.expectOp(')');
    return { type: 'trim', where, value: first };
  }

  // SUBSTRING(string FROM start [FOR length]) or SUBSTRING(string, start[, length])
  private substring(): Expr {
    const value = this.expression();
    const args = [value];
    if (this.acceptKeyword('FROM')) {
      args.push(this.expression());
      if (this.acceptKeyword('FOR')) args.push(this.expression());
    } else {
      this.expectOp(',');
      args.push(this.expression());
      if (this.acceptOp(',')) args.push(this.expression());
    }
    this.expectOp(')');
    return { type: 'call', name: 'SUBSTRING', args };
  }

  private datePart(): DatePart {
    const t = this.identifier();
    if (!DATE_PARTS.has(t.upper)) this.unexpected(t, 'a date part (YEAR, MONTH, ...)');
    return t.upper as DatePart;
  }

  private expressionList(): Expr[] {
    const list = [this.expression()];
    while (this.acceptOp(',')) list.push(this.expression());
    return list;
  }

  private peek(): Token {
    return this.tokens[this.position];
  }

  private next(): Token {
    const t = this.tokens[this.position];
    if (t.kind !== 'end') this.position++;
    return t;
  }

  private identifier(): Extract<Token, { kind: 'ident' }> {
    const t = this.next();
    if (t.kind !== 'ident') this.unexpected(t, 'a name');
    return t;
  }

  private peekKeyword(word: string): boolean {
    const t = this.peek();
    return t.kind === 'ident' && !t.quoted && t.upper === word;
  }

  private acceptKeyword(word: string): boolean {
    if (!this.peekKeyword(word)) return false;
    this.position++;
    return true;
  }

  private expectKeyword(word: string): void {
    if (!this.acceptKeyword(word)) {
      const t = this.peek();
      throw new SelectError(
        'ParseExpectedKeyword',
        `Expected ${word} at position ${t.at}, found ${describe(t)}.`,
      );
    }
  }

  private acceptOp(op: string): boolean {
    if (!isOp(this.peek(), op)) return false;
    this.position++;
    return true;
  }

  private expectOp(op: string): void {
    if (!this.acceptOp(op)) this.unexpected(this.peek(), `'${op}'`);
  }

  private unexpected(t: Token, expected?: string): never {
    const wanted = expected === undefined ? '' : `, expected ${expected}`;
    throw new SelectError(
      'ParseUnexpectedToken',
      `Unexpected ${describe(t)} at position ${t.at}${wanted}.`,
    );
  }
}

function describe(t: Token): string {
  return t.kind === 'end' ? 'end of expression' : `token '${t.text}'`;
}

function isOp(t: Token | undefined, op: string): boolean {
  return t !== undefined && t.kind === 'op' && t.text === op;
}

const ARITHMETIC: ReadonlySet<BinaryOp> = new Set(['+', '-', '*', '/', '%']);

function binary(op: BinaryOp, left: Expr, right: Expr): Expr {
  if (ARITHMETIC.has(op) && (isFloat(left) || isFloat(right)))
    return { type: 'binary', op, left, right, float: true };
  return { type: 'binary', op, left, right };
}

// Whether an expression is a FLOAT or DECIMAL by its form: S3 Select's values are typed, ours are
// JavaScript numbers, so 7.0 and 7 would otherwise both divide as INTs (7.0 / 2 is 3.5, 7 / 2 is
// 3). A column's value has no static type: an integral one divides as an INT.
function isFloat(expr: Expr): boolean {
  switch (expr.type) {
    case 'literal':
      return expr.float === true;
    case 'cast':
      return expr.to === 'FLOAT' || expr.to === 'DECIMAL';
    case 'unary':
      return expr.op === '-' && isFloat(expr.operand);
    case 'binary':
      return expr.float === true;
    case 'aggregate':
      return (
        expr.name === 'AVG' || (expr.arg !== 'star' && expr.name !== 'COUNT' && isFloat(expr.arg))
      );
    case 'case':
      return (
        expr.whens.some((w) => isFloat(w.result)) ||
        (expr.otherwise !== undefined && isFloat(expr.otherwise))
      );
    default:
      return false;
  }
}

// With aggregates, every item must be one value for all records: a column outside an aggregate
// would have none (there is no GROUP BY).
function checkAggregateItems(items: SelectItem[]): void {
  for (const item of items) {
    if (columnOutsideAggregate(item.expr))
      throw new SelectError(
        'UnsupportedSqlStructure',
        'A column outside an aggregate function cannot be selected with aggregates.',
      );
  }
}

function columnOutsideAggregate(expr: Expr): boolean {
  if (expr.type === 'column') return true;
  if (expr.type === 'aggregate') return false;
  return children(expr).some(columnOutsideAggregate);
}

export function children(expr: Expr): Expr[] {
  switch (expr.type) {
    case 'literal':
    case 'column':
      return [];
    case 'unary':
      return [expr.operand];
    case 'binary':
      return [expr.left, expr.right];
    case 'like':
      return [expr.value, expr.pattern, ...(expr.escape ? [expr.escape] : [])];
    case 'between':
      return [expr.value, expr.low, expr.high];
    case 'in':
      return [expr.value, ...expr.list];
    case 'is':
    case 'cast':
    case 'extract':
      return [expr.value];
    case 'case':
      return [
        ...(expr.subject ? [expr.subject] : []),
        ...expr.whens.flatMap((w) => [w.when, w.result]),
        ...(expr.otherwise ? [expr.otherwise] : []),
      ];
    case 'call':
      return expr.args;
    case 'dateAdd':
      return [expr.quantity, expr.value];
    case 'dateDiff':
      return [expr.from, expr.to];
    case 'trim':
      return [expr.value, ...(expr.chars ? [expr.chars] : [])];
    case 'aggregate':
      return expr.arg === 'star' ? [] : [expr.arg];
  }
}
