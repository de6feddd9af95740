import { S3Error } from '../errors.ts';

export interface ResolvedRange {
  offset: number;
  length: number;
}

// "bytes=a-b", "bytes=a-", "bytes=-n" against an object of `size` bytes. Other forms (several
// ranges, other units) are ignored and the whole object is served, as AWS does.
export function parseRange(header: string | undefined, size: number): ResolvedRange | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const unsatisfiable = () => {
    throw Object.assign(
      new S3Error('InvalidRange', 416, 'The requested range is not satisfiable'),
      { size },
    );
  };
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return unsatisfiable();
    const length = Math.min(suffix, size);
    return length === 0 ? unsatisfiable() : { offset: size - length, length };
  }
  const first = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (match[2] !== '' && Number(match[2]) < first) return undefined;
  if (first >= size) return unsatisfiable();
  return { offset: first, length: last - first + 1 };
}
