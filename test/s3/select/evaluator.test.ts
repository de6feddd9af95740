// The S3 Select engine without a server: the parser and the pure evaluator on in-memory records,
// SQL's NULL/MISSING logic as AWS documents it, CAST, string and date functions, aggregates and
// the CSV/JSON writers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SelectError } from '../../../src/s3/select/errors.ts';
import { SelectExecution } from '../../../src/s3/select/execute.ts';
import { CsvRowWriter, JsonRowWriter } from '../../../src/s3/select/output.ts';
import { parseQuery } from '../../../src/s3/select/parser.ts';
import { CsvHeader, CsvRecord, JsonRecord } from '../../../src/s3/select/records.ts';

const NOW_MS = Date.UTC(2024, 4, 15, 12, 30, 0);
const csvOut = () =>
  new CsvRowWriter({
    fieldDelimiter: ',',
    recordDelimiter: '\n',
    quoteCharacter: '"',
    quoteEscapeCharacter: '"',
    quoteFields: 'ASNEEDED',
  });

// Runs a query over JSON values, one record each; returns the output text.
function overJson(sql: string, values: unknown[], json = true): string {
  const run = new SelectExecution(
    parseQuery(sql),
    json ? new JsonRowWriter('\n') : csvOut(),
    NOW_MS,
  );
  let out = '';
  for (const v of values) {
    if (run.done) break;
    out += run.push(new JsonRecord(v));
  }
  return out + run.finish();
}

// One expression on one empty record, as CSV output text (no newline).
function value(expression: string): string {
  return overJson(`SELECT ${expression} FROM S3Object`, [{}], false).replace(/\n$/, '');
}

function overCsv(sql: string, rows: string[][], header?: string[]): string {
  const run = new SelectExecution(parseQuery(sql), csvOut(), NOW_MS);
  const h = header === undefined ? undefined : new CsvHeader(header);
  let out = '';
  for (const fields of rows) {
    if (run.done) break;
    out += run.push(new CsvRecord(fields, h));
  }
  return out + run.finish();
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof SelectError, String(error));
    return error.code;
  }
  assert.fail('no error');
}

describe('S3 Select SQL', () => {
  test('NULL and MISSING follow three-valued logic', () => {
    const rows = [{ a: 1 }, { a: null }, {}, { a: 3 }];
    assert.equal(overJson('SELECT s.a FROM S3Object s WHERE s.a > 1', rows), '{"a":3}\n');
    assert.equal(overJson('SELECT s.a FROM S3Object s WHERE NOT (s.a > 1)', rows), '{"a":1}\n');
    assert.equal(overJson('SELECT COUNT(*) FROM S3Object s WHERE s.a IS NULL', rows), '{"_1":2}\n');
    assert.equal(overJson('SELECT COUNT(*) FROM S3Object WHERE a IS MISSING', rows), '{"_1":1}\n');
    assert.equal(overJson('SELECT COUNT(a), COUNT(*) FROM S3Object', rows), '{"_1":2,"_2":4}\n');
    assert.equal(value('NULL OR TRUE'), 'true');
    assert.equal(value('NULL AND FALSE'), 'false');
    assert.equal(value('NULL AND TRUE'), '');
    assert.equal(value('MISSING = 1'), '');
    assert.equal(value('1 IN (2, NULL)'), '');
    assert.equal(value('1 NOT IN (2, 3)'), 'true');
    // MISSING leaves the member out of JSON output, NULL writes null.
    assert.equal(overJson('SELECT s.a, s.b FROM S3Object s', [{ b: null }]), '{"b":null}\n');
  });

  test('comparisons: numbers and strings in their own order, mixed types refused', () => {
    assert.equal(value("'5' > '41'"), 'true', 'strings compare as strings');
    assert.equal(value('5 > 41'), 'false');
    assert.equal(value("'1' = 1"), 'false', '= on different types is false');
    assert.equal(value("'1' <> 1"), 'true');
    assert.equal(
      code(() => value("'150' > 100")),
      'ExternalEvalException',
    );
    assert.equal(value('2 BETWEEN 1 AND 3'), 'true');
    assert.equal(value('2 NOT BETWEEN 1 AND 3'), 'false');
    assert.equal(value('`2024-01-02T` > `2024-01-01T10:00Z`'), 'true');
  });

  test('LIKE with % and _, ESCAPE, case and specials taken literally', () => {
    assert.equal(value("'abc' LIKE 'a%'"), 'true');
    assert.equal(value("'abc' LIKE 'a_c'"), 'true');
    assert.equal(value("'abc' LIKE 'A%'"), 'false');
    assert.equal(value("'a.c' LIKE 'a.c'"), 'true');
    assert.equal(value("'abc' LIKE 'a.c'"), 'false', 'a dot is no wildcard');
    assert.equal(value("'50%' LIKE '50!%' ESCAPE '!'"), 'true');
    assert.equal(value("'500' LIKE '50!%' ESCAPE '!'"), 'false');
    assert.equal(value("'a\nb' LIKE 'a%b'"), 'true', '% crosses newlines');
    assert.equal(value("'x' NOT LIKE 'y%'"), 'true');
  });

  test('arithmetic and CAST', () => {
    assert.equal(value('7 / 2'), '3', 'INT / INT truncates');
    assert.equal(value('7.5 / 2'), '3.75');
    // A FLOAT or DECIMAL operand divides exactly, though it holds an integral value.
    assert.equal(value('7.0 / 2'), '3.5', 'a literal with a point is a FLOAT');
    assert.equal(value('7 / 2e0'), '3.5', 'an exponent too');
    assert.equal(value("CAST('7' AS FLOAT) / 2"), '3.5');
    assert.equal(value("CAST('7' AS DECIMAL) / 2"), '3.5');
    assert.equal(value("CAST('7' AS INT) / 2"), '3');
    assert.equal(value('-7.0 / 2'), '-3.5');
    assert.equal(value('(7.0 + 1) / 3 * 3'), '8', 'FLOAT through arithmetic');
    assert.equal(value('(7 + 1) / 3'), '2');
    assert.equal(value('CASE WHEN 1 = 1 THEN 7.0 ELSE 1 END / 2'), '3.5');
    assert.equal(value('7 % 3 + -1 * 2'), '-1');
    assert.equal(
      code(() => value('1 / 0')),
      'DivideByZero',
    );
    assert.equal(value("CAST(' 12 ' AS INT) + 1"), '13');
    assert.equal(value("CAST('12.9' AS INT)"), '12');
    assert.equal(value("CAST('1e3' AS FLOAT)"), '1000');
    assert.equal(value("CAST(3 AS STRING) || 'x'"), '3x');
    assert.equal(value("CAST('TRUE' AS BOOL)"), 'true');
    assert.equal(value("CAST('2007-04-05T14:30Z' AS TIMESTAMP)"), '2007-04-05T14:30Z');
    assert.equal(value('CAST(NULL AS INT) IS NULL'), 'true');
    assert.equal(
      code(() => value("CAST('abc' AS INT)")),
      'CastFailed',
    );
    assert.equal(
      code(() => value("CAST('2007-02-30T' AS TIMESTAMP)")),
      'CastFailed',
    );
  });

  test('string functions', () => {
    assert.equal(value("LOWER('AbC') || UPPER('x')"), 'abcX');
    assert.equal(value("TRIM('  a b  ')"), 'a b');
    assert.equal(value("TRIM(LEADING FROM '  a  ')"), 'a  ');
    assert.equal(value("TRIM(TRAILING 'xy' FROM 'xxaxyy')"), 'xxa');
    assert.equal(value("TRIM(BOTH '-' FROM '--a--')"), 'a');
    assert.equal(value("SUBSTRING('123456789', 2, 3)"), '234');
    assert.equal(value("SUBSTRING('123456789' FROM 5)"), '56789');
    assert.equal(value("SUBSTRING('123456789' FROM 0 FOR 3)"), '12', 'position 0 uses up length');
    assert.equal(value("SUBSTRING('abc', -5, 2)"), '');
    assert.equal(value("CHAR_LENGTH('héllo') + CHARACTER_LENGTH('')"), '5');
    assert.equal(value("COALESCE(NULL, MISSING, 'x')"), 'x');
    assert.equal(value('NULLIF(1, 1) IS NULL'), 'true');
    assert.equal(value("CASE WHEN 1 > 2 THEN 'a' WHEN 2 > 1 THEN 'b' END"), 'b');
    assert.equal(value("CASE 3 WHEN 1 THEN 'a' ELSE 'z' END"), 'z');
  });

  test('date functions', () => {
    assert.equal(value('UTCNOW()'), '2024-05-15T12:30:00.000Z');
    assert.equal(value("EXTRACT(YEAR FROM TO_TIMESTAMP('2021-03-04T05:06:07+02:30'))"), '2021');
    assert.equal(value('EXTRACT(HOUR FROM `2021-03-04T05:06:07+02:30`)'), '5');
    assert.equal(value('EXTRACT(TIMEZONE_HOUR FROM `2021-03-04T05:06:07+02:30`)'), '2');
    assert.equal(value('EXTRACT(TIMEZONE_MINUTE FROM `2021-03-04T05:06:07-02:30`)'), '-30');
    assert.equal(value('DATE_ADD(day, 30, `2024-01-15T`)'), '2024-02-14T');
    assert.equal(value('DATE_ADD(month, 1, `2024-01-31T`)'), '2024-02-29T', 'the month end');
    assert.equal(value('DATE_ADD(year, -1, `2024-02-29T`)'), '2023-02-28T');
    assert.equal(value('DATE_ADD(hour, 2, `2024-01-01T23:00Z`)'), '2024-01-02T01:00Z');
    assert.equal(value('DATE_DIFF(day, `2024-01-01T`, `2024-03-01T`)'), '60');
    assert.equal(value('DATE_DIFF(month, `2024-01-31T`, `2024-02-29T`)'), '0');
    assert.equal(value('DATE_DIFF(year, `2020-06-01T`, `2024-05-31T`)'), '3');
    assert.equal(value('DATE_DIFF(hour, `2024-01-02T00:00Z`, `2024-01-01T00:00Z`)'), '-24');
  });

  test('aggregates skip NULL and MISSING; SUM of strings is refused', () => {
    const rows = [{ n: 4 }, { n: null }, { n: 1 }, {}, { n: 10 }];
    assert.equal(
      overJson('SELECT SUM(n), AVG(n), MIN(n), MAX(n), COUNT(n) FROM S3Object', rows),
      '{"_1":15,"_2":5,"_3":1,"_4":10,"_5":3}\n',
    );
    assert.equal(
      overJson('SELECT SUM(n) AS total FROM S3Object WHERE n > 100', rows),
      '{"total":null}\n',
    );
    assert.equal(
      overJson('SELECT MAX(s) FROM S3Object', [{ s: 'b' }, { s: 'c' }, { s: 'a' }]),
      '{"_1":"c"}\n',
    );
    assert.equal(
      code(() => overJson('SELECT SUM(s) FROM S3Object', [{ s: '1' }])),
      'IncorrectSqlFunctionArgumentType',
    );
  });

  test('CSV records: positional and header columns, quoted names exact, alias stripped', () => {
    const header = ['Name', 'age'];
    const rows = [
      ['ann', '30'],
      ['bob', '25', 'extra'],
    ];
    assert.equal(overCsv('SELECT s._2, s.name FROM S3Object s', rows, header), '30,ann\n25,bob\n');
    assert.equal(overCsv('SELECT "Name" FROM S3Object', rows, header), 'ann\nbob\n');
    assert.equal(
      overCsv('SELECT "name" FROM S3Object', rows, header),
      '\n\n',
      'quoted: exact case',
    );
    assert.equal(overCsv('SELECT _3 FROM S3Object', rows, header), '\nextra\n');
    assert.equal(overCsv('SELECT * FROM S3Object LIMIT 1', rows, header), 'ann,30\n');
    assert.equal(
      overCsv("SELECT * FROM S3Object s WHERE s.age = '25'", rows, header),
      'bob,25,extra\n',
    );
    assert.equal(overCsv('SELECT s.* FROM S3Object s LIMIT 0', rows, header), '');
  });

  test('JSON paths and names', () => {
    const doc = { a: { b: [10, { c: 'x' }] }, 'odd key': 1 };
    assert.equal(
      overJson('SELECT s.a.b[0], s.a.b[1].c FROM S3Object s', [doc]),
      '{"_1":10,"c":"x"}\n',
    );
    assert.equal(overJson('SELECT s."odd key" AS k FROM S3Object s', [doc]), '{"k":1}\n');
    assert.equal(overJson("SELECT s.a['b'][0] AS v FROM S3Object s", [doc]), '{"v":10}\n');
    assert.equal(overJson('SELECT * FROM S3Object', [doc]), `${JSON.stringify(doc)}\n`);
  });

  test('CSV output quotes as needed, or always', () => {
    const always = new CsvRowWriter({
      fieldDelimiter: ';',
      recordDelimiter: '\r\n',
      quoteCharacter: "'",
      quoteEscapeCharacter: '\\',
      quoteFields: 'ALWAYS',
    });
    assert.equal(always.write({ names: ['a', 'b'], values: ["it's", 2] }), "'it\\'s';'2'\r\n");
    assert.equal(
      csvOut().write({ names: [], values: ['a,b', 'say "hi"', 'plain', null, true] }),
      '"a,b","say ""hi""",plain,,true\n',
    );
  });

  test('parse errors carry AWS codes', () => {
    const cases: [string, string][] = [
      ['SELECT FROM S3Object', 'ParseUnexpectedToken'],
      ['SELECT * FROM S3Object WHERE', 'ParseExpectedExpression'],
      ['SELECT * S3Object', 'ParseExpectedKeyword'],
      ['SELECT * FROM t', 'ParseUnexpectedToken'],
      ['SELECT CAST(a AS BLOB) FROM S3Object', 'ParseInvalidTypeParam'],
      ['SELECT FOO(a) FROM S3Object', 'UnsupportedFunction'],
      ["SELECT TO_STRING(a, 'y') FROM S3Object", 'NotImplemented'],
      ['SELECT * FROM S3Object[*].a', 'NotImplemented'],
      ['SELECT a, COUNT(*) FROM S3Object', 'UnsupportedSqlStructure'],
      ['SELECT * FROM S3Object WHERE COUNT(*) > 1', 'UnsupportedSqlStructure'],
      ['SELECT SUM(MAX(a)) FROM S3Object', 'UnsupportedSqlStructure'],
      ['SELECT * FROM S3Object LIMIT -1', 'EvaluatorNegativeLimit'],
      ["SELECT 'abc FROM S3Object", 'LexerInvalidLiteral'],
      ['SELECT a FROM S3Object WHERE a ~ 1', 'LexerInvalidChar'],
      ['SELECT * FROM S3Object ORDER BY a', 'ParseUnexpectedToken'],
    ];
    for (const [sql, expected] of cases)
      assert.equal(
        code(() => parseQuery(sql)),
        expected,
        sql,
      );
  });
});
