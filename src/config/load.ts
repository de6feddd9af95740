import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { CREDENTIAL_ALIASES, ENV_ALIASES, KEY_ALIASES } from './aliases.ts';
import { ConfigError, type ConfigProblem, type ConfigWarning } from './errors.ts';
import { EXTRA_ENV, envName, KEY_SPECS, KEYS } from './keys.ts';
import { DEFAULT_CONFIG, type StrataConfig, setValueAt, valueAt } from './schema.ts';

export { ConfigError, type ConfigProblem, type ConfigWarning } from './errors.ts';

export interface LoadOptions {
  configPath?: string;
  flags?: Record<string, string | undefined>;
  env?: Record<string, string | undefined>;
}

export interface LoadedConfig {
  config: StrataConfig;
  configPath: string | undefined;
  warnings: ConfigWarning[]; // deprecated names in use, for the caller to log
}

// One value as one source gave it: `name` as written there (a dotted key, a variable, a flag),
// `key` the design's key it sets.
interface Setting {
  name: string;
  key: string;
  value: unknown;
  fromString: boolean; // a variable or flag: to be converted to the key's type first
  source: string;
  deprecated: boolean;
}

// Command-line flag (without dashes) -> key.
export const FLAG_KEYS: Readonly<Record<string, string>> = Object.fromEntries(
  KEYS.filter((k) => k.flag !== undefined).map((k) => [k.flag as string, k.key]),
);

// Every variable that sets a key -> [key, deprecated].
const ENV_KEYS: ReadonlyMap<string, [key: string, deprecated: boolean]> = new Map<
  string,
  [string, boolean]
>([
  ...KEYS.map((k): [string, [string, boolean]] => [envName(k.key), [k.key, false]]),
  ...Object.entries(EXTRA_ENV).map(([name, key]): [string, [string, boolean]] => [
    name,
    [key, false],
  ]),
  ...Object.entries(KEY_ALIASES).map(([old, key]): [string, [string, boolean]] => [
    envName(old),
    [key, true],
  ]),
  ...Object.entries(ENV_ALIASES).map(([name, key]): [string, [string, boolean]] => [
    name,
    [key, true],
  ]),
]);

// Every section a file may have, old names included.
const SECTIONS = new Set(
  [...KEY_SPECS.keys(), ...Object.keys(KEY_ALIASES)].flatMap((key) => {
    const parts = key.split('.');
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
  }),
);

const TOP_SECTIONS = [...new Set(KEYS.map((k) => k.key.split('.')[0]))];

// Defaults, then the file, then variables, then flags. Every problem of every source is found
// before anything is reported, so that one run lists all of them.
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const configPath = options.configPath ?? (env.STRATA_CONFIG || undefined);
  const problems: ConfigProblem[] = [];
  const warnings: ConfigWarning[] = [];
  const layers = [
    configPath ? fileSettings(configPath, problems) : [],
    envSettings(env),
    flagSettings(options.flags ?? {}),
  ];
  const config = structuredClone(DEFAULT_CONFIG);
  const origin = new Map<string, string>();
  for (const layer of layers) {
    for (const setting of withoutConflicts(layer, problems)) {
      if (setting.deprecated) warnings.push(deprecation(setting));
      const value = prepare(setting, problems, warnings);
      if (value === undefined) continue;
      const problem = KEY_SPECS.get(setting.key)?.check.test(value);
      if (problem) {
        problems.push({ key: setting.name, source: setting.source, problem });
        continue;
      }
      setValueAt(config, setting.key, value);
      origin.set(setting.key, setting.source);
    }
  }
  problems.push(...wholeProblems(config, origin));
  if (problems.length > 0) throw new ConfigError(problems);
  return { config, configPath, warnings };
}

function fileSettings(path: string, problems: ConfigProblem[]): Setting[] {
  const source = `file ${path}`;
  let table: Record<string, unknown>;
  try {
    table = parseToml(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const first = (error as Error).message.split('\n')[0];
    const problem = code ? `cannot read: ${first}` : `not valid TOML: ${first}`;
    problems.push({ key: code ? '(file)' : '(syntax)', source: path, problem });
    return [];
  }
  const settings: Setting[] = [];
  for (const [name, value] of flatten(table, '', source, problems)) {
    const alias = KEY_ALIASES[name];
    if (KEY_SPECS.has(name) || alias) {
      const key = alias ?? name;
      settings.push({ name, key, value, fromString: false, source, deprecated: !!alias });
    } else {
      problems.push({ key: name, source, problem: unknownKey(name) });
    }
  }
  return settings;
}

// Tables become dotted keys; arrays (the credentials list too) stay whole values.
function* flatten(
  table: Record<string, unknown>,
  prefix: string,
  source: string,
  problems: ConfigProblem[],
): Generator<[string, unknown]> {
  for (const [name, value] of Object.entries(table)) {
    const key = prefix + name;
    const isTable = typeof value === 'object' && value !== null && !Array.isArray(value);
    if (!isTable || value instanceof Date) {
      yield [key, value];
    } else if (SECTIONS.has(key)) {
      yield* flatten(value as Record<string, unknown>, `${key}.`, source, problems);
    } else {
      const sections = TOP_SECTIONS.map((s) => `[${s}]`).join(' ');
      problems.push({ key, source, problem: `unknown section [${key}]; sections: ${sections}` });
    }
  }
}

function unknownKey(name: string): string {
  if (!name.includes('.'))
    return `unknown key outside any section; sections: ${TOP_SECTIONS.map((s) => `[${s}]`).join(' ')}`;
  const section = name.slice(0, name.lastIndexOf('.'));
  const siblings = KEYS.map((k) => k.key).filter((k) => k.slice(0, k.lastIndexOf('.')) === section);
  if (siblings.length === 0) return 'unknown key';
  return `unknown key; [${section}] has ${siblings.map((k) => k.slice(section.length + 1)).join(', ')}`;
}

function envSettings(env: Record<string, string | undefined>): Setting[] {
  const settings: Setting[] = [];
  for (const [name, raw] of Object.entries(env)) {
    const known = ENV_KEYS.get(name);
    if (known === undefined || raw === undefined || raw === '') continue;
    const [key, deprecated] = known;
    const source = `environment ${name}`;
    settings.push({ name, key, value: raw, fromString: true, source, deprecated });
  }
  return settings;
}

function flagSettings(flags: Record<string, string | undefined>): Setting[] {
  const settings: Setting[] = [];
  for (const [flag, raw] of Object.entries(flags)) {
    const key = FLAG_KEYS[flag];
    if (key === undefined || raw === undefined) continue;
    const name = `--${flag}`;
    settings.push({
      name,
      key,
      value: raw,
      fromString: true,
      source: `flag ${name}`,
      deprecated: false,
    });
  }
  return settings;
}

// Two names for one key in one source (an old name and its new one, or STRATA_LOG_LEVEL and
// STRATA_OBSERVABILITY_LOG_LEVEL): neither is used and both are reported.
function withoutConflicts(layer: Setting[], problems: ConfigProblem[]): Setting[] {
  const byKey = Map.groupBy(layer, (s) => s.key);
  const kept: Setting[] = [];
  for (const [key, settings] of byKey) {
    if (settings.length === 1) {
      kept.push(settings[0]);
      continue;
    }
    const names = settings.map((s) => s.name).join(' and ');
    const where = settings[0].source.startsWith('file') ? settings[0].source : 'the environment';
    problems.push({ key, source: where, problem: `set twice, as ${names}: keep one (${key})` });
  }
  return kept;
}

// The value to check: converted from a string for variables and flags, credentials with their
// old names renamed. Undefined when it is already known to be wrong (the problem is recorded).
function prepare(setting: Setting, problems: ConfigProblem[], warnings: ConfigWarning[]): unknown {
  const spec = KEY_SPECS.get(setting.key);
  if (spec === undefined) return undefined;
  let value = setting.value;
  if (setting.fromString) {
    const converted = fromString(spec.check.kind, value as string);
    if ('problem' in converted) {
      problems.push({ key: setting.name, source: setting.source, problem: converted.problem });
      return undefined;
    }
    value = converted.value;
  }
  if (spec.check.kind === 'credentials' && Array.isArray(value))
    return renameCredentialKeys(value, setting, problems, warnings);
  // TOML tables come with a null prototype: plain objects, as every other source gives.
  if (spec.check.kind === 'tables' && Array.isArray(value))
    return value.map((item) => (typeof item === 'object' && item !== null ? { ...item } : item));
  return value;
}

function fromString(kind: string, raw: string): { value: unknown } | { problem: string } {
  switch (kind) {
    case 'int':
      return { value: /^-?\d+$/.test(raw) ? Number(raw) : raw };
    case 'bool':
      return { value: raw === 'true' ? true : raw === 'false' ? false : raw };
    case 'list':
      if (!raw.trimStart().startsWith('['))
        return {
          value: raw
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0),
        };
      return tomlValue(raw);
    case 'credentials':
    case 'tables':
      return tomlValue(raw);
    default:
      return { value: raw };
  }
}

// A list given as a TOML inline array, e.g. [{ access_key_id = "k", secret_key = "..." }].
function tomlValue(raw: string): { value: unknown } | { problem: string } {
  try {
    return { value: (parseToml(`v = ${raw}`) as { v: unknown }).v };
  } catch (error) {
    return { problem: `not a TOML value: ${(error as Error).message.split('\n')[0]}` };
  }
}

function renameCredentialKeys(
  list: unknown[],
  setting: Setting,
  problems: ConfigProblem[],
  warnings: ConfigWarning[],
): unknown {
  const where = `${setting.name} item`;
  let ok = true;
  const renamed = list.map((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return item;
    const entry = { ...(item as Record<string, unknown>) };
    for (const [old, name] of Object.entries(CREDENTIAL_ALIASES)) {
      if (!(old in entry)) continue;
      if (name in entry) {
        problems.push({
          key: `${where} ${i}`,
          source: setting.source,
          problem: `both ${old} and ${name} set: keep ${name}`,
        });
        ok = false;
      }
      warnings.push({ name: `${where} ${i}: ${old}`, use: name, source: setting.source });
      entry[name] = entry[old];
      delete entry[old];
    }
    return entry;
  });
  if (!ok) return undefined;
  return renamed.map((c) => {
    const cred = c as { access_key_id: string; user_id?: string; admin?: boolean };
    if (typeof cred !== 'object' || cred === null) return c;
    return { ...cred, user_id: cred.user_id ?? cred.access_key_id, admin: cred.admin ?? false };
  });
}

function deprecation(setting: Setting): ConfigWarning {
  const use =
    setting.fromString && setting.name.startsWith('STRATA_') ? envName(setting.key) : setting.key;
  return { name: setting.name, use, source: setting.source };
}

// Rules over several keys, checked once every source is applied.
function wholeProblems(config: StrataConfig, origin: Map<string, string>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { data_shards, parity_shards } = config.erasure_coding;
  if (data_shards + parity_shards > 256) {
    const key = 'erasure_coding.parity_shards';
    const source = origin.get(key) ?? origin.get('erasure_coding.data_shards') ?? 'defaults';
    problems.push({ key, source, problem: 'data_shards + parity_shards must be at most 256' });
  }
  // HTTPS needs both files; one alone is a half-made setting, not plain HTTP.
  if ((config.s3.tls_cert === '') !== (config.s3.tls_key === '')) {
    const key = config.s3.tls_cert === '' ? 's3.tls_cert' : 's3.tls_key';
    const other = key === 's3.tls_cert' ? 's3.tls_key' : 's3.tls_cert';
    const source = origin.get(other) ?? 'defaults';
    problems.push({ key, source, problem: 's3.tls_cert and s3.tls_key are set together' });
  }
  const seen = new Set<string>();
  for (const cred of config.s3.auth.credentials) {
    if (seen.has(cred.access_key_id)) {
      problems.push({
        key: 's3.auth.credentials',
        source: origin.get('s3.auth.credentials') ?? 'defaults',
        problem: `access_key_id "${cred.access_key_id}" appears twice`,
      });
    }
    seen.add(cred.access_key_id);
  }
  return problems;
}

// For the reference and its test: the default of a key as the docs show it.
export function defaultOf(key: string): unknown {
  return valueAt(DEFAULT_CONFIG, key);
}
