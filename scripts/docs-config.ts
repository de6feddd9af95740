// Writes the configuration reference (the key table and the deprecated names) into
// docs/guides/configuration.md between its GENERATED markers, from src/config/keys.ts:
//   npm run docs:config            rewrite the block
//   npm run docs:config -- --check exit 1 if the block is out of date (what the test checks)
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { REFERENCE_BEGIN, REFERENCE_END, renderReference } from '../src/config/reference.ts';

const path = fileURLToPath(new URL('../docs/guides/configuration.md', import.meta.url));
const text = readFileSync(path, 'utf8');
const begin = text.indexOf(REFERENCE_BEGIN);
const end = text.indexOf(REFERENCE_END);
if (begin < 0 || end < begin) {
  console.error(`docs-config: ${path} lacks the markers\n  ${REFERENCE_BEGIN}\n  ${REFERENCE_END}`);
  process.exit(1);
}
const updated = text.slice(0, begin) + renderReference() + text.slice(end + REFERENCE_END.length);
if (process.argv.includes('--check')) {
  if (updated !== text) {
    console.error(`docs-config: ${path} is out of date; run npm run docs:config`);
    process.exit(1);
  }
} else if (updated !== text) {
  writeFileSync(path, updated);
  console.log(`docs-config: wrote ${path}`);
} else {
  console.log(`docs-config: ${path} is up to date`);
}
