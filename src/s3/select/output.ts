// Writes result rows as CSV or JSON, per the request's OutputSerialization.
import assert from 'node:assert';
import { toJson, valueText } from './values.ts';

// A result row: named values (a SELECT list, or the fields of a CSV record), or a JSON record as
// it is (SELECT * on JSON input).
export type OutputRow = { names: string[]; values: unknown[] } | { whole: unknown };

export interface CsvOutputOptions {
  fieldDelimiter: string;
  recordDelimiter: string;
  quoteCharacter: string;
  quoteEscapeCharacter: string;
  quoteFields: 'ALWAYS' | 'ASNEEDED';
}

export interface RowWriter {
  write(row: OutputRow): string;
}

const regExpSource = (text: string) => text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');

export class CsvRowWriter implements RowWriter {
  private readonly options: CsvOutputOptions;
  // ASNEEDED: a field holding any of these is quoted. One test per field, not one per character.
  private readonly special: RegExp;
  constructor(options: CsvOutputOptions) {
    assert(options.fieldDelimiter.length > 0 && options.recordDelimiter.length > 0);
    this.options = options;
    const specials = [options.fieldDelimiter, options.recordDelimiter, '\n', '\r'];
    if (options.quoteCharacter !== '') specials.push(options.quoteCharacter);
    this.special = new RegExp(specials.map(regExpSource).join('|'));
  }
  write(row: OutputRow): string {
    const values = 'whole' in row ? wholeValues(row.whole) : row.values;
    const o = this.options;
    let line = '';
    for (let i = 0; i < values.length; i++) {
      if (i > 0) line += o.fieldDelimiter;
      line += this.field(valueText(values[i]));
    }
    return line + o.recordDelimiter;
  }
  private field(text: string): string {
    const o = this.options;
    const needed = o.quoteFields === 'ALWAYS' || this.special.test(text);
    if (!needed || o.quoteCharacter === '') return text;
    const q = o.quoteCharacter;
    return q + text.replaceAll(q, o.quoteEscapeCharacter + q) + q;
  }
}

function wholeValues(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (value !== null && typeof value === 'object') return Object.values(value);
  return [value];
}

export class JsonRowWriter implements RowWriter {
  private readonly recordDelimiter: string;
  constructor(recordDelimiter: string) {
    assert(recordDelimiter.length > 0);
    this.recordDelimiter = recordDelimiter;
  }
  write(row: OutputRow): string {
    if ('whole' in row) {
      const w = row.whole;
      const object = w !== null && typeof w === 'object' && !Array.isArray(w) ? w : { _1: w };
      return JSON.stringify(toJson(object)) + this.recordDelimiter;
    }
    const out: Record<string, unknown> = {};
    for (let i = 0; i < row.names.length; i++) {
      // MISSING leaves the member out; NULL writes null.
      if (row.values[i] !== undefined) out[row.names[i]] = toJson(row.values[i]);
    }
    return JSON.stringify(out) + this.recordDelimiter;
  }
}
