// docs/api/types.md against the code: every StrataErrorCode has exactly one row, and each row's
// S3 code, HTTP status and errno are what the gateway's and the mount's one mapping answer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StrataError, type StrataErrorCode } from '../../src/common/errors.ts';
import { errnoOf } from '../../src/fuse/errno.ts';
import { toS3Error } from '../../src/s3/errors.ts';
import { REPO_ROOT } from '../helpers/server.ts';

// The members of the StrataErrorCode union, read from its source (types leave nothing at run time).
function codesInSource(): string[] {
  const text = readFileSync(join(REPO_ROOT, 'src', 'common', 'errors.ts'), 'utf8');
  const start = text.indexOf('export type ErrnoCode');
  const end = text.indexOf('export class StrataError');
  assert.ok(start >= 0 && end > start, 'the code unions moved in src/common/errors.ts');
  return [...text.slice(start, end).matchAll(/^\s*\| '([A-Z][A-Z0-9_]*)'/gm)].map((m) => m[1]);
}

interface Row {
  code: string;
  s3Code: string;
  status: number;
  errnoName: string;
  errno: number;
}

function rowsInDoc(): Row[] {
  const text = readFileSync(join(REPO_ROOT, 'docs', 'api', 'types.md'), 'utf8');
  const section = text.slice(text.indexOf('## Error codes'));
  // S3 codes may hold dots: SSE-KMS's errors are AWS KMS's exception names (KMS.NotFoundException).
  const row =
    /^\| `([A-Z][A-Z0-9_]*)` \| [^|]+ \| `([\w.]+)` (\d{3}) \| `(E[A-Z]+)` \((\d+)\) \|$/gm;
  return [...section.matchAll(row)].map((m) => ({
    code: m[1],
    s3Code: m[2],
    status: Number(m[3]),
    errnoName: m[4],
    errno: Number(m[5]),
  }));
}

test('every error code has one row in docs/api/types.md, and no row names another', () => {
  const codes = codesInSource();
  const rows = rowsInDoc();
  assert.ok(codes.length > 40, `only ${codes.length} codes read from the source`);
  const documented = rows.map((r) => r.code);
  assert.deepEqual(
    codes.filter((c) => !documented.includes(c)),
    [],
    'codes missing from docs/api/types.md',
  );
  assert.deepEqual(
    documented.filter((c) => !codes.includes(c)),
    [],
    'rows for codes that do not exist',
  );
  assert.equal(new Set(documented).size, documented.length, 'a code has two rows');
});

test("each row's S3 error, HTTP status and errno are the code's mapping", () => {
  for (const row of rowsInDoc()) {
    const error = new StrataError(row.code as StrataErrorCode, 'documented');
    const s3 = toS3Error(error);
    assert.equal(`${s3.s3Code} ${s3.httpStatus}`, `${row.s3Code} ${row.status}`, row.code);
    assert.equal(errnoOf(error), row.errno, `${row.code}: errno`);
    const byName = constants.errno[row.errnoName as keyof typeof constants.errno];
    assert.equal(byName, row.errno, `${row.code}: ${row.errnoName} is not ${row.errno}`);
  }
});
