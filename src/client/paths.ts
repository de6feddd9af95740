import { StrataError } from '../common/errors.ts';

// "/bucket/a/b" -> ["bucket", "a", "b"]; "/" -> []. Rejects relative paths and "." / ".." segments
// so that every path names one place without resolution.
export function splitPath(path: string): string[] {
  if (!path.startsWith('/')) throw new StrataError('EINVAL', `path must be absolute: ${path}`);
  const parts = path.split('/').filter((p) => p.length > 0);
  for (const part of parts) {
    if (part === '.' || part === '..')
      throw new StrataError('EINVAL', `path has a "${part}" segment: ${path}`);
  }
  return parts;
}

export function joinPath(parts: string[]): string {
  return `/${parts.join('/')}`;
}

export function parentAndName(path: string): { parent: string; name: string } {
  const parts = splitPath(path);
  if (parts.length === 0) throw new StrataError('EINVAL', 'the root has no parent');
  return { parent: joinPath(parts.slice(0, -1)), name: parts[parts.length - 1] };
}

// A path below a bucket as the S3 view sees it: bucket and key.
export function toBucketKey(path: string): { bucket: string; key: string } {
  const parts = splitPath(path);
  if (parts.length < 2)
    throw new StrataError('EISDIR', `${path} is a bucket or the root, not a file`);
  return { bucket: parts[0], key: parts.slice(1).join('/') };
}
