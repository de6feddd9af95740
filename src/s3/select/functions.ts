// Scalar functions: strings (LOWER, UPPER, CHAR_LENGTH, SUBSTRING, TRIM), dates (UTCNOW,
// TO_TIMESTAMP, EXTRACT, DATE_ADD, DATE_DIFF) and COALESCE / NULLIF. A NULL or MISSING argument
// gives NULL; an argument of the wrong type fails the query (IncorrectSqlFunctionArgumentType).
import type { DatePart } from './ast.ts';
import { SelectError } from './errors.ts';
import { isAbsent, parseTimestamp, Timestamp, typeName, valuesEqual } from './values.ts';

function wrongType(name: string, value: unknown, wanted: string): SelectError {
  return new SelectError(
    'IncorrectSqlFunctionArgumentType',
    `${name} expects ${wanted}, got ${typeName(value)}.`,
  );
}

function stringArg(name: string, value: unknown): string {
  if (typeof value !== 'string') throw wrongType(name, value, 'a string');
  return value;
}

function numberArg(name: string, value: unknown): number {
  if (typeof value !== 'number') throw wrongType(name, value, 'a number');
  return value;
}

export function timestampArg(name: string, value: unknown): Timestamp {
  if (!(value instanceof Timestamp)) throw wrongType(name, value, 'a timestamp');
  return value;
}

// Calls whose arguments are already evaluated. nowMs: the query's start, so UTCNOW() is one
// instant for every record.
export function callScalar(name: string, args: unknown[], nowMs: number): unknown {
  switch (name) {
    case 'UTCNOW':
      return new Timestamp(nowMs, 0, 'fraction');
    case 'COALESCE':
      return args.find((a) => !isAbsent(a)) ?? null;
    case 'NULLIF':
      return !isAbsent(args[0]) && !isAbsent(args[1]) && valuesEqual(args[0], args[1])
        ? null
        : args[0];
  }
  if (args.some(isAbsent)) return null;
  switch (name) {
    case 'LOWER':
      return stringArg(name, args[0]).toLowerCase();
    case 'UPPER':
      return stringArg(name, args[0]).toUpperCase();
    case 'CHAR_LENGTH':
    case 'CHARACTER_LENGTH':
      return [...stringArg(name, args[0])].length;
    case 'SUBSTRING':
      return substring(
        stringArg(name, args[0]),
        numberArg(name, args[1]),
        args[2] === undefined ? undefined : numberArg(name, args[2]),
      );
    case 'TO_TIMESTAMP':
      return parseTimestamp(stringArg(name, args[0]));
  }
  throw new SelectError('UnsupportedFunction', `Function ${name} is not supported.`);
}

// SQL's SUBSTRING: positions count from 1, and a start before 1 still uses up the length
// (SUBSTRING('abcdef', 0, 3) is 'ab').
export function substring(text: string, start: number, length?: number): string {
  const chars = [...text];
  const from = Math.max(Math.trunc(start), 1);
  if (length === undefined) return chars.slice(from - 1).join('');
  if (length < 0) throw new SelectError('EvaluatorInvalidArguments', 'Negative SUBSTRING length.');
  const end = Math.trunc(start) + Math.trunc(length);
  return end <= from ? '' : chars.slice(from - 1, end - 1).join('');
}

export function trim(text: string, where: 'LEADING' | 'TRAILING' | 'BOTH', chars = ' '): string {
  const set = new Set([...chars]);
  const list = [...text];
  let start = 0;
  let end = list.length;
  if (where !== 'TRAILING') while (start < end && set.has(list[start])) start++;
  if (where !== 'LEADING') while (end > start && set.has(list[end - 1])) end--;
  return list.slice(start, end).join('');
}

export function extract(part: DatePart, t: Timestamp): number {
  const d = t.local();
  switch (part) {
    case 'YEAR':
      return d.getUTCFullYear();
    case 'MONTH':
      return d.getUTCMonth() + 1;
    case 'DAY':
      return d.getUTCDate();
    case 'HOUR':
      return d.getUTCHours();
    case 'MINUTE':
      return d.getUTCMinutes();
    case 'SECOND':
      return d.getUTCSeconds();
    case 'TIMEZONE_HOUR':
      return Math.trunc(t.offsetMinutes / 60);
    case 'TIMEZONE_MINUTE':
      return t.offsetMinutes % 60;
  }
}

const FIXED_MS: Partial<Record<DatePart, number>> = {
  DAY: 86_400_000,
  HOUR: 3_600_000,
  MINUTE: 60_000,
  SECOND: 1000,
};

export function dateAdd(part: DatePart, quantity: number, t: Timestamp): Timestamp {
  if (!Number.isInteger(quantity))
    throw new SelectError(
      'IncorrectSqlFunctionArgumentType',
      'DATE_ADD takes an integer quantity.',
    );
  const fixed = FIXED_MS[part];
  if (fixed !== undefined)
    return new Timestamp(t.epochMs + quantity * fixed, t.offsetMinutes, finer(t, part));
  const d = t.local();
  const months = part === 'YEAR' ? quantity * 12 : quantity;
  const target = new Date(d.getTime());
  target.setUTCDate(1);
  target.setUTCMonth(target.getUTCMonth() + months);
  // The day of month is kept, or the month's last day when it has fewer (Jan 31 + 1 month).
  const lastDay = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0));
  target.setUTCDate(Math.min(d.getUTCDate(), lastDay.getUTCDate()));
  return new Timestamp(target.getTime() - t.offsetMinutes * 60_000, t.offsetMinutes, t.precision);
}

// Adding hours to a date-only timestamp makes it one with a time.
function finer(t: Timestamp, part: DatePart): Timestamp['precision'] {
  if (part === 'DAY' || t.precision === 'minute' || t.precision === 'second') return t.precision;
  if (t.precision === 'fraction') return t.precision;
  return part === 'SECOND' ? 'second' : 'minute';
}

// Whole units from one timestamp to the other (negative when the second is earlier).
export function dateDiff(part: DatePart, from: Timestamp, to: Timestamp): number {
  const fixed = FIXED_MS[part];
  if (fixed !== undefined) return Math.trunc((to.epochMs - from.epochMs) / fixed);
  const a = from.local();
  const b = to.local();
  let months = (b.getUTCFullYear() - a.getUTCFullYear()) * 12 + b.getUTCMonth() - a.getUTCMonth();
  const restA = a.getTime() - Date.UTC(a.getUTCFullYear(), a.getUTCMonth(), 1);
  const restB = b.getTime() - Date.UTC(b.getUTCFullYear(), b.getUTCMonth(), 1);
  if (months > 0 && restB < restA) months--;
  if (months < 0 && restB > restA) months++;
  return part === 'YEAR' ? Math.trunc(months / 12) : months;
}
