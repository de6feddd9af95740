// CAST(value AS type), as AWS's S3 Select converts: strings are parsed (trimmed), numbers truncate
// toward zero into INT, NULL and MISSING stay what they are, anything that does not convert fails
// the query with CastFailed.
import type { CastType } from './ast.ts';
import { SelectError } from './errors.ts';
import { parseTimestamp, Timestamp, typeName, valueText } from './values.ts';

const NUMBER_PATTERN = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function failed(value: unknown, to: CastType): SelectError {
  const shown = typeof value === 'string' ? `'${value}'` : typeName(value);
  return new SelectError('CastFailed', `Cannot cast ${shown} to ${to}.`);
}

function toNumber(value: unknown, to: CastType): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string') {
    const text = value.trim();
    if (NUMBER_PATTERN.test(text)) return Number(text);
  }
  throw failed(value, to);
}

export function castValue(value: unknown, to: CastType): unknown {
  if (value === null || value === undefined) return value;
  switch (to) {
    case 'INT': {
      const n = Math.trunc(toNumber(value, to));
      if (!Number.isSafeInteger(n)) throw failed(value, to);
      return n;
    }
    case 'FLOAT':
    case 'DECIMAL':
      return toNumber(value, to);
    case 'STRING':
      return valueText(value);
    case 'BOOL':
      return toBool(value);
    case 'TIMESTAMP':
      if (value instanceof Timestamp) return value;
      if (typeof value === 'string') return parseTimestamp(value);
      throw failed(value, to);
  }
}

function toBool(value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase();
    if (text === 'true') return true;
    if (text === 'false') return false;
  }
  throw failed(value, 'BOOL');
}
