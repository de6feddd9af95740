// docs/guides/configuration.md is the configuration reference: generated from the key table, and
// checked here against it key for key, as is the example file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseToml } from 'smol-toml';
import { KEYS } from '../../src/config/keys.ts';
import { REFERENCE_BEGIN, REFERENCE_END, renderReference } from '../../src/config/reference.ts';
import { REPO_ROOT } from '../helpers/server.ts';

const GUIDE = join(REPO_ROOT, 'docs/guides/configuration.md');
const EXAMPLE = join(REPO_ROOT, 'docs/examples/strata.toml');
const schemaKeys = KEYS.map((k) => k.key);

function difference(a: string[], b: string[]): string[] {
  return a.filter((x) => !b.includes(x));
}

test('the guide documents exactly the keys of the schema', () => {
  const text = readFileSync(GUIDE, 'utf8');
  // The key table: from the generated block's start to the deprecated names after it.
  const block = text.slice(text.indexOf(REFERENCE_BEGIN), text.indexOf('Deprecated names, still'));
  const inTable = [...block.matchAll(/^\| `([a-z0-9_.]+)` \| /gm)].map((m) => m[1]);
  assert.deepEqual(difference(schemaKeys, inTable), [], 'keys missing from the guide');
  assert.deepEqual(difference(inTable, schemaKeys), [], 'keys in the guide but not the schema');
});

test('the generated block is up to date (npm run docs:config)', () => {
  const text = readFileSync(GUIDE, 'utf8');
  const begin = text.indexOf(REFERENCE_BEGIN);
  const end = text.indexOf(REFERENCE_END) + REFERENCE_END.length;
  assert.ok(begin >= 0 && end > begin, 'the guide has the generated block');
  assert.equal(text.slice(begin, end), renderReference(), 'run npm run docs:config');
});

test('the example file lists every key', () => {
  const table = parseToml(readFileSync(EXAMPLE, 'utf8')) as Record<string, unknown>;
  const keys: string[] = [];
  const walk = (node: Record<string, unknown>, prefix: string) => {
    for (const [name, value] of Object.entries(node)) {
      const isTable = typeof value === 'object' && value !== null && !Array.isArray(value);
      if (isTable) walk(value as Record<string, unknown>, `${prefix}${name}.`);
      else keys.push(prefix + name);
    }
  };
  walk(table, '');
  assert.deepEqual(difference(schemaKeys, keys), [], 'keys missing from the example');
  assert.deepEqual(difference(keys, schemaKeys), [], 'example keys not in the schema');
});
