// Input readers: object bytes in, records out, streaming (memory bounded by the record size
// limit, not the object's). CSV rows come from csv-rows.ts; JSON is split into top-level values here
// (LINES: one per line; DOCUMENT: one after another) and each is parsed with JSON.parse.
import assert from 'node:assert';
import { StringDecoder } from 'node:string_decoder';
import { csvRows, RECORD_BYTES_MAX } from './csv-rows.ts';
import { SelectError } from './errors.ts';
import { CsvHeader, CsvRecord, JsonRecord } from './records.ts';
import type { CsvInputOptions } from './request.ts';

export { RECORD_BYTES_MAX } from './csv-rows.ts';

// firstIsHeader: the bytes start at the object's start, so with FileHeaderInfo USE or IGNORE their
// first record is the header (used or skipped); header: one read from the object's start, for a
// scan range that begins after it.
export async function* csvRecords(
  bytes: AsyncIterable<Buffer>,
  options: CsvInputOptions,
  where: { header?: CsvHeader; firstIsHeader: boolean },
): AsyncGenerator<CsvRecord[]> {
  let header = where.header;
  let first = where.firstIsHeader && options.fileHeaderInfo !== 'NONE';
  for await (const rows of csvRows(bytes, options)) {
    const records: CsvRecord[] = [];
    for (const fields of rows) {
      if (first) {
        first = false;
        if (options.fileHeaderInfo === 'USE') header = new CsvHeader(fields);
        continue;
      }
      records.push(new CsvRecord(fields, header));
    }
    if (records.length > 0) yield records;
  }
}

// The header row at the object's start (for a scan range that begins after it).
export async function csvHeader(
  bytes: AsyncIterable<Buffer>,
  options: CsvInputOptions,
): Promise<CsvHeader | undefined> {
  for await (const records of csvRecords(bytes, options, { firstIsHeader: false }))
    return new CsvHeader(records[0].fields);
  return undefined;
}

function jsonValue(text: string): JsonRecord {
  try {
    return new JsonRecord(JSON.parse(text));
  } catch (error) {
    throw new SelectError(
      'JSONParsingError',
      `The JSON input could not be parsed: ${(error as Error).message}`,
    );
  }
}

export async function* jsonLines(bytes: AsyncIterable<Buffer>): AsyncGenerator<JsonRecord[]> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of bytes) {
    pending += decoder.write(chunk);
    let start = 0;
    const records: JsonRecord[] = [];
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
      const line = pending.slice(start, nl).trim();
      start = nl + 1;
      if (line !== '') records.push(jsonValue(line));
    }
    if (records.length > 0) yield records;
    pending = pending.slice(start);
    if (pending.length > RECORD_BYTES_MAX)
      throw new SelectError('OverMaxRecordSize', 'A record is longer than 1 MiB.');
  }
  const last = (pending + decoder.end()).trim();
  if (last !== '') yield [jsonValue(last)];
}

// DOCUMENT: top-level JSON values one after another (whitespace between, or none); each is a
// record. Objects and arrays end where their brackets balance, strings at their closing quote,
// other values at whitespace or the next value's opening character.
export async function* jsonDocument(bytes: AsyncIterable<Buffer>): AsyncGenerator<JsonRecord[]> {
  const decoder = new StringDecoder('utf8');
  const scanner = new JsonScanner();
  for await (const chunk of bytes) {
    const values = scanner.feed(decoder.write(chunk));
    if (values.length > 0) yield values.map(jsonValue);
  }
  yield scanner.feed(`${decoder.end()} `).map(jsonValue);
  if (scanner.inValue) throw new SelectError('JSONParsingError', 'The JSON input ends mid-value.');
}

class JsonScanner {
  private current = ''; // text of the value being read, before the chunk being scanned
  private depth = 0;
  private inString = false;
  private escaped = false;
  private started = false;
  private scalar = false;

  get inValue(): boolean {
    return this.started;
  }

  feed(text: string): string[] {
    const values: string[] = [];
    let valueStart = 0; // where the value being read starts in text (0 if it began earlier)
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (!this.started) {
        if (c === ' ' || c === '\n' || c === '\r' || c === '\t') continue;
        this.started = true;
        this.scalar = c !== '{' && c !== '[' && c !== '"';
        this.depth = c === '{' || c === '[' ? 1 : 0;
        this.inString = c === '"';
        valueStart = i;
        continue;
      }
      let end = -1; // index just past the value
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') {
          this.inString = false;
          if (this.depth === 0) end = i + 1;
        }
      } else if (this.scalar) {
        if (/[\s{["]/.test(c)) end = i;
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) end = i + 1;
      }
      if (end >= 0) {
        values.push(this.current + text.slice(valueStart, end));
        this.current = '';
        this.started = false;
        if (this.scalar) i = end - 1; // the character that ended a scalar starts the next value
      }
    }
    if (this.started) {
      this.current += text.slice(valueStart);
      if (this.current.length > RECORD_BYTES_MAX)
        throw new SelectError('OverMaxRecordSize', 'A record is longer than 1 MiB.');
    }
    assert(this.depth >= 0 || !this.started, 'brackets never close below the top level');
    return values;
  }
}
