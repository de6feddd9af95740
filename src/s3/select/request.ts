// The SelectObjectContentRequest body, checked and turned into typed options. Every element the
// API defines is either honoured or refused: Parquet input with 501, a
// value outside the API's set with AWS's 400 code for it.
import { parseXml } from '../xml.ts';
import { notImplemented, SelectError } from './errors.ts';
import type { CsvOutputOptions } from './output.ts';

export interface CsvInputOptions {
  fileHeaderInfo: 'USE' | 'IGNORE' | 'NONE';
  fieldDelimiter: string;
  recordDelimiter: string;
  quoteCharacter: string;
  quoteEscapeCharacter: string;
  comments: string;
  allowQuotedRecordDelimiter: boolean;
}

export type InputFormat =
  | { kind: 'CSV'; csv: CsvInputOptions }
  | { kind: 'JSON'; type: 'DOCUMENT' | 'LINES' };
export type OutputFormat =
  | { kind: 'CSV'; csv: CsvOutputOptions }
  | { kind: 'JSON'; recordDelimiter: string };

export interface SelectRequest {
  expression: string;
  input: InputFormat;
  compression: 'NONE' | 'GZIP' | 'BZIP2';
  output: OutputFormat;
  progress: boolean;
  // Start and End as sent (End inclusive); resolved against the object's size later.
  scanRange: { start?: number; end?: number } | undefined;
}

type Element = Record<string, unknown>;

function element(parent: Element, name: string): Element | undefined {
  const v = parent[name];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return {}; // <CSV/> or <CSV></CSV>: every option at its default
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalid(`${name} must appear once.`);
  return v as Element;
}

function text(parent: Element | undefined, name: string): string | undefined {
  const v = parent?.[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(`${name} must be a single value.`);
  return v;
}

function invalid(message: string): SelectError {
  return new SelectError('InvalidRequestParameter', message);
}

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
  code: ConstructorParameters<typeof SelectError>[0],
  what: string,
): T {
  if (value === undefined) return fallback;
  const upper = value.toUpperCase() as T;
  if (!allowed.includes(upper))
    throw new SelectError(code, `${what} '${value}' is not one of ${allowed.join(', ')}.`);
  return upper;
}

function delimiter(value: string | undefined, fallback: string, what: string, charsMax: number) {
  if (value === undefined) return fallback;
  if (value.length === 0 || [...value].length > charsMax)
    throw invalid(`${what} must be 1 to ${charsMax} characters, not '${value}'.`);
  return value;
}

function flag(value: string | undefined, what: string): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (v !== 'true' && v !== 'false') throw invalid(`${what} must be true or false.`);
  return v === 'true';
}

export function parseSelectRequest(body: Buffer): SelectRequest {
  const root = parseXml(body.toString('utf8')).SelectObjectContentRequest as Element | undefined;
  if (root === undefined || typeof root !== 'object')
    throw new SelectError(
      'MissingRequiredParameter',
      'The body must be a SelectObjectContentRequest.',
    );
  const expression = text(root, 'Expression');
  if (expression === undefined || expression.trim() === '')
    throw new SelectError('MissingRequiredParameter', 'Expression is required.');
  const type = text(root, 'ExpressionType');
  if (type === undefined || type.toUpperCase() !== 'SQL')
    throw new SelectError(
      'InvalidExpressionType',
      'The ExpressionType is invalid. Only SQL expressions are supported.',
    );
  const inputXml = element(root, 'InputSerialization');
  const outputXml = element(root, 'OutputSerialization');
  if (inputXml === undefined)
    throw new SelectError('MissingRequiredParameter', 'InputSerialization is required.');
  if (outputXml === undefined)
    throw new SelectError('MissingRequiredParameter', 'OutputSerialization is required.');
  const compression = oneOf(
    text(inputXml, 'CompressionType'),
    ['NONE', 'GZIP', 'BZIP2'] as const,
    'NONE',
    'InvalidCompressionFormat',
    'CompressionType',
  );
  const progress = flag(
    text(element(root, 'RequestProgress'), 'Enabled'),
    'RequestProgress Enabled',
  );
  return {
    expression,
    input: inputFormat(inputXml),
    compression,
    output: outputFormat(outputXml),
    progress,
    scanRange: scanRange(element(root, 'ScanRange')),
  };
}

function inputFormat(xml: Element): InputFormat {
  const formats = ['CSV', 'JSON', 'Parquet'].filter((f) => xml[f] !== undefined);
  if (formats.length !== 1)
    throw invalid('InputSerialization must name exactly one of CSV, JSON or Parquet.');
  if (formats[0] === 'Parquet') throw notImplemented('Parquet input');
  if (formats[0] === 'JSON') {
    const json = element(xml, 'JSON');
    const type = text(json, 'Type');
    if (type === undefined)
      throw new SelectError('InvalidJsonType', 'JSON Type is required: DOCUMENT or LINES.');
    return {
      kind: 'JSON',
      type: oneOf(type, ['DOCUMENT', 'LINES'] as const, 'DOCUMENT', 'InvalidJsonType', 'JSON Type'),
    };
  }
  const csv = element(xml, 'CSV');
  const quote = text(csv, 'QuoteCharacter');
  return {
    kind: 'CSV',
    csv: {
      fileHeaderInfo: oneOf(
        text(csv, 'FileHeaderInfo'),
        ['USE', 'IGNORE', 'NONE'] as const,
        'NONE',
        'InvalidFileHeaderInfo',
        'FileHeaderInfo',
      ),
      fieldDelimiter: delimiter(text(csv, 'FieldDelimiter'), ',', 'FieldDelimiter', 1),
      recordDelimiter: delimiter(text(csv, 'RecordDelimiter'), '\n', 'RecordDelimiter', 2),
      // An empty QuoteCharacter turns quoting off.
      quoteCharacter: quote === '' ? '' : delimiter(quote, '"', 'QuoteCharacter', 1),
      quoteEscapeCharacter: delimiter(
        text(csv, 'QuoteEscapeCharacter'),
        '"',
        'QuoteEscapeCharacter',
        1,
      ),
      // Absent or empty: no comment lines.
      comments: delimiter(text(csv, 'Comments') || undefined, '', 'Comments', 1),
      allowQuotedRecordDelimiter: flag(
        text(csv, 'AllowQuotedRecordDelimiter'),
        'AllowQuotedRecordDelimiter',
      ),
    },
  };
}

function outputFormat(xml: Element): OutputFormat {
  const formats = ['CSV', 'JSON'].filter((f) => xml[f] !== undefined);
  if (formats.length !== 1)
    throw invalid('OutputSerialization must name exactly one of CSV or JSON.');
  if (formats[0] === 'JSON') {
    const json = element(xml, 'JSON');
    return {
      kind: 'JSON',
      recordDelimiter: delimiter(text(json, 'RecordDelimiter'), '\n', 'RecordDelimiter', 2),
    };
  }
  const csv = element(xml, 'CSV');
  const quote = text(csv, 'QuoteCharacter');
  return {
    kind: 'CSV',
    csv: {
      quoteFields: oneOf(
        text(csv, 'QuoteFields'),
        ['ALWAYS', 'ASNEEDED'] as const,
        'ASNEEDED',
        'InvalidQuoteFields',
        'QuoteFields',
      ),
      fieldDelimiter: delimiter(text(csv, 'FieldDelimiter'), ',', 'FieldDelimiter', 1),
      recordDelimiter: delimiter(text(csv, 'RecordDelimiter'), '\n', 'RecordDelimiter', 2),
      quoteCharacter: quote === '' ? '' : delimiter(quote, '"', 'QuoteCharacter', 1),
      quoteEscapeCharacter: delimiter(
        text(csv, 'QuoteEscapeCharacter'),
        '"',
        'QuoteEscapeCharacter',
        1,
      ),
    },
  };
}

function scanRange(xml: Element | undefined): SelectRequest['scanRange'] {
  if (xml === undefined) return undefined;
  const read = (name: string) => {
    const v = text(xml, name);
    if (v === undefined) return undefined;
    if (!/^\d{1,15}$/.test(v.trim()))
      throw new SelectError(
        'InvalidScanRange',
        `ScanRange ${name} must be a non-negative integer.`,
      );
    return Number(v.trim());
  };
  const start = read('Start');
  const end = read('End');
  if (start === undefined && end === undefined)
    throw new SelectError('InvalidScanRange', 'ScanRange needs Start, End or both.');
  if (start !== undefined && end !== undefined && end < start)
    throw new SelectError('InvalidScanRange', 'ScanRange End must not be before Start.');
  return { start, end };
}
