// The configuration reference as Markdown, rendered from the key table and the deprecated names,
// for docs/guides/configuration.md (scripts/docs-config.ts writes it; a test compares).

import { CREDENTIAL_ALIASES, ENV_ALIASES, KEY_ALIASES } from './aliases.ts';
import { EXTRA_ENV, envName, KEYS } from './keys.ts';
import { DEFAULT_CONFIG, valueAt } from './schema.ts';

export const REFERENCE_BEGIN =
  '<!-- BEGIN GENERATED from src/config/keys.ts by `npm run docs:config`: do not edit -->';
export const REFERENCE_END = '<!-- END GENERATED -->';

export function renderReference(): string {
  return [REFERENCE_BEGIN, '', ...keyTable(), '', ...aliasTable(), '', REFERENCE_END].join('\n');
}

function keyTable(): string[] {
  const rows = KEYS.map((spec) => {
    const env = [
      envName(spec.key),
      ...Object.entries(EXTRA_ENV)
        .filter(([, key]) => key === spec.key)
        .map(([name]) => name),
    ];
    const cells = [
      code(spec.key),
      spec.flag ? code(`--${spec.flag}`) : '',
      env.map(code).join(', '),
      code(showDefault(valueAt(DEFAULT_CONFIG, spec.key))),
      spec.doc,
    ];
    return `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  });
  return ['| key | flag | environment | default | meaning |', '|---|---|---|---|---|', ...rows];
}

function aliasTable(): string[] {
  const rows = [
    ...Object.entries(KEY_ALIASES).map(([old, key]) => [old, key]),
    ...Object.entries(KEY_ALIASES).map(([old, key]) => [envName(old), envName(key)]),
    ...Object.entries(ENV_ALIASES).map(([name, key]) => [name, envName(key)]),
    ...Object.entries(CREDENTIAL_ALIASES).map(([old, name]) => [
      `s3.auth.credentials: ${old}`,
      `s3.auth.credentials: ${name}`,
    ]),
  ];
  return [
    'Deprecated names, still read, each use logged as a warning (see "Deprecated names" above):',
    '',
    '| deprecated | use |',
    '|---|---|',
    ...rows.map(([old, use]) => `| ${code(old)} | ${code(use)} |`),
  ];
}

function showDefault(value: unknown): string {
  if (value === '') return '""';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function code(text: string): string {
  return `\`${text}\``;
}
