// The users' secrets on a metadata member (docs/guides/security.md, "Users"): sealed by the
// master key before they are proposed, when this member has a key file and encryption at rest is
// on, so no secret reaches the Raft log, LMDB, a snapshot or a backup in the clear; unsealed on
// the leader where a secret is used (meta.userKeys for gateways and consoles, meta.login). Every
// proposal of a secret is the leader's (user-handlers.ts: the CLI's commands, a gateway's
// credentials, the configuration's users), so it is the one place that seals.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { type Keyring, readKeyFile, sealUserSecret, unsealUserSecret } from '../crypto/index.ts';
import type { Logger } from '../observability/logger.ts';
import { userSecretUnsealFailures } from '../observability/metrics.ts';
import { isSecretKey } from './ops-users.ts';
import type {
  Command,
  ConfigUser,
  MetadataReader,
  ResolvedAccessKey,
  SealedSecret,
  StoredAccessKey,
  UserSecretSeal,
} from './types.ts';

// A key file re-read at most this often when a secret names a master key it lacks: after
// `strata encryption rotate-master-key` rewrote the file, the leader unseals under the new key
// without a restart.
const KEY_FILE_RELOAD_MS = 1_000;

export interface UserSecretsOptions {
  ring: Keyring | undefined; // none: this member holds no master key
  keyFile: string | undefined;
  sealNew: boolean; // encryption at rest is on: new secrets are sealed
  log: Logger;
  nowMs?: () => number;
}

type SecretOf = { secretKey?: string; sealedSecret?: SealedSecret };

export class UserSecrets {
  private ring: Keyring | undefined;
  private reloadedAtMs = Number.NEGATIVE_INFINITY;
  private readonly options: UserSecretsOptions;

  constructor(options: UserSecretsOptions) {
    assert(!options.sealNew || options.ring !== undefined, 'sealing needs a master key');
    this.options = options;
    this.ring = options.ring;
  }

  get sealsNew(): boolean {
    return this.options.sealNew;
  }

  // The command as the leader proposes it: each secret it carries sealed (when sealing is on).
  sealCommand(command: Command): Command {
    if (!this.options.sealNew) return command;
    if (command.op === 'createUser' || command.op === 'rotateAccessKey') {
      const { secretKey, sealedSecret, ...rest } = command;
      return { ...rest, ...this.sealed(command.accessKeyId, { secretKey, sealedSecret }) };
    }
    if (command.op === 'syncConfigUsers')
      return { ...command, users: command.users.map((u) => this.sealUser(u)) };
    return command;
  }

  sealUsers(users: ConfigUser[]): ConfigUser[] {
    return this.options.sealNew ? users.map((u) => this.sealUser(u)) : users;
  }

  private sealUser(u: ConfigUser): ConfigUser {
    // A malformed entry is left for the state machine to refuse with its reason.
    if (u === null || typeof u !== 'object' || !Array.isArray(u.keys)) return u;
    return {
      ...u,
      keys: u.keys.map((k) => ({ accessKeyId: k.accessKeyId, ...this.sealed(k.accessKeyId, k) })),
    };
  }

  // A plaintext secret sealed under the active master key, a sealed one as it came; EINVAL for a
  // secret the state machine would refuse (never quoted).
  private sealed(accessKeyId: unknown, secret: SecretOf): SecretOf {
    const ring = this.ring;
    assert(ring !== undefined);
    const { secretKey, sealedSecret } = secret;
    if (secretKey === undefined) return sealedSecret === undefined ? {} : { sealedSecret };
    // Refused here rather than by apply: a refused command would still sit in the Raft log.
    if (!isSecretKey(secretKey) || sealedSecret !== undefined)
      throw new StrataError('EINVAL', 'a secret key is 8-256 printable ASCII characters');
    if (typeof accessKeyId !== 'string' || accessKeyId.length === 0)
      throw new StrataError('EINVAL', 'an access key id is 3-128 characters');
    return { sealedSecret: sealUserSecret(ring.active, accessKeyId, secretKey) };
  }

  // The secret of a stored key in the clear: ENCRYPTION_KEY_UNAVAILABLE when this member has no
  // master key that sealed it (the key file is re-read once first, in case it was rotated).
  unseal(key: StoredAccessKey): string {
    if (key.secretKey !== undefined) return key.secretKey;
    const sealed = key.sealedSecret;
    assert(sealed !== undefined, 'an access key has a secret');
    if (!this.ring?.byId.has(sealed.masterKeyId)) this.reload();
    if (this.ring === undefined)
      throw new StrataError(
        'ENCRYPTION_KEY_UNAVAILABLE',
        `the secret of access key ${key.accessKeyId} is sealed by master key ` +
          `${sealed.masterKeyId} and this metadata member has no key file ([encryption] key_file)`,
      );
    return unsealUserSecret(this.ring, key.accessKeyId, sealed);
  }

  // The keys as gateways and consoles get them. A key this member cannot unseal is left out
  // (requests with it get InvalidAccessKeyId), logged and counted
  // (strata_user_secret_unseal_failures_total): the others keep working.
  resolve(keys: StoredAccessKey[]): ResolvedAccessKey[] {
    const resolved: ResolvedAccessKey[] = [];
    for (const key of keys) {
      try {
        const secretKey = this.unseal(key);
        resolved.push({
          accessKeyId: key.accessKeyId,
          secretKey,
          user: key.user,
          admin: key.admin,
        });
      } catch (error) {
        userSecretUnsealFailures.inc();
        this.options.log.error(
          'cannot unseal a user secret: give this metadata member the key file',
          {
            accessKeyId: key.accessKeyId,
            error,
          },
        );
      }
    }
    return resolved;
  }

  // What the leader seals at start: the secrets in the clear (written before encryption was on)
  // and those under a retired master key of its file, all to the active key.
  pendingSeals(reader: MetadataReader): { usersVersion: number; keys: UserSecretSeal[] } {
    const { version, keys } = reader.accessKeys();
    const ring = this.ring;
    if (!this.options.sealNew || ring === undefined) return { usersVersion: version, keys: [] };
    const seals: UserSecretSeal[] = [];
    for (const key of keys) {
      const from = key.sealedSecret?.masterKeyId ?? null;
      if (from === ring.active.id || (from !== null && !ring.byId.has(from))) continue;
      const secret = this.unseal(key);
      seals.push({
        accessKeyId: key.accessKeyId,
        fromMasterKeyId: from,
        sealedSecret: sealUserSecret(ring.active, key.accessKeyId, secret),
      });
    }
    return { usersVersion: version, keys: seals };
  }

  private reload(): void {
    const { keyFile, log } = this.options;
    const nowMs = this.options.nowMs?.() ?? Date.now();
    if (keyFile === undefined || nowMs - this.reloadedAtMs < KEY_FILE_RELOAD_MS) return;
    this.reloadedAtMs = nowMs;
    try {
      this.ring = readKeyFile(keyFile);
    } catch (error) {
      log.warn('cannot read the master key file again', { keyFile, error });
    }
  }
}
