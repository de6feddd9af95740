// What a client process needs for encryption at rest, from its settings: the master keys, and
// whether (and with which cipher) it seals new stripes.
import { existsSync } from 'node:fs';
import { StrataError } from '../common/errors.ts';
import type { KmsWrapPlace } from './kms-key.ts';
import { type Keyring, loadOrCreateKeyFile, type MasterKey, readKeyFile } from './master-key.ts';
import type { DataCipher } from './shard-seal.ts';

export interface AtRest {
  ring: Keyring;
  cipher: DataCipher;
  sealNew: boolean; // off: stripes sealed before stay readable, new ones are written as they are
  // The built-in KMS's keys, for stripes sealed under one (SSE-KMS): set by the client, which
  // reads the keys' wrapped material from the metadata (src/client/kms-keys.ts).
  kms?: KmsKeySource;
}

// Where a reader gets the key that unwraps an SSE-KMS stripe's data key: the key's state is
// checked at each call (a disabled key answers KMS_KEY_DISABLED, never a key).
export interface KmsKeySource {
  wrappingKey(place: KmsWrapPlace): Promise<MasterKey>;
}

// What a writer seals new stripes of an SSE-KMS object under: the KMS key's newest version.
export interface KmsSealKey extends KmsWrapPlace {
  wrapping: MasterKey;
}

export interface AtRestSettings {
  enabled: boolean;
  cipher: DataCipher;
  keyFile: string; // resolved: never empty
  // A single node makes its own key file at the first start. Gateways of a cluster must share
  // one key, so they never make one: each would otherwise seal under a key the others lack.
  createKeyFile: boolean;
}

// On: the key file, created when absent if allowed. Off: the key file when there is one (so that
// stripes sealed while it was on stay readable), else nothing.
export function loadAtRest(settings: AtRestSettings): {
  atRest: AtRest | undefined;
  createdKeyFile: boolean;
} {
  const { enabled, cipher, keyFile } = settings;
  if (enabled && !settings.createKeyFile && !existsSync(keyFile)) {
    throw new StrataError(
      'CONFIG_INVALID',
      `encryption is on and the key file ${keyFile} does not exist: every gateway and metadata ` +
        'member of a cluster needs a copy of the same key file ([encryption] key_file; ' +
        'docs/guides/security.md)',
    );
  }
  if (enabled) {
    const { ring, created } = loadOrCreateKeyFile(keyFile);
    return { atRest: { ring, cipher, sealNew: true }, createdKeyFile: created };
  }
  if (!existsSync(keyFile)) return { atRest: undefined, createdKeyFile: false };
  return { atRest: { ring: readKeyFile(keyFile), cipher, sealNew: false }, createdKeyFile: false };
}
