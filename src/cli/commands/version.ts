import { readFileSync } from 'node:fs';

export const VERSION_HELP = `Usage: strata version

Prints the version of Strata and of the Node.js runtime it runs on.`;

export function strataVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
  return pkg.version as string;
}

export function runVersion(): number {
  process.stdout.write(`strata ${strataVersion()} (node ${process.version})\n`);
  return 0;
}
