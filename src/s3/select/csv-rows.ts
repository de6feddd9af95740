// CSV bytes to rows of fields, streaming, through one of two well-kept parsers:
// - papaparse for the dialects it takes (records ending in \n, \r or \r\n, a quote character
//   escaped by doubling it): it finds delimiters with indexOf and makes fields with substring,
//   several times faster than a parser that looks at every byte (S3 Select's scan rate is
//   bounded by this step: issue 16's "CSVs of at least 1 GiB");
// - csv-parse for the others (any other RecordDelimiter, no QuoteCharacter, a
//   QuoteEscapeCharacter other than the quote), which it reads byte by byte.
// Both keep a record's memory bounded by RECORD_BYTES_MAX, skip empty lines and whole-line
// comments, drop a UTF-8 byte order mark, and take rows of any length (AWS's CSV has no fixed
// column count).
import assert from 'node:assert';
import { StringDecoder } from 'node:string_decoder';
import { CsvError, parse } from 'csv-parse';
import Papa from 'papaparse';
import { SelectError } from './errors.ts';
import type { CsvInputOptions } from './request.ts';

// AWS's limit on one record of input or output.
export const RECORD_BYTES_MAX = 1024 * 1024;
// Input is parsed this much at a time, so one batch of rows stays small whatever the size of
// the chunks a read hands over.
const PARSE_SLICE_BYTES = 256 * 1024;

const overMaxRecordSize = () =>
  new SelectError('OverMaxRecordSize', 'A record is longer than 1 MiB.');

export function csvRows(
  bytes: AsyncIterable<Buffer>,
  options: CsvInputOptions,
): AsyncGenerator<string[][]> {
  return papaTakes(options) ? papaRows(bytes, options) : csvParseRows(bytes, options);
}

// papaparse's record delimiters are \n, \r and \r\n; its escape of a quote inside quotes is
// the quote doubled (another escape character differs from csv-parse's meaning of it).
function papaTakes(o: CsvInputOptions): boolean {
  const bad = (c: string) => (Papa.BAD_DELIMITERS as string[]).includes(c);
  return (
    ['\n', '\r', '\r\n'].includes(o.recordDelimiter) &&
    o.quoteCharacter !== '' &&
    o.quoteEscapeCharacter === o.quoteCharacter &&
    !bad(o.fieldDelimiter) &&
    o.fieldDelimiter !== o.quoteCharacter &&
    (o.comments === '' || (!bad(o.comments) && o.comments !== o.fieldDelimiter))
  );
}

export async function* papaRows(
  bytes: AsyncIterable<Buffer>,
  options: CsvInputOptions,
): AsyncGenerator<string[][]> {
  const parser = new Papa.Parser({
    delimiter: options.fieldDelimiter,
    newline: options.recordDelimiter as '\n' | '\r' | '\r\n',
    quoteChar: options.quoteCharacter,
    escapeChar: options.quoteEscapeCharacter,
    comments: options.comments === '' ? false : options.comments,
  });
  const decoder = new StringDecoder('utf8');
  let carry = ''; // the unfinished last record of what was parsed so far
  let atStart = true;
  // The complete rows of text; last: text ends the input, so its last record is complete too.
  const rowsOf = (text: string, last: boolean): string[][] => {
    const result = parser.parse(text, 0, !last) as Papa.ParseResult<string[]>;
    const rows = result.data;
    // An error in the unfinished last record (a quote closed by a \r whose \n comes next) is
    // not one: that record is parsed again with the next text.
    const error = result.errors.find((e) => e.row === undefined || e.row < rows.length);
    if (error !== undefined)
      throw new SelectError(
        'CSVParsingError',
        `The CSV input could not be parsed: ${error.message}`,
      );
    carry = last ? '' : text.slice(result.meta.cursor);
    if (carry.length > RECORD_BYTES_MAX) throw overMaxRecordSize();
    // Only the first record can be longer than a slice: it may have begun in the carry.
    if (text.length > RECORD_BYTES_MAX && rows.length > 0 && fieldChars(rows[0]) > RECORD_BYTES_MAX)
      throw overMaxRecordSize();
    let kept = 0;
    for (const row of rows) if (row.length !== 1 || row[0] !== '') rows[kept++] = row; // not empty lines
    rows.length = kept;
    return rows;
  };
  for await (const chunk of bytes) {
    for (let at = 0; at < chunk.length; at += PARSE_SLICE_BYTES) {
      let text = carry + decoder.write(chunk.subarray(at, at + PARSE_SLICE_BYTES));
      if (atStart && text.length > 0) {
        atStart = false;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      const rows = rowsOf(text, false);
      if (rows.length > 0) yield rows;
    }
  }
  const rest = carry + decoder.end();
  if (rest.length > 0) {
    const rows = rowsOf(atStart && rest.charCodeAt(0) === 0xfeff ? rest.slice(1) : rest, true);
    if (rows.length > 0) yield rows;
  }
}

function fieldChars(row: string[]): number {
  let chars = 0;
  for (const field of row) chars += field.length;
  return chars;
}

export async function* csvParseRows(
  bytes: AsyncIterable<Buffer>,
  options: CsvInputOptions,
): AsyncGenerator<string[][]> {
  // Records are taken from on_record as each slice is parsed, in one batch per slice: one await
  // per slice instead of one per record through the stream's object-mode buffer.
  let rows: string[][] = [];
  const parser = parse({
    delimiter: options.fieldDelimiter,
    record_delimiter: [options.recordDelimiter],
    quote: options.quoteCharacter === '' ? false : options.quoteCharacter,
    escape: options.quoteEscapeCharacter,
    comment: options.comments === '' ? undefined : options.comments,
    comment_no_infix: true, // a comment is a whole line starting with the character
    relax_column_count: true,
    skip_empty_lines: true,
    bom: true,
    max_record_size: RECORD_BYTES_MAX,
    on_record: (record: string[]) => {
      rows.push(record);
      return null; // taken here, not passed on through the stream
    },
  });
  parser.resume(); // nothing comes out of the readable side (on_record keeps every record)
  // A parse error also comes as the stream's 'error' event, which with no listener would be an
  // uncaught exception (the gateway's end); the write's callback carries it to the caller.
  parser.on('error', () => {});
  const take = () => {
    const taken = rows;
    rows = [];
    return taken;
  };
  try {
    for await (const chunk of bytes) {
      for (let at = 0; at < chunk.length; at += PARSE_SLICE_BYTES) {
        const slice = chunk.subarray(at, at + PARSE_SLICE_BYTES);
        await new Promise<void>((resolve, reject) =>
          parser.write(slice, (error) => (error ? reject(error) : resolve())),
        );
        if (rows.length > 0) yield take();
      }
    }
    await new Promise<void>((resolve, reject) => {
      parser.once('error', reject);
      parser.end(() => resolve());
    });
    if (rows.length > 0) yield take();
  } catch (error) {
    throw csvParseFailure(error);
  } finally {
    parser.destroy();
  }
  assert(rows.length === 0, 'every row was handed on');
}

function csvParseFailure(error: unknown): unknown {
  if (!(error instanceof CsvError)) return error;
  if (error.code === 'CSV_MAX_RECORD_SIZE') return overMaxRecordSize();
  return new SelectError('CSVParsingError', `The CSV input could not be parsed: ${error.message}`);
}
