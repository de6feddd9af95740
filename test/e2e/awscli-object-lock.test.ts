// awscli's Object Lock flows against a real server, the administrator's credential throughout:
// a COMPLIANCE-locked version survives every delete attempt through S3, `strata fs` and the
// mount (EPERM); GOVERNANCE is bypassed only with the header (and the admin's permission); a
// legal hold blocks deletion until removed; default retention applies to new versions.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canMount, mounted, type StrataMount, sh, startMount } from '../helpers/mount.ts';
import { aws } from '../helpers/s3.ts';
import { runStrata, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const DAY_MS = 86_400_000;

describe('awscli Object Lock flows', () => {
  let server: StrataProcess;
  let work: string;
  let mount: StrataMount | undefined;
  const api = async (...args: string[]) => {
    const result = await aws(server, ['s3api', ...args]);
    assert.equal(result.code, 0, `${args[0]}: ${result.stderr}`);
    return result.stdout.trim() === '' ? {} : JSON.parse(result.stdout);
  };
  const refused = async (what: string, ...args: string[]) => {
    const result = await aws(server, ['s3api', ...args]);
    assert.notEqual(result.code, 0, `${what} succeeded`);
    assert.match(result.stderr, /AccessDenied/, what);
  };
  const putFile = async (key: string, text: string, ...lock: string[]) => {
    const local = join(work, 'body.txt');
    writeFileSync(local, text);
    const put = await api(
      'put-object',
      '--bucket',
      'vault',
      '--key',
      key,
      '--body',
      local,
      ...lock,
    );
    return put.VersionId as string;
  };
  const inADay = () => new Date(Date.now() + DAY_MS).toISOString();
  const versionText = async (key: string, versionId: string) => {
    const out = join(work, 'out.txt');
    await api('get-object', '--bucket', 'vault', '--key', key, '--version-id', versionId, out);
    return readFileSync(out, 'utf8');
  };

  before(async () => {
    server = await startStrata();
    work = tempDir('strata-awscli-lock-');
    await api('create-bucket', '--bucket', 'vault', '--object-lock-enabled-for-bucket');
  });
  after(async () => {
    if (mount && mounted(mount.mountPoint)) spawnSync('umount', ['-l', mount.mountPoint]);
    await mount?.kill();
    await server?.stop();
  });

  test('COMPLIANCE: the admin cannot remove the version through S3, strata fs or the mount', async () => {
    const lock = ['--object-lock-mode', 'COMPLIANCE', '--object-lock-retain-until-date', inADay()];
    const versionId = await putFile('ledger.txt', 'entry 1\n', ...lock);
    const retention = await api(
      'get-object-retention',
      '--bucket',
      'vault',
      '--key',
      'ledger.txt',
      '--version-id',
      versionId,
    );
    assert.equal(retention.Retention.Mode, 'COMPLIANCE');
    const target = ['--bucket', 'vault', '--key', 'ledger.txt', '--version-id', versionId];
    await refused('delete-object', 'delete-object', ...target, '--bypass-governance-retention');
    await refused(
      'shortening COMPLIANCE',
      'put-object-retention',
      ...target,
      '--bypass-governance-retention',
      '--retention',
      `Mode=COMPLIANCE,RetainUntilDate=${new Date(Date.now() + 60_000).toISOString()}`,
    );
    await refused(
      'turning COMPLIANCE into GOVERNANCE',
      'put-object-retention',
      ...target,
      '--bypass-governance-retention',
      '--retention',
      `Mode=GOVERNANCE,RetainUntilDate=${inADay()}`,
    );

    const addr = ['--metadata-addr', server.metadataAddr];
    const rm = await runStrata(['fs', 'rm', '/vault/ledger.txt', ...addr]);
    assert.notEqual(rm.code, 0, 'strata fs rm removed a locked file');
    assert.match(rm.stderr, /OBJECT_LOCKED|locked|retained/i, rm.stderr);

    if (canMount) {
      mount = await startMount(server.metadataAddr);
      const file = join(mount.mountPoint, 'vault', 'ledger.txt');
      assert.equal(readFileSync(file, 'utf8'), 'entry 1\n', 'the mount reads the locked file');
      for (const [what, script] of [
        ['unlink', `rm -f '${file}'`],
        ['append', `echo more >> '${file}'`],
        ['truncate', `truncate -s 0 '${file}'`],
        ['rename', `mv '${file}' '${file}.moved'`],
      ]) {
        const result = sh(script);
        assert.notEqual(result.status, 0, `${what} on the mount succeeded`);
        assert.match(result.stderr, /Operation not permitted/, `${what}: ${result.stderr}`);
      }
      await mount.stop();
      mount = undefined;
    }

    assert.equal(await versionText('ledger.txt', versionId), 'entry 1\n');
    const listed = await api('list-object-versions', '--bucket', 'vault', '--prefix', 'ledger');
    assert.deepEqual(
      listed.Versions.map((v: { VersionId: string }) => v.VersionId),
      [versionId],
    );
    assert.equal(listed.DeleteMarkers, undefined, 'no path made even a delete marker');
  });

  test('GOVERNANCE: the delete goes through only with --bypass-governance-retention', async () => {
    const lock = ['--object-lock-mode', 'GOVERNANCE', '--object-lock-retain-until-date', inADay()];
    const versionId = await putFile('draft.txt', 'draft\n', ...lock);
    const target = ['--bucket', 'vault', '--key', 'draft.txt', '--version-id', versionId];
    await refused('delete without the bypass', 'delete-object', ...target);
    await api('delete-object', ...target, '--bypass-governance-retention');
    const listed = await api('list-object-versions', '--bucket', 'vault', '--prefix', 'draft');
    assert.equal(listed.Versions, undefined, 'the version is gone');
  });

  test('a legal hold blocks deletion until it is removed', async () => {
    const versionId = await putFile('evidence.txt', 'exhibit A\n');
    const target = ['--bucket', 'vault', '--key', 'evidence.txt', '--version-id', versionId];
    await api('put-object-legal-hold', ...target, '--legal-hold', 'Status=ON');
    assert.equal((await api('get-object-legal-hold', ...target)).LegalHold.Status, 'ON');
    await refused(
      'delete under a legal hold',
      'delete-object',
      ...target,
      '--bypass-governance-retention',
    );
    await api('put-object-legal-hold', ...target, '--legal-hold', 'Status=OFF');
    await api('delete-object', ...target);
  });

  test('default retention applies to new versions', async () => {
    await api(
      'put-object-lock-configuration',
      '--bucket',
      'vault',
      '--object-lock-configuration',
      '{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"GOVERNANCE","Days":1}}}',
    );
    const config = await api('get-object-lock-configuration', '--bucket', 'vault');
    assert.deepEqual(config.ObjectLockConfiguration.Rule.DefaultRetention, {
      Mode: 'GOVERNANCE',
      Days: 1,
    });
    const versionId = await putFile('daily.txt', 'report\n');
    const head = await api('head-object', '--bucket', 'vault', '--key', 'daily.txt');
    assert.equal(head.ObjectLockMode, 'GOVERNANCE');
    const target = ['--bucket', 'vault', '--key', 'daily.txt', '--version-id', versionId];
    await refused('delete under default retention', 'delete-object', ...target);
  });
});
