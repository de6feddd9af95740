import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { StrataError } from '../common/errors.ts';
import { CONFIG_KEYS, DEFAULT_CONFIG, type StrataConfig } from './schema.ts';

// Where a value came from, for error messages that name the key and the file, variable or flag.
export type Source =
  | { kind: 'file'; path: string }
  | { kind: 'env'; name: string }
  | { kind: 'flag'; name: string };

export class ConfigError extends StrataError {
  readonly key: string;
  readonly source: string;
  constructor(key: string, source: string, problem: string) {
    super('CONFIG_INVALID', `invalid configuration: ${key} (${source}): ${problem}`);
    this.name = 'ConfigError';
    this.key = key;
    this.source = source;
  }
}

// Command-line flag -> config key. Flags that are not config keys (like --config) are handled
// by the CLI itself.
export const FLAG_KEYS: Record<string, string> = {
  'node-id': 'node.id',
  role: 'node.role',
  'data-dir': 'node.data_dir',
  'metadata-addr': 'metadata.addr',
  'raft-peers': 'metadata.raft_peers',
  'raft-join': 'metadata.raft_join',
  'data-addr': 'data.addr',
  disks: 'data.disks',
  's3-addr': 's3.addr',
  region: 's3.region',
  'metrics-addr': 'observability.metrics_addr',
  'log-level': 'observability.log_level',
};

// STRATA_<FLAG_NAME> for every flag above, e.g. STRATA_DATA_DIR, STRATA_S3_ADDR.
export const ENV_KEYS: Record<string, string> = Object.fromEntries(
  Object.entries(FLAG_KEYS).map(([flag, key]) => [
    `STRATA_${flag.toUpperCase().replaceAll('-', '_')}`,
    key,
  ]),
);

export interface LoadOptions {
  configPath?: string;
  flags?: Record<string, string | undefined>;
  env?: Record<string, string | undefined>;
}

export interface LoadedConfig {
  config: StrataConfig;
  configPath: string | undefined;
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const configPath = options.configPath ?? env.STRATA_CONFIG;
  const config = structuredClone(DEFAULT_CONFIG);
  if (configPath) applyFile(config, configPath);
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw !== undefined && raw !== '')
      setKey(config, key, coerce(key, raw), `environment ${name}`);
  }
  for (const [flag, raw] of Object.entries(options.flags ?? {})) {
    const key = FLAG_KEYS[flag];
    if (key === undefined || raw === undefined) continue;
    setKey(config, key, coerce(key, raw), `flag --${flag}`);
  }
  checkWhole(config, configPath ?? 'defaults');
  return { config, configPath };
}

function applyFile(config: StrataConfig, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('(file)', path, `cannot read: ${(error as Error).message}`);
  }
  let table: Record<string, unknown>;
  try {
    table = parseToml(text) as Record<string, unknown>;
  } catch (error) {
    const first = (error as Error).message.split('\n')[0];
    throw new ConfigError('(syntax)', path, `not valid TOML: ${first}`);
  }
  for (const [key, value] of flatten(table, '', path)) setKey(config, key, value, `file ${path}`);
}

// Tables become dotted keys; arrays and the credentials list stay whole values.
function* flatten(
  table: Record<string, unknown>,
  prefix: string,
  path: string,
): Generator<[string, unknown]> {
  for (const [name, value] of Object.entries(table)) {
    const key = prefix + name;
    const isTable = typeof value === 'object' && value !== null && !Array.isArray(value);
    if (isTable && !(value instanceof Date)) {
      if (!Object.keys(CONFIG_KEYS).some((k) => k.startsWith(`${key}.`))) {
        throw new ConfigError(key, `file ${path}`, `unknown section [${key}]`);
      }
      yield* flatten(value as Record<string, unknown>, `${key}.`, path);
    } else {
      yield [key, value];
    }
  }
}

function setKey(config: StrataConfig, key: string, value: unknown, source: string): void {
  const check = CONFIG_KEYS[key];
  if (!check)
    throw new ConfigError(
      key,
      source,
      `unknown key; valid keys: ${Object.keys(CONFIG_KEYS).join(', ')}`,
    );
  const problem = check(value);
  if (problem) throw new ConfigError(key, source, problem);
  const path = key.split('.');
  let node = config as unknown as Record<string, unknown>;
  for (const part of path.slice(0, -1)) node = node[part] as Record<string, unknown>;
  const leaf = path[path.length - 1];
  node[leaf] = key === 's3.auth.credentials' ? normaliseCredentials(value as object[]) : value;
}

function normaliseCredentials(list: object[]): unknown {
  return list.map((c) => {
    const cred = c as { access_key: string; secret_key: string; user?: string; admin?: boolean };
    return {
      access_key: cred.access_key,
      secret_key: cred.secret_key,
      user: cred.user ?? cred.access_key,
      admin: cred.admin ?? false,
    };
  });
}

// Flags and variables are strings; turn them into the type the key wants before checking.
function coerce(key: string, raw: string): unknown {
  const sample = CONFIG_KEYS[key];
  if (!sample) return raw;
  if (
    key === 'node.id' ||
    key.endsWith('_count') ||
    key.endsWith('_bytes') ||
    key.endsWith('_seconds')
  ) {
    return /^\d+$/.test(raw) ? Number(raw) : raw;
  }
  if (key.endsWith('raft_peers') || key.endsWith('disks') || key.endsWith('domains')) {
    return raw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  }
  if (key.endsWith('allow_anonymous') || key.endsWith('raft_join'))
    return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}

function checkWhole(config: StrataConfig, source: string): void {
  const { data_shards, parity_shards } = config.erasure;
  if (data_shards + parity_shards > 256) {
    throw new ConfigError(
      'erasure.parity_shards',
      source,
      'data_shards + parity_shards must be at most 256',
    );
  }
  const keys = new Set<string>();
  for (const cred of config.s3.auth.credentials) {
    if (keys.has(cred.access_key)) {
      throw new ConfigError(
        's3.auth.credentials',
        source,
        `access_key "${cred.access_key}" appears twice`,
      );
    }
    keys.add(cred.access_key);
  }
}
