// [[replication.targets]]: tables read from the file, checked item by item (a bucket served by
// two targets, a bad endpoint), and a problem never shows the secret key.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { tempDir } from '../helpers/server.ts';

const SECRET = 'do-not-print-this-secret';

function target(name: string, endpoint: string, bucket: string): string[] {
  return [
    '[[replication.targets]]',
    `name = "${name}"`,
    `endpoint = "${endpoint}"`,
    'region = "us-east-1"',
    'access_key_id = "AK"',
    `secret_key = "${SECRET}"`,
    `buckets = ["${bucket}"]`,
  ];
}

function load(lines: string[]) {
  const path = join(tempDir('strata-config-'), 'strata.toml');
  writeFileSync(path, lines.join('\n'));
  return loadConfig({ configPath: path, env: {} });
}

test('replication targets are read from [[replication.targets]] tables', () => {
  const { config } = load([
    ...target('a', 'http://127.0.0.1:9100', 'copies'),
    ...target('b', 'https://s3.example', 'other'),
  ]);
  assert.deepEqual(
    config.replication.targets.map((t) => [t.name, t.endpoint, t.buckets]),
    [
      ['a', 'http://127.0.0.1:9100', ['copies']],
      ['b', 'https://s3.example', ['other']],
    ],
  );
});

test('strata = true marks a target that is another Strata cluster (versions keep their ids)', () => {
  const { config } = load([...target('a', 'http://h:1', 'copies'), 'strata = true']);
  assert.equal(config.replication.targets[0].strata, true);
  const plain = load(target('a', 'http://h:1', 'copies')).config.replication.targets[0];
  assert.equal(plain.strata ?? false, false);
});

test('a bad target is refused, and the problem never shows its secret key', () => {
  for (const lines of [
    [...target('a', 'ftp://host', 'copies')],
    [...target('a', 'http://h:1', 'copies'), ...target('b', 'http://h:2', 'copies')],
    [...target('a', 'http://h:1', 'copies'), ...target('a', 'http://h:2', 'other')],
    [...target('a', 'http://h:1', 'copies'), 'strata = "yes"'],
  ]) {
    assert.throws(
      () => load(lines),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.match(error.message, /replication\.targets/);
        assert.ok(!error.message.includes(SECRET), `the secret is shown: ${error.message}`);
        return true;
      },
    );
  }
});
