// SelectObjectContent against a real server: awscli and the SDK v3 (its event stream decoder) on
// generated CSVs, results compared with sqlite3 over the same file; JSON LINES and DOCUMENT,
// GZIP and BZIP2 (compressed by the bzip2 program), ScanRange, LIMIT stopping the read, errors
// before and after the stream starts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  SelectObjectContentCommand,
} from '@aws-sdk/client-s3';
import { parse as parseCsv } from 'csv-parse/sync';
import { aws, s3Client } from '../../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../../helpers/server.ts';
import {
  csvOut,
  csvWithHeader,
  generateRows,
  type Row,
  sdkSelect,
  sqlite,
  toCsv,
  toJsonLines,
} from './fixtures.ts';

const BUCKET = 'select';
const ROWS = generateRows(3000);
const CSV = toCsv(ROWS);
// Several read stripes long.
const BIG = toCsv(generateRows(200_000, 3));

async function failure(promise: Promise<unknown>): Promise<{ code: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException)
      return { code: error.name, status: error.$metadata.httpStatusCode };
    const e = error as { name?: string; Code?: string };
    return { code: e.Code ?? e.name ?? String(error) };
  }
  assert.fail('the request succeeded');
}

const lines = (text: string) => text.split('\n').filter((l) => l !== '');
// CSV compared as parsed rows: sqlite3 quotes a field with a space, S3 Select only when needed.
const csvRows = (text: string): string[][] => parseCsv(text, { relax_column_count: true });

describe('SelectObjectContent', () => {
  let server: StrataProcess;
  let client: S3Client;
  let dir: string;

  before(async () => {
    server = await startStrata();
    client = s3Client(server);
    dir = tempDir('strata-select-');
    await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
    const put = (Key: string, Body: string | Buffer) =>
      client.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body }));
    await put('rows.csv', CSV);
    await put('big.csv', BIG);
    await put('rows.csv.gz', gzipSync(CSV));
    const bzipped = execFileSync('bzip2', ['-c', '-9'], { input: CSV, maxBuffer: 64 << 20 });
    await put('rows.csv.bz2', bzipped);
    // One byte changed inside the first block: its CRC (or its Huffman tables) no longer hold.
    const damaged = Buffer.from(bzipped);
    damaged[Math.floor(damaged.length / 2)] ^= 0x55;
    await put('damaged.csv.bz2', damaged);
    await put(
      'big.csv.bz2',
      execFileSync('bzip2', ['-c', '-1'], { input: BIG, maxBuffer: 1 << 30 }),
    );
    await put('rows.jsonl', toJsonLines(ROWS));
    await put('doc.json', '{"a":1,"b":{"c":"x"}} {"a":2,"b":{"c":"y"}}\n[1,2] "s" 3');
  });
  after(async () => {
    client?.destroy();
    await server?.stop();
  });

  const run = (Key: string, Expression: string, extra: object = {}) =>
    sdkSelect(client, {
      Bucket: BUCKET,
      Key,
      Expression,
      ExpressionType: 'SQL',
      InputSerialization: csvWithHeader,
      OutputSerialization: csvOut,
      ...extra,
    });

  test("awscli: the design's WHERE price > 100 on CSV strings is refused as AWS does; with CAST it filters", async () => {
    const out = join(dir, 'aws-out.csv');
    const common = [
      's3api',
      'select-object-content',
      '--bucket',
      BUCKET,
      '--key',
      'rows.csv',
      '--expression-type',
      'SQL',
      '--input-serialization',
      '{"CSV": {"FileHeaderInfo": "USE"}, "CompressionType": "NONE"}',
      '--output-serialization',
      '{"CSV": {}}',
    ];
    const plain = await aws(server, [
      ...common,
      '--expression',
      'SELECT * FROM s3object WHERE price > 100',
      out,
    ]);
    assert.notEqual(plain.code, 0, 'a string compared with a number is not evaluated');
    assert.match(plain.stderr, /ExternalEvalException/);
    const cast = await aws(server, [
      ...common,
      '--expression',
      'SELECT * FROM s3object s WHERE CAST(s.price AS FLOAT) > 100',
      out,
    ]);
    assert.equal(cast.code, 0, cast.stderr);
    const expected = sqlite(dir, CSV, 'SELECT * FROM t WHERE CAST(price AS REAL) > 100');
    assert.deepEqual(csvRows(readFileSync(out, 'utf8')), csvRows(expected));
    assert.ok(lines(expected).length > 100, 'the query keeps a good share of the rows');
  });

  const oracle: [string, string, string][] = [
    [
      'WHERE with AND, LIKE and a string column',
      "SELECT s.id, s.name FROM S3Object s WHERE CAST(s.qty AS INT) >= 25 AND s.name LIKE '%e%'",
      "SELECT id, name FROM t WHERE CAST(qty AS INTEGER) >= 25 AND name LIKE '%e%'",
    ],
    [
      'OR, IN and NOT',
      "SELECT id, category FROM S3Object WHERE category IN ('a', 'c') OR NOT (CAST(qty AS INT) < 45)",
      "SELECT id, category FROM t WHERE category IN ('a', 'c') OR NOT (CAST(qty AS INTEGER) < 45)",
    ],
    [
      'BETWEEN on a cast column, and a positional column',
      'SELECT s._1, s._3 FROM S3Object s WHERE CAST(s._3 AS FLOAT) BETWEEN 20 AND 30.5',
      'SELECT id, price FROM t WHERE CAST(price AS REAL) BETWEEN 20 AND 30.5',
    ],
    [
      'COUNT(*) with a WHERE',
      "SELECT COUNT(*) FROM S3Object WHERE category = 'b'",
      "SELECT COUNT(*) FROM t WHERE category = 'b'",
    ],
    [
      'MIN and MAX of an integer column, COUNT of a column',
      'SELECT MIN(CAST(qty AS INT)), MAX(CAST(qty AS INT)), COUNT(name) FROM S3Object',
      'SELECT MIN(CAST(qty AS INTEGER)), MAX(CAST(qty AS INTEGER)), COUNT(name) FROM t',
    ],
    [
      'string functions in the output',
      "SELECT UPPER(s.category), CHAR_LENGTH(s.name) FROM S3Object s WHERE s.id = '17'",
      "SELECT UPPER(category), LENGTH(name) FROM t WHERE id = '17'",
    ],
  ];
  for (const [what, ours, theirs] of oracle) {
    test(`SDK: ${what} (compared with sqlite3)`, async () => {
      const result = await run('rows.csv', ours);
      assert.deepEqual(csvRows(result.text), csvRows(sqlite(dir, CSV, theirs)), ours);
      assert.deepEqual(result.events.slice(-2), ['Stats', 'End']);
      assert.equal(result.stats?.BytesScanned, Buffer.byteLength(CSV));
      assert.equal(result.stats?.BytesReturned, Buffer.byteLength(result.text));
    });
  }

  test('SDK: SUM and AVG agree with sqlite3', async () => {
    const result = await run(
      'rows.csv',
      "SELECT SUM(CAST(price AS FLOAT)), AVG(CAST(qty AS INT)) FROM S3Object WHERE category <> 'd'",
    );
    const [sum, avg] = result.text.trim().split(',').map(Number);
    const [sum2, avg2] = sqlite(
      dir,
      CSV,
      "SELECT SUM(CAST(price AS REAL)), AVG(CAST(qty AS INTEGER)) FROM t WHERE category <> 'd'",
    )
      .trim()
      .split(',')
      .map(Number);
    assert.ok(Math.abs(sum - sum2) < 1e-6 * sum2, `SUM ${sum} against ${sum2}`);
    assert.ok(Math.abs(avg - avg2) < 1e-9 * avg2, `AVG ${avg} against ${avg2}`);
  });

  test('a large result comes in many bounded Records messages, in order; Progress on request', async () => {
    const result = await run('rows.csv', 'SELECT * FROM S3Object', {
      RequestProgress: { Enabled: true },
    });
    assert.equal(result.text, CSV.slice(CSV.indexOf('\n') + 1));
    assert.ok(result.recordMessages >= 2, `${result.recordMessages} Records messages`);
    assert.deepEqual(result.events, ['Records', 'Progress', 'Stats', 'End']);
    const metrics = await (await fetch(server.metricsUrl)).text();
    const scanned = /^strata_s3_select_bytes_total\{stage="scanned"\} (\d+)/m.exec(metrics);
    assert.ok(
      scanned !== null && Number(scanned[1]) >= Buffer.byteLength(CSV),
      'scanned bytes metric',
    );
  });

  test('LIMIT stops early; JSON output names the columns', async () => {
    const result = await run(
      'rows.csv',
      'SELECT s.id, s.price AS p, s.nothing FROM S3Object s LIMIT 2',
      {
        OutputSerialization: { JSON: {} },
      },
    );
    const errorResult = await failure(
      run('rows.csv', 'SELECT s.id FROM S3Object s WHERE s.qty + 0 > 1 LIMIT 2'),
    );
    assert.equal(errorResult.code, 'ExternalEvalException', 'a CSV string is not a number');
    const first = lines(result.text).map((l) => JSON.parse(l));
    assert.equal(first.length, 2);
    assert.deepEqual(first[0], { id: '1', p: ROWS[0].price });
    assert.deepEqual(first[1], { id: '2', p: ROWS[1].price });
  });

  test('JSON LINES: nested paths, numbers compared as numbers, MISSING left out', async () => {
    const result = await run(
      'rows.jsonl',
      "SELECT s.id, s.tags.category, s.nothing FROM S3Object s WHERE s.price > 150 AND s.tags.category = 'a'",
      { InputSerialization: { JSON: { Type: 'LINES' } }, OutputSerialization: { JSON: {} } },
    );
    const expected = ROWS.filter((r: Row) => Number(r.price) > 150 && r.category === 'a').map(
      (r) => ({ id: r.id, category: r.category }),
    );
    assert.deepEqual(
      lines(result.text).map((l) => JSON.parse(l)),
      expected,
    );
  });

  test('JSON DOCUMENT: top-level values one after another are records', async () => {
    const result = await run(
      'doc.json',
      'SELECT s.a, s.b.c FROM S3Object s WHERE s.a IS NOT MISSING',
      {
        InputSerialization: { JSON: { Type: 'DOCUMENT' } },
        OutputSerialization: { JSON: {} },
      },
    );
    assert.deepEqual(lines(result.text), ['{"a":1,"c":"x"}', '{"a":2,"c":"y"}']);
  });

  test('GZIP input gives the same answer as the plain object, and counts both sizes', async () => {
    const expression = "SELECT id FROM S3Object WHERE name LIKE 'fig%'";
    const plain = await run('rows.csv', expression);
    const zipped = await run('rows.csv.gz', expression, {
      InputSerialization: { ...csvWithHeader, CompressionType: 'GZIP' },
    });
    assert.equal(zipped.text, plain.text);
    assert.ok(plain.text.length > 0);
    assert.equal(zipped.stats?.BytesProcessed, Buffer.byteLength(CSV));
    assert.ok((zipped.stats?.BytesScanned ?? 0) < Buffer.byteLength(CSV));
  });

  test('BZIP2 input gives the same answer as the plain object, also over several bzip2 blocks', async () => {
    const expression = "SELECT id FROM S3Object WHERE name LIKE 'fig%'";
    const plain = await run('rows.csv', expression);
    const zipped = await run('rows.csv.bz2', expression, {
      InputSerialization: { ...csvWithHeader, CompressionType: 'BZIP2' },
    });
    assert.equal(zipped.text, plain.text);
    assert.ok(plain.text.length > 0);
    assert.equal(zipped.stats?.BytesProcessed, Buffer.byteLength(CSV));
    assert.ok((zipped.stats?.BytesScanned ?? 0) < Buffer.byteLength(CSV));
    // BIG is over 100 kB, the block size of bzip2 -1: several blocks, decoded in turn.
    const count = "SELECT COUNT(*) FROM S3Object WHERE category = 'a'";
    const bigPlain = await run('big.csv', count);
    const bigZipped = await run('big.csv.bz2', count, {
      InputSerialization: { ...csvWithHeader, CompressionType: 'BZIP2' },
    });
    assert.equal(bigZipped.text, bigPlain.text);
    assert.equal(bigZipped.stats?.BytesProcessed, Buffer.byteLength(BIG));
    // LIMIT stops the decoder and the read; the next query is answered in full.
    const limited = await run('big.csv.bz2', 'SELECT id FROM S3Object LIMIT 3', {
      InputSerialization: { ...csvWithHeader, CompressionType: 'BZIP2' },
    });
    assert.deepEqual(lines(limited.text), ['1', '2', '3']);
    assert.ok((limited.stats?.BytesProcessed ?? 0) < Buffer.byteLength(BIG));
    // A damaged object is the input's fault, as AWS names it; a plain CSV named BZIP2 too.
    for (const key of ['damaged.csv.bz2', 'rows.csv']) {
      const f = await failure(
        run(key, count, { InputSerialization: { ...csvWithHeader, CompressionType: 'BZIP2' } }),
      );
      assert.equal(f.code, 'InvalidCompressionFormat', key);
    }
  });

  test('ScanRange: ranges that tile the object give every record once', async () => {
    const size = Buffer.byteLength(CSV);
    const cuts = [0, 1, 500, 4096, 4097, Math.floor(size / 2), size - 3, size];
    let all = '';
    for (let i = 0; i + 1 < cuts.length; i++) {
      const result = await run('rows.csv', 'SELECT * FROM S3Object', {
        InputSerialization: { CSV: { FileHeaderInfo: 'NONE' } },
        ScanRange: { Start: cuts[i], End: cuts[i + 1] - 1 },
      });
      all += result.text;
    }
    assert.equal(all, CSV);
    // A range past the header still names columns by it.
    const named = await run('rows.csv', "SELECT s.id FROM S3Object s WHERE s.category = 'a'", {
      ScanRange: { Start: Math.floor(size / 2) },
    });
    const ids = lines(named.text).map(Number);
    assert.ok(ids.length > 0 && ids.every((id) => ROWS[id - 1].category === 'a'));
    assert.ok(ids[0] > ROWS.length / 3, 'the range starts mid-object');
  });

  test('ScanRange on JSON LINES, End alone is the last bytes', async () => {
    const result = await run('rows.jsonl', 'SELECT s.id FROM S3Object s', {
      InputSerialization: { JSON: { Type: 'LINES' } },
      OutputSerialization: { JSON: {} },
      ScanRange: { End: 200 },
    });
    const ids = lines(result.text).map((l) => JSON.parse(l).id);
    assert.ok(ids.length >= 1 && ids.length <= 3, `${ids.length} records in the last 200 bytes`);
    assert.equal(ids[ids.length - 1], ROWS.length);
  });

  test('CSV options: IGNORE, delimiters, comments, quoting; IGNORE inside a range skips nothing', async () => {
    const text = '# a comment\r\nh1;h2\r\n1;"x;y"\r\n#2;skipped\r\n3;z\r\n';
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'semi.csv', Body: text }));
    const input = {
      CSV: {
        FileHeaderInfo: 'IGNORE' as const,
        FieldDelimiter: ';',
        RecordDelimiter: '\r\n',
        Comments: '#',
      },
    };
    const result = await run('semi.csv', 'SELECT s._2, s._1 FROM S3Object s', {
      InputSerialization: input,
      OutputSerialization: {
        CSV: { QuoteFields: 'ALWAYS', FieldDelimiter: '|', RecordDelimiter: '\n' },
      },
    });
    assert.equal(result.text, '"x;y"|"1"\n"z"|"3"\n');
    const ranged = await run('semi.csv', 'SELECT s._1 FROM S3Object s', {
      InputSerialization: input,
      ScanRange: { Start: text.indexOf('1;') },
    });
    assert.equal(ranged.text, '1\n3\n', 'the first record in the range is no header');
  });

  test('LIMIT stops reading the object', async () => {
    const result = await run('big.csv', 'SELECT s.id FROM S3Object s LIMIT 3');
    assert.equal(result.text, '1\n2\n3\n');
    const scanned = result.stats?.BytesScanned ?? 0;
    // Reads come in stripes of a few MiB: the first one holds the three rows.
    assert.ok(scanned < BIG.length, `${scanned} of ${BIG.length} bytes scanned`);
  });

  test('a client that hangs up mid-stream does not disturb the gateway', async () => {
    const abort = new AbortController();
    const out = await client.send(
      new SelectObjectContentCommand({
        Bucket: BUCKET,
        Key: 'big.csv',
        Expression: 'SELECT * FROM S3Object',
        ExpressionType: 'SQL',
        InputSerialization: csvWithHeader,
        OutputSerialization: csvOut,
      }),
      { abortSignal: abort.signal },
    );
    let records = 0;
    await assert.rejects(async () => {
      for await (const event of out.Payload ?? []) {
        if (event.Records && ++records === 2) abort.abort();
      }
    });
    assert.equal(records, 2);
    const after = await run('rows.csv', "SELECT COUNT(*) FROM S3Object WHERE category = 'a'");
    const expected = ROWS.filter((r) => r.category === 'a').length;
    assert.equal(after.text, `${expected}\n`, 'the next query is answered in full');
  });

  test('request errors are 400 with AWS codes; Parquet is 501', async () => {
    const cases: [() => Promise<unknown>, string, number][] = [
      [() => run('rows.csv', 'SELECT FROM S3Object'), 'ParseUnexpectedToken', 400],
      [() => run('rows.csv', 'SELECT * FROM S3Object WHERE'), 'ParseExpectedExpression', 400],
      [
        () => run('rows.csv', 'SELECT CAST(id AS BLOB) FROM S3Object'),
        'ParseInvalidTypeParam',
        400,
      ],
      [
        () => run('rows.csv', 'SELECT * FROM S3Object', { ExpressionType: 'XQUERY' }),
        'InvalidExpressionType',
        400,
      ],
      [
        () => run('rows.csv', 'SELECT * FROM S3Object', { InputSerialization: { Parquet: {} } }),
        'NotImplemented',
        501,
      ],
      [
        () =>
          run('rows.csv.bz2', 'SELECT * FROM S3Object', {
            InputSerialization: { ...csvWithHeader, CompressionType: 'BZIP2' },
            ScanRange: { Start: 10 },
          }),
        'InvalidRequestParameter',
        400,
      ],
      [() => run('rows.csv', 'SELECT CAST(name AS INT) FROM S3Object'), 'CastFailed', 400],
      [
        () =>
          run('rows.csv.gz', 'SELECT * FROM S3Object', {
            InputSerialization: { ...csvWithHeader, CompressionType: 'GZIP' },
            ScanRange: { Start: 10 },
          }),
        'InvalidRequestParameter',
        400,
      ],
      [
        () =>
          run('doc.json', 'SELECT * FROM S3Object', {
            InputSerialization: { JSON: { Type: 'DOCUMENT' } },
            ScanRange: { Start: 10 },
          }),
        'InvalidRequestParameter',
        400,
      ],
      [
        () =>
          run('rows.csv', 'SELECT * FROM S3Object', {
            InputSerialization: { CSV: { FileHeaderInfo: 'FIRST' } },
          }),
        'InvalidFileHeaderInfo',
        400,
      ],
      [() => run('absent.csv', 'SELECT * FROM S3Object'), 'NoSuchKey', 404],
    ];
    for (const [request, code, status] of cases) {
      const f = await failure(request());
      assert.equal(`${f.code} ${f.status}`, `${code} ${status}`);
    }
  });

  test('an error after records went out ends the stream with an error message', async () => {
    // Row 2900's name cast fails after more than one Records message went out: the HTTP status
    // was 200 already, so the error is the stream's last message (the SDK throws it mid-read).
    const f = await failure(
      run(
        'rows.csv',
        "SELECT s.name, s.day, s.price, CASE WHEN s.id = '2900' THEN CAST(s.name AS INT) ELSE 0 END FROM S3Object s",
      ),
    );
    assert.equal(`${f.code} ${f.status}`, 'CastFailed undefined');
    const before = await failure(
      run('rows.csv', "SELECT CASE WHEN s.id = '2' THEN CAST(s.name AS INT) END FROM S3Object s"),
    );
    assert.equal(`${before.code} ${before.status}`, 'CastFailed 400', 'before any message: a 400');
  });

  test('a malformed CSV is CSVParsingError, in either parser, and the gateway goes on', async () => {
    const bad = 'h1,h2\nok,1\na,"b"c\n';
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'bad.csv', Body: bad }));
    const f = await failure(run('bad.csv', 'SELECT * FROM S3Object s'));
    assert.equal(`${f.code} ${f.status}`, 'CSVParsingError 400', 'papaparse (\\n records)');
    // A RecordDelimiter papaparse does not take goes to csv-parse, whose refusal once ended the
    // gateway's process (an unhandled stream 'error' event).
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: 'bad-pipe.csv', Body: 'a"b,c|' }),
    );
    const g = await failure(
      run('bad-pipe.csv', 'SELECT * FROM S3Object s', {
        InputSerialization: { CSV: { FileHeaderInfo: 'NONE', RecordDelimiter: '|' } },
      }),
    );
    assert.equal(`${g.code} ${g.status}`, 'CSVParsingError 400', 'csv-parse (| records)');
    const after = await run('rows.csv', 'SELECT COUNT(*) FROM S3Object');
    assert.equal(after.text, `${ROWS.length}\n`, 'the gateway still answers');
  });

  test('SELECT over an empty object answers Stats and End only', async () => {
    await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'empty.csv', Body: '' }));
    const result = await run('empty.csv', 'SELECT COUNT(*) FROM S3Object');
    assert.equal(result.text, '0\n');
    writeFileSync(join(dir, 'unused'), '');
  });
});
