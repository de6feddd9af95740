import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { REPO_ROOT, runStrata, tempDir } from '../helpers/server.ts';

function writeToml(text: string): string {
  const path = join(tempDir('strata-config-'), 'strata.toml');
  writeFileSync(path, text);
  return path;
}

describe('configuration', () => {
  test('defaults are the documented single-node ports', () => {
    const { config } = loadConfig({ env: {} });
    assert.equal(config.metadata.bind_addr, '127.0.0.1:9000');
    assert.equal(config.data.bind_addr, '127.0.0.1:9001');
    assert.equal(config.s3.bind_addr, '127.0.0.1:9002');
    assert.equal(config.observability.metrics_addr, '127.0.0.1:9090');
    assert.equal(config.storage.data_dir, './strata-data');
    assert.equal(config.storage.metadata_dir, '');
    assert.deepEqual(
      [config.erasure_coding.data_shards, config.erasure_coding.parity_shards],
      [4, 2],
    );
  });

  test('placement strategy, failure-domain labels and liveness settings are checked keys', () => {
    const path = writeToml(
      '[placement]\nstrategy = "least-loaded"\n[data]\nzone = "eu-1"\nrack = "r7"\n' +
        'heartbeat_interval_ms = 500\n[metadata]\nserver_down_after_seconds = 30\n',
    );
    const { config } = loadConfig({ configPath: path, env: {} });
    assert.equal(config.placement.strategy, 'least-loaded');
    assert.deepEqual([config.data.zone, config.data.rack, config.data.host], ['eu-1', 'r7', '']);
    assert.equal(config.data.heartbeat_interval_ms, 500);
    assert.equal(config.metadata.server_down_after_seconds, 30);
    assert.equal(loadConfig({ env: {} }).config.placement.strategy, 'spread-domains');
    const refused = (text: string, key: string) =>
      assert.throws(
        () => loadConfig({ configPath: writeToml(text), env: {} }),
        (e: unknown) => e instanceof ConfigError && e.key === key,
      );
    refused('[placement]\nstrategy = "round-robin"\n', 'placement.strategy');
    refused('[data]\nzone = ""\n', 'data.zone');
    refused('[data]\nrack = "a\\nb"\n', 'data.rack');
    refused('[data]\nheartbeat_interval_ms = 10\n', 'data.heartbeat_interval_ms');
  });

  test('repair concurrency and bandwidth are checked keys with defaults', () => {
    const path = writeToml('[repair]\nmax_concurrent = 8\nbandwidth_bytes_per_second = 10485760\n');
    const { config } = loadConfig({ configPath: path, env: {} });
    assert.deepEqual(config.repair, { max_concurrent: 8, bandwidth_bytes_per_second: 10485760 });
    assert.deepEqual(loadConfig({ env: {} }).config.repair, {
      max_concurrent: 4,
      bandwidth_bytes_per_second: 100 * 1024 * 1024,
    });
    for (const [text, key] of [
      ['[repair]\nmax_concurrent = 0\n', 'repair.max_concurrent'],
      ['[repair]\nbandwidth_bytes_per_second = 10\n', 'repair.bandwidth_bytes_per_second'],
    ])
      assert.throws(
        () => loadConfig({ configPath: writeToml(text), env: {} }),
        (e: unknown) => e instanceof ConfigError && e.key === key,
      );
  });

  test('the inline threshold defaults to 64 KiB, 0 turns it off, and 256 KiB is its maximum', () => {
    assert.equal(loadConfig({ env: {} }).config.erasure_coding.inline_max_bytes, 64 * 1024);
    for (const value of [0, 262_144]) {
      const path = writeToml(`[erasure_coding]\ninline_max_bytes = ${value}\n`);
      assert.equal(
        loadConfig({ configPath: path, env: {} }).config.erasure_coding.inline_max_bytes,
        value,
      );
    }
    for (const value of [262_145, -1])
      assert.throws(
        () =>
          loadConfig({
            configPath: writeToml(`[erasure_coding]\ninline_max_bytes = ${value}\n`),
            env: {},
          }),
        (e: unknown) => e instanceof ConfigError && e.key === 'erasure_coding.inline_max_bytes',
      );
  });

  test('flags beat environment variables, which beat the file', () => {
    const path = writeToml(
      '[storage]\ndata_dir = "/from/file"\n[s3]\nbind_addr = "127.0.0.1:7000"\n',
    );
    const { config } = loadConfig({
      configPath: path,
      env: { STRATA_STORAGE_DATA_DIR: '/from/env' },
      flags: { 's3-addr': '127.0.0.1:7001' },
    });
    assert.equal(config.storage.data_dir, '/from/env');
    assert.equal(config.s3.bind_addr, '127.0.0.1:7001');
  });

  test('the example file parses, credentials included', () => {
    const { config } = loadConfig({
      configPath: join(REPO_ROOT, 'docs/examples/strata.toml'),
      env: {},
    });
    assert.equal(config.s3.auth.credentials.length, 2);
    assert.equal(config.s3.auth.credentials[0].user_id, 'admin');
    assert.deepEqual(config.metadata.raft_peers, ['node2:9000', 'node3:9000']);
  });

  test('an unknown key is an error naming the key and the file', () => {
    const path = writeToml('[s3]\nadress = "127.0.0.1:1"\n');
    assert.throws(
      () => loadConfig({ configPath: path, env: {} }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === 's3.adress' &&
        error.message.includes(path) &&
        error.message.includes('unknown key'),
    );
  });

  test('a bad value is an error naming the key, the file and what was expected', () => {
    const path = writeToml('[erasure_coding]\ndata_shards = "four"\n');
    assert.throws(
      () => loadConfig({ configPath: path, env: {} }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.key === 'erasure_coding.data_shards' &&
        /integer/.test(error.message),
    );
  });

  test('a bad environment variable names the variable', () => {
    assert.throws(
      () => loadConfig({ env: { STRATA_S3_BIND_ADDR: 'nonsense' } }),
      (error: unknown) =>
        error instanceof ConfigError && error.message.includes('STRATA_S3_BIND_ADDR'),
    );
  });

  test('strata server with a malformed config file exits 2 with a clear message', async () => {
    const path = writeToml('[metadata]\nbind_addr = 9000\n');
    const result = await runStrata(['server', '--config', path]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /metadata\.bind_addr/);
    assert.ok(result.stderr.includes(path), result.stderr);
  });

  test('strata server with a file that is not TOML exits 2', async () => {
    const path = writeToml('[node\nid = 1\n');
    const result = await runStrata(['server', '--config', path]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /not valid TOML/);
  });

  test('credentials that the users table would refuse stop the load, with the reason', () => {
    const creds = (entries: string[]) =>
      `[s3.auth]\ncredentials = [\n${entries.map((e) => `  ${e},`).join('\n')}\n]\n`;
    const entry = (key: string, user?: string) =>
      `{ access_key_id = "${key}", secret_key = "secret-${key}"${user ? `, user_id = "${user}"` : ''} }`;
    const refused = (text: string, reason: RegExp) =>
      assert.throws(
        () => loadConfig({ configPath: writeToml(text), env: {} }),
        (e: unknown) =>
          e instanceof ConfigError && e.key === 's3.auth.credentials' && reason.test(e.message),
      );
    refused(
      creds([entry('AK1', 'ann'), entry('AK2', 'ann'), entry('AK3', 'ann')]),
      /ann has more than 2/,
    );
    refused(creds([entry('AK1', 'ann'), entry('AK1', 'bob')]), /AK1 is listed twice/);
    refused(creds([entry('AK1', 'a b')]), /user_id must be/);
    const { config } = loadConfig({
      configPath: writeToml(creds([entry('AK1', 'ann'), entry('AK2', 'ann'), entry('AK3')])),
      env: {},
    });
    assert.deepEqual(
      config.s3.auth.credentials.map((c) => c.user_id),
      ['ann', 'ann', 'AK3'],
    );
  });
});
