import { StrataError } from '../common/errors.ts';

// One thing wrong with the configuration: the key (or variable, or flag) as written, where it
// came from (`file PATH`, `environment NAME`, `flag --NAME`) and what is wrong with it.
export interface ConfigProblem {
  key: string;
  source: string;
  problem: string;
}

// A deprecated name in use: `name` as written, `use` its replacement.
export interface ConfigWarning {
  name: string;
  use: string;
  source: string;
}

export function describeWarning(w: ConfigWarning): string {
  return `${w.name} (${w.source}) is deprecated: use ${w.use}`;
}

// Every problem found in one pass; `key` and `source` are the first one's.
export class ConfigError extends StrataError {
  readonly problems: readonly ConfigProblem[];
  readonly key: string;
  readonly source: string;
  constructor(problems: ConfigProblem[]) {
    if (problems.length === 0) throw new RangeError('a ConfigError needs a problem');
    super('CONFIG_INVALID', describeProblems(problems));
    this.name = 'ConfigError';
    this.problems = problems;
    this.key = problems[0].key;
    this.source = problems[0].source;
  }
}

function describeProblems(problems: ConfigProblem[]): string {
  const line = (p: ConfigProblem) => `${p.key} (${p.source}): ${p.problem}`;
  if (problems.length === 1) return `invalid configuration: ${line(problems[0])}`;
  return [
    `invalid configuration, ${problems.length} problems:`,
    ...problems.map((p) => `  ${line(p)}`),
  ].join('\n');
}
