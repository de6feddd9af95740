// Records as the evaluator sees them: a CSV row (fields by position, _1 first, or by header name)
// or a JSON value (a path of keys and indexes).
import type { PathStep } from './ast.ts';
import type { RecordView } from './evaluate.ts';

// A CSV header: names as written, looked up exactly when quoted ("Name") and ignoring case when
// not (name), as SQL identifiers are. The first of two equal names wins.
export class CsvHeader {
  readonly names: string[];
  private readonly exact = new Map<string, number>();
  private readonly folded = new Map<string, number>();
  constructor(names: string[]) {
    this.names = names;
    names.forEach((name, i) => {
      if (!this.exact.has(name)) this.exact.set(name, i);
      const lower = name.toLowerCase();
      if (!this.folded.has(lower)) this.folded.set(lower, i);
    });
  }
  indexOf(name: string, quoted: boolean): number | undefined {
    return quoted ? this.exact.get(name) : this.folded.get(name.toLowerCase());
  }
}

const POSITIONAL = /^_([1-9]\d*)$/;

// The field a (non-empty) column path names in records under this header: _N by position,
// else the header's name; undefined for none (MISSING). The same for every record under one
// header, so a compiled query looks it up once (compile.ts).
export function csvFieldIndex(path: PathStep[], header: CsvHeader | undefined): number | undefined {
  if (path.length !== 1) return undefined; // CSV fields have no inner paths
  const step = path[0];
  if (!('name' in step)) return undefined;
  const positional = POSITIONAL.exec(step.name);
  if (positional !== null) return Number(positional[1]) - 1;
  return header?.indexOf(step.name, step.quoted);
}

export class CsvRecord implements RecordView {
  readonly fields: string[];
  readonly header: CsvHeader | undefined;
  constructor(fields: string[], header: CsvHeader | undefined) {
    this.fields = fields;
    this.header = header;
  }
  resolve(path: PathStep[]): unknown {
    if (path.length === 0) return this.fields;
    const index = csvFieldIndex(path, this.header);
    return index === undefined ? undefined : this.fields[index];
  }
  // Names for JSON output of SELECT *: the header's, or _1, _2, ... without one.
  names(): string[] {
    return this.fields.map((_, i) => this.header?.names[i] ?? `_${i + 1}`);
  }
}

export class JsonRecord implements RecordView {
  readonly value: unknown;
  constructor(value: unknown) {
    this.value = value;
  }
  resolve(path: PathStep[]): unknown {
    let current: unknown = this.value;
    for (const step of path) {
      if (current === null || typeof current !== 'object') return undefined;
      if ('index' in step) {
        current = Array.isArray(current) ? current[step.index] : undefined;
        continue;
      }
      if (Array.isArray(current)) return undefined;
      current = member(current as Record<string, unknown>, step.name, step.quoted);
    }
    return current;
  }
}

// A key exactly as written, or (unquoted names) the first key equal ignoring case.
function member(object: Record<string, unknown>, name: string, quoted: boolean): unknown {
  if (Object.hasOwn(object, name)) return object[name];
  if (quoted) return undefined;
  const lower = name.toLowerCase();
  for (const key of Object.keys(object)) if (key.toLowerCase() === lower) return object[key];
  return undefined;
}

export type InputRecord = CsvRecord | JsonRecord;
