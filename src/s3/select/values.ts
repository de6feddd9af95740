// The values an S3 Select expression works on. JavaScript types stand for SQL ones: string,
// number (INT, FLOAT and DECIMAL alike), boolean, Timestamp, null (NULL) and undefined (MISSING: a
// column or path the record does not have); JSON input adds objects and arrays.
import assert from 'node:assert';
import { cannotEvaluate, SelectError } from './errors.ts';

export type Precision = 'year' | 'month' | 'day' | 'minute' | 'second' | 'fraction';

export class Timestamp {
  readonly epochMs: number;
  // The offset the timestamp was written with: EXTRACT(TIMEZONE_HOUR ...) and output keep it.
  readonly offsetMinutes: number;
  readonly precision: Precision;
  constructor(epochMs: number, offsetMinutes: number, precision: Precision) {
    assert(Number.isFinite(epochMs), 'a timestamp is a finite instant');
    this.epochMs = epochMs;
    this.offsetMinutes = offsetMinutes;
    this.precision = precision;
  }

  // The wall-clock fields at the timestamp's own offset.
  local(): Date {
    return new Date(this.epochMs + this.offsetMinutes * 60_000);
  }

  toString(): string {
    const d = this.local();
    const pad = (n: number, w = 2) => String(n).padStart(w, '0');
    const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    if (this.precision === 'year') return `${pad(d.getUTCFullYear(), 4)}T`;
    if (this.precision === 'month') return `${date.slice(0, 7)}T`;
    if (this.precision === 'day') return `${date}T`;
    let time = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    if (this.precision !== 'minute') time += `:${pad(d.getUTCSeconds())}`;
    if (this.precision === 'fraction') time += `.${pad(d.getUTCMilliseconds(), 3)}`;
    return `${date}T${time}${offsetText(this.offsetMinutes)}`;
  }
}

function offsetText(minutes: number): string {
  if (minutes === 0) return 'Z';
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

// ISO 8601 as AWS's S3 Select takes it: 2007T, 2007-04T, 2007-04-05[T], 2007-04-05T14:30Z,
// 2007-04-05T14:30:15.123+01:00 (a time needs an offset; a space may stand for the T).
const TIMESTAMP_PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:[T ](?:(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?)?$/i;

export function parseTimestamp(text: string): Timestamp {
  const m = TIMESTAMP_PATTERN.exec(text.trim());
  const fail = () => new SelectError('CastFailed', `'${text}' is not a timestamp.`);
  if (m === null) throw fail();
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  if (mo === undefined && !/T$/i.test(text.trim())) throw fail(); // "2007" alone is a number
  const fields = [Number(y), Number(mo ?? 1), Number(d ?? 1), Number(h ?? 0), Number(mi ?? 0)];
  const seconds = Number(s ?? 0);
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const [year, month, day, hour, minute] = fields;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || seconds > 59)
    throw fail();
  let offsetMinutes = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    offsetMinutes = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  }
  const wall = Date.UTC(year, month - 1, day, hour, minute, seconds, ms);
  if (new Date(wall).getUTCDate() !== day) throw fail(); // 2007-02-30
  const precision: Precision =
    h === undefined
      ? d !== undefined
        ? 'day'
        : mo !== undefined
          ? 'month'
          : 'year'
      : s === undefined
        ? 'minute'
        : frac === undefined
          ? 'second'
          : 'fraction';
  return new Timestamp(wall - offsetMinutes * 60_000, offsetMinutes, precision);
}

export const isAbsent = (v: unknown): v is null | undefined => v === null || v === undefined;

export function typeName(v: unknown): string {
  if (v === null) return 'NULL';
  if (v === undefined) return 'MISSING';
  if (v instanceof Timestamp) return 'TIMESTAMP';
  if (Array.isArray(v)) return 'LIST';
  if (typeof v === 'object') return 'STRUCT';
  if (typeof v === 'number') return Number.isInteger(v) ? 'INT' : 'FLOAT';
  return typeof v === 'boolean' ? 'BOOL' : 'STRING';
}

// The order of two present values of one type; values of different types have none, and AWS
// refuses to evaluate such a comparison (a CSV string against a number needs a CAST).
export function compareValues(a: unknown, b: unknown): number {
  assert(!isAbsent(a) && !isAbsent(b), 'NULL and MISSING are handled before comparing');
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  if (a instanceof Timestamp && b instanceof Timestamp) return Math.sign(a.epochMs - b.epochMs);
  throw cannotEvaluate(`cannot compare ${typeName(a)} with ${typeName(b)}`);
}

// Equality: values of different types are simply not equal (as AWS answers '=' on them).
export function valuesEqual(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (a instanceof Timestamp && b instanceof Timestamp) return a.epochMs === b.epochMs;
  if (typeof a === 'object' && typeof b === 'object' && a !== null && b !== null)
    return JSON.stringify(a) === JSON.stringify(b);
  return a === b;
}

// A value as CSV output and CAST(... AS STRING) write it.
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return numberText(v);
  if (typeof v === 'boolean' || v instanceof Timestamp) return String(v);
  return JSON.stringify(toJson(v));
}

function numberText(n: number): string {
  if (Number.isFinite(n)) return String(n);
  return Number.isNaN(n) ? 'nan' : n > 0 ? 'inf' : '-inf';
}

// A value as JSON output writes it (timestamps as their text).
export function toJson(v: unknown): unknown {
  if (v instanceof Timestamp) return v.toString();
  if (Array.isArray(v)) return v.map(toJson);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toJson(x);
    return out;
  }
  return v;
}
