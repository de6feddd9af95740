// What Strata keeps on disk (object data, bucket and key names in LMDB, the secret key) is for the
// server's user alone: directories 0700, files 0600, whatever the umask. Directories from older
// versions are tightened at start; a 0700 directory already keeps other users away from the
// files below it, so shard files written 0644 before are not rewalked one by one.
import { chmodSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

// Creates `path` (and missing parents, 0700) if needed, and sets it to 0700.
export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(path, PRIVATE_DIR_MODE);
}

// `ensurePrivateDir`, and every plain file directly inside set to 0600 (an LMDB environment's
// data.mdb and lock.mdb, which lmdb-js creates with its own mode).
export function tightenDir(path: string): void {
  ensurePrivateDir(path);
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    if (entry.isFile()) chmodSync(join(path, entry.name), PRIVATE_FILE_MODE);
  }
}
