// Master keys: kept in a key file (mode 0600), never in the replicated state, never logged. The
// file holds one or more 256-bit keys, base64, one per line: the first is active (it wraps new
// data keys), the others are retired (they only unwrap, until a rotation has re-wrapped every
// data key under the active one: docs/guides/security.md, "Encryption at rest").
import assert from 'node:assert';
import { createHmac, randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
} from 'node:fs';
import { StrataError } from '../common/errors.ts';

export const MASTER_KEY_BYTES = 32;
const KEYS_PER_FILE_MAX = 16;

export interface MasterKey {
  id: string; // 16 hex characters, from the key (not secret: it names the key in stripe records)
  key: Buffer;
}

export interface Keyring {
  active: MasterKey;
  byId: ReadonlyMap<string, MasterKey>;
}

// Identifies a key without revealing it: an HMAC of a fixed label under the key.
export function masterKeyId(key: Buffer): string {
  assert.equal(key.length, MASTER_KEY_BYTES, 'a 256-bit master key');
  return createHmac('sha256', key).update('strata master key id v1').digest('hex').slice(0, 16);
}

export function keyring(keys: Buffer[]): Keyring {
  assert(keys.length > 0 && keys.length <= KEYS_PER_FILE_MAX, 'one to 16 master keys');
  const masters = keys.map((key) => ({ id: masterKeyId(key), key }));
  return { active: masters[0], byId: new Map(masters.map((m) => [m.id, m])) };
}

export function readKeyFile(path: string): Keyring {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new StrataError(
      'CONFIG_INVALID',
      `the key file ${path} has mode ${mode.toString(8)}: it must be readable by its owner only (0600)`,
    );
  }
  const lines = readFileSync(path, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const keys = lines.map((line, i) => {
    const key = Buffer.from(line, 'base64');
    if (key.length !== MASTER_KEY_BYTES || key.toString('base64') !== line) {
      throw new StrataError('CONFIG_INVALID', `key ${i + 1} of ${path} is not 32 bytes of base64`);
    }
    return key;
  });
  if (keys.length === 0 || keys.length > KEYS_PER_FILE_MAX) {
    throw new StrataError('CONFIG_INVALID', `${path} holds ${keys.length} keys (1 to 16)`);
  }
  return keyring(keys);
}

export function newMasterKey(): Buffer {
  return randomBytes(MASTER_KEY_BYTES);
}

// Writes the keys (the first active) to `path` with mode 0600: a new file renamed over the old,
// so a crash leaves the old file or the new one.
export function writeKeyFile(path: string, keys: Buffer[]): void {
  assert(keys.length > 0 && keys.length <= KEYS_PER_FILE_MAX, 'one to 16 master keys');
  const text =
    '# Strata master keys (docs/guides/security.md): the first wraps new data keys,\n' +
    '# the others only unwrap. Keep a copy somewhere safe: without it the data is lost.\n' +
    `${keys.map((k) => k.toString('base64')).join('\n')}\n`;
  const temp = `${path}.${process.pid}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
}

// The key file at `path`, created with one new key when it does not exist yet.
export function loadOrCreateKeyFile(path: string): { ring: Keyring; created: boolean } {
  try {
    return { ring: readKeyFile(path), created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  writeKeyFile(path, [newMasterKey()]);
  return { ring: readKeyFile(path), created: true };
}
