// The syntax tree of an S3 Select statement, as the parser builds it and the evaluator reads it.
export type CastType = 'INT' | 'FLOAT' | 'DECIMAL' | 'STRING' | 'BOOL' | 'TIMESTAMP';
export type DatePart =
  | 'YEAR'
  | 'MONTH'
  | 'DAY'
  | 'HOUR'
  | 'MINUTE'
  | 'SECOND'
  | 'TIMEZONE_HOUR'
  | 'TIMEZONE_MINUTE';
export type AggregateName = 'COUNT' | 'SUM' | 'AVG' | 'MIN' | 'MAX';
export type BinaryOp =
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '||'
  | '='
  | '<>'
  | '<'
  | '>'
  | '<='
  | '>='
  | 'AND'
  | 'OR';

// One step of a column path: a name (case-sensitive only when it was double-quoted) or an index.
export type PathStep = { name: string; quoted: boolean } | { index: number };

export type Expr =
  // float: a numeric literal written with a point or an exponent (7.0, 1e3), a FLOAT or DECIMAL
  // for the division rule below, though it is held as a JavaScript number like an INT.
  | { type: 'literal'; value: unknown; float?: boolean }
  | { type: 'column'; path: PathStep[] }
  | { type: 'unary'; op: '-' | 'NOT'; operand: Expr }
  // float (arithmetic only): an operand is a FLOAT or DECIMAL by its form (parser.ts, isFloat),
  // so / divides exactly; INT / INT truncates, as in SQL.
  | { type: 'binary'; op: BinaryOp; left: Expr; right: Expr; float?: boolean }
  | { type: 'like'; value: Expr; pattern: Expr; escape?: Expr; negated: boolean }
  | { type: 'between'; value: Expr; low: Expr; high: Expr; negated: boolean }
  | { type: 'in'; value: Expr; list: Expr[]; negated: boolean }
  | { type: 'is'; value: Expr; what: 'NULL' | 'MISSING' | 'TRUE' | 'FALSE'; negated: boolean }
  | { type: 'cast'; value: Expr; to: CastType }
  | { type: 'case'; subject?: Expr; whens: { when: Expr; result: Expr }[]; otherwise?: Expr }
  | { type: 'call'; name: string; args: Expr[] }
  | { type: 'extract'; part: DatePart; value: Expr }
  | { type: 'dateAdd'; part: DatePart; quantity: Expr; value: Expr }
  | { type: 'dateDiff'; part: DatePart; from: Expr; to: Expr }
  | { type: 'trim'; where: 'LEADING' | 'TRAILING' | 'BOTH'; chars?: Expr; value: Expr }
  // slot: the aggregate's index in the query's accumulator list (set by the parser).
  | { type: 'aggregate'; name: AggregateName; arg: Expr | 'star'; slot: number };

export interface SelectItem {
  expr: Expr;
  alias?: string;
}

export interface Query {
  // undefined for SELECT *: the record as it is.
  items: SelectItem[] | undefined;
  fromAlias: string | undefined;
  where: Expr | undefined;
  limit: number | undefined;
  aggregates: Extract<Expr, { type: 'aggregate' }>[];
}
