// The design's configuration as the contract: its names, its variables, the old names as
// deprecated aliases, and every problem reported in one pass.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { KEY_ALIASES } from '../../src/config/aliases.ts';
import { EXTRA_ENV, envName, KEYS } from '../../src/config/keys.ts';
import { ConfigError, FLAG_KEYS, loadConfig } from '../../src/config/load.ts';
import { valueAt } from '../../src/config/schema.ts';
import { runStrata, startStrata, tempDir } from '../helpers/server.ts';

function writeToml(text: string): string {
  const path = join(tempDir('strata-contract-'), 'strata.toml');
  writeFileSync(path, text);
  return path;
}

function problemsOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  assert.fail('expected a ConfigError');
}

describe('the design configuration', () => {
  test("the design's section and key names are read", () => {
    const path = writeToml(
      [
        '[storage]',
        'data_dir = "/srv/strata"',
        'metadata_dir = "/ssd/strata-meta"',
        '[metadata]',
        'bind_addr = "0.0.0.0:9000"',
        'advertise_addr = "node1:9000"',
        'raft_peers = ["node2:9000", "node3:9000"]',
        '[data]',
        'bind_addr = "0.0.0.0:9001"',
        '[s3]',
        'bind_addr = "0.0.0.0:9002"',
        '[s3.auth]',
        'credentials = [{ access_key_id = "AKID0001", secret_key = "secret-0001", user_id = "ann" }]',
        '[erasure_coding]',
        'data_shards = 6',
        'parity_shards = 3',
        '[observability]',
        'log_level = "trace"',
      ].join('\n'),
    );
    const { config, warnings } = loadConfig({ configPath: path, env: {} });
    assert.deepEqual(warnings, []);
    assert.deepEqual(config.storage, { data_dir: '/srv/strata', metadata_dir: '/ssd/strata-meta' });
    assert.equal(config.metadata.bind_addr, '0.0.0.0:9000');
    assert.equal(config.metadata.advertise_addr, 'node1:9000');
    assert.deepEqual(config.metadata.raft_peers, ['node2:9000', 'node3:9000']);
    assert.equal(config.data.bind_addr, '0.0.0.0:9001');
    assert.equal(config.s3.bind_addr, '0.0.0.0:9002');
    assert.deepEqual(config.s3.auth.credentials, [
      { access_key_id: 'AKID0001', secret_key: 'secret-0001', user_id: 'ann', admin: false },
    ]);
    assert.deepEqual(config.erasure_coding, {
      data_shards: 6,
      parity_shards: 3,
      shard_size_bytes: 1024 * 1024,
      inline_max_bytes: 64 * 1024,
    });
    assert.equal(config.observability.log_level, 'trace');
  });

  test("the design's flags set the design's keys", () => {
    const { config } = loadConfig({
      env: {},
      flags: {
        'node-id': '7',
        'metadata-addr': '10.0.0.1:9000',
        'data-addr': '10.0.0.1:9001',
        's3-addr': '10.0.0.1:9002',
        'data-dir': '/data/strata',
      },
    });
    assert.equal(config.node.id, 7);
    assert.equal(config.metadata.bind_addr, '10.0.0.1:9000');
    assert.equal(config.data.bind_addr, '10.0.0.1:9001');
    assert.equal(config.s3.bind_addr, '10.0.0.1:9002');
    assert.equal(config.storage.data_dir, '/data/strata');
  });

  test('STRATA_<SECTION>_<KEY> names every key, and no two keys share a name', () => {
    const names = KEYS.map((k) => envName(k.key));
    assert.equal(new Set(names).size, names.length, 'variable names are distinct');
    assert.ok(names.includes('STRATA_NODE_ID'));
    assert.ok(names.includes('STRATA_S3_AUTH_ALLOW_ANONYMOUS'));
    assert.deepEqual(EXTRA_ENV, { STRATA_LOG_LEVEL: 'observability.log_level' });
    for (const alias of Object.keys(KEY_ALIASES))
      assert.ok(!names.includes(envName(alias)), `${envName(alias)} is not also a design name`);
  });

  test('every key can be set by its variable', () => {
    // One value per key, different from its default, as the variable's text.
    const sample: Record<string, [string, unknown]> = {};
    for (const { key, check } of KEYS) {
      const current = valueAt(loadConfig({ env: {} }).config, key);
      const text = sampleText(key, check.kind, current);
      sample[envName(key)] = [text.raw, text.value];
    }
    const env = Object.fromEntries(Object.entries(sample).map(([name, [raw]]) => [name, raw]));
    const { config, warnings } = loadConfig({ env });
    assert.deepEqual(warnings, []);
    for (const { key } of KEYS) {
      assert.deepEqual(
        valueAt(config, key),
        sample[envName(key)][1],
        `${envName(key)} sets ${key}`,
      );
    }
  });

  test('STRATA_NODE_ID and STRATA_LOG_LEVEL work; the config file comes from STRATA_CONFIG', () => {
    const path = writeToml('[node]\nrole = "metadata"\n');
    const { config, configPath } = loadConfig({
      env: { STRATA_NODE_ID: '3', STRATA_LOG_LEVEL: 'trace', STRATA_CONFIG: path },
    });
    assert.equal(configPath, path);
    assert.equal(config.node.id, 3);
    assert.equal(config.node.role, 'metadata');
    assert.equal(config.observability.log_level, 'trace');
  });

  test('lists in a variable: a comma list, or a TOML inline array (credentials too)', () => {
    const { config } = loadConfig({
      env: {
        STRATA_METADATA_RAFT_PEERS: 'node2:9000, node3:9000',
        STRATA_S3_VIRTUAL_HOST_DOMAINS: '["s3.example.com", "localhost"]',
        STRATA_S3_AUTH_CREDENTIALS: '[{ access_key_id = "AKIDENV1", secret_key = "12345678" }]',
      },
    });
    assert.deepEqual(config.metadata.raft_peers, ['node2:9000', 'node3:9000']);
    assert.deepEqual(config.s3.virtual_host_domains, ['s3.example.com', 'localhost']);
    assert.equal(config.s3.auth.credentials[0].user_id, 'AKIDENV1');
  });
});

describe('deprecated names', () => {
  test('the old names still work, each with a warning naming its replacement', () => {
    const path = writeToml(
      [
        '[node]',
        'data_dir = "/old/dir"',
        '[metadata]',
        'addr = "127.0.0.1:7000"',
        '[erasure]',
        'data_shards = 3',
        '[s3.auth]',
        'credentials = [{ access_key = "OLDKEY1", secret_key = "old-secret", user = "bob" }]',
      ].join('\n'),
    );
    const { config, warnings } = loadConfig({
      configPath: path,
      env: { STRATA_S3_ADDR: '127.0.0.1:7002', STRATA_ROLE: 'metadata' },
    });
    assert.equal(config.storage.data_dir, '/old/dir');
    assert.equal(config.metadata.bind_addr, '127.0.0.1:7000');
    assert.equal(config.erasure_coding.data_shards, 3);
    assert.equal(config.s3.bind_addr, '127.0.0.1:7002');
    assert.equal(config.node.role, 'metadata');
    assert.deepEqual(config.s3.auth.credentials, [
      { access_key_id: 'OLDKEY1', secret_key: 'old-secret', user_id: 'bob', admin: false },
    ]);
    const said = warnings.map((w) => `${w.name} -> ${w.use}`).sort();
    assert.deepEqual(said, [
      'STRATA_ROLE -> STRATA_NODE_ROLE',
      'STRATA_S3_ADDR -> STRATA_S3_BIND_ADDR',
      'erasure.data_shards -> erasure_coding.data_shards',
      'metadata.addr -> metadata.bind_addr',
      'node.data_dir -> storage.data_dir',
      's3.auth.credentials item 0: access_key -> access_key_id',
      's3.auth.credentials item 0: user -> user_id',
    ]);
  });

  test('an old name and its new name both set in one source is an error', () => {
    const path = writeToml(
      '[metadata]\naddr = "127.0.0.1:7000"\nbind_addr = "127.0.0.1:7001"\n' +
        '[erasure]\nparity_shards = 1\n[erasure_coding]\nparity_shards = 2\n' +
        '[s3.auth]\ncredentials = [{ access_key = "K1234", access_key_id = "K1234", secret_key = "12345678" }]\n',
    );
    const error = problemsOf(() =>
      loadConfig({
        configPath: path,
        env: { STRATA_LOG_LEVEL: 'debug', STRATA_OBSERVABILITY_LOG_LEVEL: 'warn' },
      }),
    );
    const keys = error.problems.map((p) => p.key).sort();
    assert.deepEqual(keys, [
      'erasure_coding.parity_shards',
      'metadata.bind_addr',
      'observability.log_level',
      's3.auth.credentials item 0',
    ]);
    assert.match(error.message, /set twice, as metadata\.addr and metadata\.bind_addr/);
    assert.match(error.message, /both access_key and access_key_id set/);
  });

  test('an old name in one source and the new in another follow precedence', () => {
    const path = writeToml('[metadata]\naddr = "127.0.0.1:7000"\n');
    const { config } = loadConfig({
      configPath: path,
      env: {},
      flags: { 'metadata-addr': '127.0.0.1:7001' },
    });
    assert.equal(config.metadata.bind_addr, '127.0.0.1:7001');
  });

  test('strata server starts with an old name and logs a warning naming the new one', async () => {
    const path = writeToml('[erasure]\ndata_shards = 4\n');
    const server = await startStrata({ args: ['--config', path] });
    try {
      const line = server
        .output()
        .split('\n')
        .find((l) => l.includes('deprecated configuration name'));
      assert.ok(line, `a warning is logged:\n${server.output()}`);
      const record = JSON.parse(line) as Record<string, unknown>;
      assert.equal(record.level, 'warn');
      assert.equal(record.name, 'erasure.data_shards');
      assert.equal(record.use, 'erasure_coding.data_shards');
    } finally {
      await server.stop();
    }
  });
});

describe('every problem in one pass', () => {
  test('unknown keys and sections, bad values and whole-configuration rules together', () => {
    const path = writeToml(
      [
        'log_level = "info"',
        '[metadata]',
        'bind_adr = "127.0.0.1:9000"',
        'raft_peers = ["node2"]',
        '[data]',
        'zone = ""',
        '[s3]',
        'adress = "x"',
        '[storage]',
        'data_dir = 5',
        '[erasure_coding]',
        'data_shards = 200',
        'parity_shards = 100',
        '[observability]',
        'log_level = "verbose"',
        '[telemetry]',
        'on = true',
      ].join('\n'),
    );
    const error = problemsOf(() =>
      loadConfig({ configPath: path, env: { STRATA_NODE_ID: 'one' }, flags: { 's3-addr': 'x' } }),
    );
    const got = error.problems.map((p) => `${p.key} @ ${p.source.split(' ')[0]}`).sort();
    assert.deepEqual(got, [
      '--s3-addr @ flag',
      'STRATA_NODE_ID @ environment',
      'data.zone @ file',
      'erasure_coding.parity_shards @ file',
      'log_level @ file',
      'metadata.bind_adr @ file',
      'metadata.raft_peers @ file',
      'observability.log_level @ file',
      's3.adress @ file',
      'storage.data_dir @ file',
      'telemetry @ file',
    ]);
    for (const p of error.problems.filter((p) => p.source.startsWith('file')))
      assert.equal(p.source, `file ${path}`, 'each names the file');
    assert.match(error.message, /^invalid configuration, 11 problems:/);
    assert.match(error.message, /log_level .*unknown key outside any section; sections: \[node\]/);
    assert.match(error.message, /metadata\.bind_adr .*unknown key; \[metadata\] has bind_addr,/);
    assert.match(error.message, /unknown section \[telemetry\]/);
  });

  test('strata server prints all of them and exits 2', async () => {
    const path = writeToml('[metadata]\nbind_adr = "x"\n[data]\nzone = ""\n[s3]\nbind_addr = 1\n');
    const result = await runStrata(['server', '--config', path]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /3 problems/);
    for (const key of ['metadata.bind_adr', 'data.zone', 's3.bind_addr'])
      assert.ok(result.stderr.includes(`${key} (file ${path})`), result.stderr);
  });

  test('every flag names a key', () => {
    for (const [flag, key] of Object.entries(FLAG_KEYS))
      assert.ok(
        KEYS.some((k) => k.key === key),
        `--${flag} -> ${key}`,
      );
  });
});

function sampleText(key: string, kind: string, current: unknown): { raw: string; value: unknown } {
  switch (kind) {
    case 'int': {
      // Off by one from the default, within the key's range (a default of 0 or 1 goes up).
      const n = current as number;
      const value = n <= 1 ? n + 1 : n - 1;
      return { raw: String(value), value };
    }
    case 'bool':
      return { raw: String(!current), value: !current };
    case 'list':
      return { raw: 'h1:1,h2:2', value: ['h1:1', 'h2:2'] };
    case 'credentials':
      return {
        raw: '[{ access_key_id = "AKID9", secret_key = "secret-9", admin = true }]',
        value: [{ access_key_id: 'AKID9', secret_key: 'secret-9', user_id: 'AKID9', admin: true }],
      };
    case 'tables': {
      const target = {
        name: 'dr',
        endpoint: 'https://s3.example',
        region: 'eu-west-1',
        access_key_id: 'AKID9',
        secret_key: 'secret-9',
        buckets: ['copies'],
      };
      const raw =
        '[{ name = "dr", endpoint = "https://s3.example", region = "eu-west-1", ' +
        'access_key_id = "AKID9", secret_key = "secret-9", buckets = ["copies"] }]';
      return { raw, value: [target] };
    }
    default:
      return stringSample(key);
  }
}

function stringSample(key: string): { raw: string; value: unknown } {
  const choices: Record<string, string> = {
    'node.role': 'data',
    'placement.strategy': 'random',
    'observability.log_level': 'trace',
    'encryption.cipher': 'chacha20-poly1305',
    'data.repair_io_class': 'best-effort',
    'data.repair_cpu_class': 'nice',
  };
  if (choices[key]) return { raw: choices[key], value: choices[key] };
  if (key.endsWith('addr')) return { raw: 'host.example:1234', value: 'host.example:1234' };
  return { raw: 'some-value', value: 'some-value' };
}
