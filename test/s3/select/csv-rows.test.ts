// The CSV reader's two parsers (src/s3/select/csv-rows.ts): papaparse for the common dialects,
// csv-parse for the others. On the dialects both take, they must give the same rows, whatever
// the chunks the object's bytes arrive in (a record, a quoted field, a \r\n or a UTF-8 character
// cut between two chunks): a property over generated CSV text, cut at random places.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { csvParseRows, csvRows, papaRows } from '../../../src/s3/select/csv-rows.ts';
import { SelectError } from '../../../src/s3/select/errors.ts';
import type { CsvInputOptions } from '../../../src/s3/select/request.ts';

const options = (over: Partial<CsvInputOptions> = {}): CsvInputOptions => ({
  fileHeaderInfo: 'NONE',
  fieldDelimiter: ',',
  recordDelimiter: '\n',
  quoteCharacter: '"',
  quoteEscapeCharacter: '"',
  comments: '#',
  allowQuotedRecordDelimiter: false,
  ...over,
});

async function* chunks(bytes: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    yield bytes.subarray(at, cut);
    at = cut;
  }
  yield bytes.subarray(at);
}

async function rowsOf(rows: AsyncGenerator<string[][]>): Promise<string[][]> {
  const all: string[][] = [];
  for await (const batch of rows) all.push(...batch);
  return all;
}

const quoted = (field: string) =>
  /[",\r\n]/.test(field) || field === '' ? `"${field.replaceAll('"', '""')}"` : field;

// Rows of fields (none a lone empty field: an empty line is skipped), with comment lines and
// empty lines between them, in either record delimiter, with or without a byte order mark.
const csvArb = fc.record({
  rows: fc.array(
    fc
      .array(fc.stringMatching(/^[a-zé€"\r\n ,]{0,6}$/), { minLength: 1, maxLength: 4 })
      .filter((row) => !(row.length === 1 && row[0] === '')),
    { maxLength: 12 },
  ),
  extras: fc.array(fc.constantFrom('', '#a comment, "with quotes'), { maxLength: 12 }),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  cuts: fc.array(fc.nat(400), { maxLength: 6 }),
});

describe('CSV rows', () => {
  test('papaparse and csv-parse give the same rows, however the bytes are cut', async () => {
    await fc.assert(
      fc.asyncProperty(csvArb, async ({ rows, extras, crlf, bom, cuts }) => {
        const newline = crlf ? '\r\n' : '\n';
        const lines = rows.map((row) => row.map(quoted).join(','));
        for (const [i, extra] of extras.entries()) lines.splice(i % (lines.length + 1), 0, extra);
        const text = `${bom ? '\ufeff' : ''}${lines.join(newline)}${newline}`;
        const bytes = Buffer.from(text, 'utf8');
        const within = cuts.map((c) => c % (bytes.length + 1));
        const o = options({ recordDelimiter: newline });
        const papa = await rowsOf(papaRows(chunks(bytes, within), o));
        const reference = await rowsOf(csvParseRows(chunks(bytes, within), o));
        assert.deepEqual(papa, rows, 'papaparse gives the rows written');
        assert.deepEqual(reference, rows, 'csv-parse gives the rows written');
      }),
      { numRuns: 300, seed: 16 },
    );
  });

  test('dialects papaparse does not take go to csv-parse', async () => {
    const read = (text: string, o: CsvInputOptions) =>
      rowsOf(csvRows(chunks(Buffer.from(text), [3, 7]), o));
    assert.deepEqual(
      await read('a;b|c;"d|e"|', options({ fieldDelimiter: ';', recordDelimiter: '|' })),
      [
        ['a', 'b'],
        ['c', 'd|e'],
      ],
    );
    assert.deepEqual(await read('a,"b\nc,d\n', options({ quoteCharacter: '' })), [
      ['a', '"b'],
      ['c', 'd'],
    ]);
  });

  test('a malformed quote is CSVParsingError (either parser); a record over 1 MiB is OverMaxRecordSize', async () => {
    const failure = async (text: string, o = options()) => {
      try {
        await rowsOf(csvRows(chunks(Buffer.from(text), []), o));
      } catch (error) {
        assert.ok(error instanceof SelectError, String(error));
        return error.code;
      }
      assert.fail(`no error for ${JSON.stringify(text.slice(0, 40))}`);
    };
    assert.equal(await failure('a,"b"c\n'), 'CSVParsingError');
    // csv-parse's dialects too: its error is also a stream 'error' event, which must not escape
    // as an uncaught exception (it ended the gateway's process before).
    const other = options({ recordDelimiter: '|' });
    assert.equal(await failure('a"b,c|', other), 'CSVParsingError');
    assert.equal(await failure('"a" ,b|', other), 'CSVParsingError');
    assert.equal(await failure('a,"never closed\n'), 'CSVParsingError');
    assert.equal(await failure(`a,${'x'.repeat(1024 * 1024 + 1)}\nb\n`), 'OverMaxRecordSize');
    assert.equal(await failure(`a,"${'x'.repeat(1024 * 1024 + 1)}`), 'OverMaxRecordSize');
  });
});
