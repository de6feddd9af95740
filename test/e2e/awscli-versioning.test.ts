// awscli's versioning flow against a real server: versioning on, overwrite, delete, list the
// versions, get an old one, restore it by copying it onto its own key.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { aws } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

describe('awscli versioning flow', () => {
  let server: StrataProcess;
  let work: string;
  const api = async (...args: string[]) => {
    const result = await aws(server, ['s3api', ...args]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim() === '' ? {} : JSON.parse(result.stdout);
  };
  before(async () => {
    server = await startStrata();
    work = tempDir('strata-awscli-versions-');
  });
  after(async () => {
    await server?.stop();
  });

  test('on, overwrite, delete, list, get an old version, restore it', async () => {
    await api('create-bucket', '--bucket', 'hist');
    await api(
      'put-bucket-versioning',
      '--bucket',
      'hist',
      '--versioning-configuration',
      'Status=Enabled',
    );
    assert.equal((await api('get-bucket-versioning', '--bucket', 'hist')).Status, 'Enabled');
    const ids: string[] = [];
    for (const text of ['draft one\n', 'draft two\n']) {
      const local = join(work, 'doc.txt');
      writeFileSync(local, text);
      const put = await api('put-object', '--bucket', 'hist', '--key', 'doc.txt', '--body', local);
      ids.push(put.VersionId);
    }
    const removed = await aws(server, ['s3', 'rm', 's3://hist/doc.txt']);
    assert.equal(removed.code, 0, removed.stderr);
    const gone = await aws(server, ['s3', 'ls', 's3://hist/']);
    assert.equal(gone.stdout.trim(), '', 'the current version is a delete marker');

    const listed = await api('list-object-versions', '--bucket', 'hist');
    assert.deepEqual(
      listed.Versions.map((v: { VersionId: string }) => v.VersionId),
      [ids[1], ids[0]],
    );
    assert.equal(listed.DeleteMarkers.length, 1);
    assert.equal(listed.DeleteMarkers[0].IsLatest, true);

    const old = join(work, 'old.txt');
    const got = await api(
      'get-object',
      '--bucket',
      'hist',
      '--key',
      'doc.txt',
      '--version-id',
      ids[0],
      old,
    );
    assert.equal(got.VersionId, ids[0]);
    assert.equal(readFileSync(old, 'utf8'), 'draft one\n');

    const restored = await api(
      'copy-object',
      '--bucket',
      'hist',
      '--key',
      'doc.txt',
      '--copy-source',
      `hist/doc.txt?versionId=${ids[0]}`,
    );
    assert.equal(restored.CopySourceVersionId, ids[0]);
    const current = await aws(server, ['s3', 'cp', 's3://hist/doc.txt', '-']);
    assert.equal(current.code, 0, current.stderr);
    assert.equal(current.stdout, 'draft one\n');
    const after = await api('list-object-versions', '--bucket', 'hist');
    assert.equal(after.Versions.length, 3, 'the restore is a version of its own');
    assert.equal(after.Versions[0].VersionId, restored.VersionId);
    assert.equal(after.Versions[0].IsLatest, true);
  });
});
