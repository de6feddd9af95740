import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { CredentialConfig } from './schema.ts';

const FILE_NAME = 'credentials.json';

export function credentialsPath(dataDir: string): string {
  return join(dataDir, FILE_NAME);
}
const ACCESS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

// With no credentials configured, a server generates one key pair on first start and keeps it
// under its data directory (mode 0600), so restarts keep the same keys.
export function loadOrCreateCredentials(dataDir: string): {
  credential: CredentialConfig;
  created: boolean;
} {
  const path = credentialsPath(dataDir);
  try {
    // Files written before the design's names (access_key, user) read as well.
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    const accessKeyId = stored.access_key_id ?? stored.access_key;
    if (typeof accessKeyId === 'string' && typeof stored.secret_key === 'string') {
      // The generated pair is the server's administrator (files from before `admin` existed too).
      const userId = stored.user_id ?? stored.user;
      return {
        credential: {
          access_key_id: accessKeyId,
          secret_key: stored.secret_key,
          user_id: typeof userId === 'string' ? userId : 'admin',
          admin: true,
        },
        created: false,
      };
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const pair = newKeyPair();
  const credential: CredentialConfig = {
    access_key_id: pair.accessKeyId,
    secret_key: pair.secretKey,
    user_id: 'admin',
    admin: true,
  };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  writeSync(fd, `${JSON.stringify(credential, null, 2)}\n`);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temp, path);
  return { credential, created: true };
}

// A new S3 key pair: an AWS-shaped access key id (20 characters) and a 40-character secret, both
// safe in shells and config files. Also `strata user create` and `rotate-key`'s.
export function newKeyPair(): { accessKeyId: string; secretKey: string } {
  return {
    accessKeyId: `SK${randomString(18)}`,
    secretKey: randomBytes(30).toString('base64').replaceAll('/', 'x').replaceAll('+', 'y'),
  };
}

function randomString(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ACCESS_KEY_ALPHABET[byte % ACCESS_KEY_ALPHABET.length];
  return out;
}
