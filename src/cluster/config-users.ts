// The configuration's credentials as users of the replicated table (docs/guides/security.md,
// "Users"): entries that share a user_id are one user with several keys; a user is an
// administrator when any of its entries says admin = true.
import { isStrataError } from '../common/errors.ts';
import type { CredentialConfig } from '../config/schema.ts';
import type { ConfigUser } from '../metadata/types.ts';
import type { Logger } from '../observability/logger.ts';

export function configUsersOf(credentials: readonly CredentialConfig[]): ConfigUser[] {
  const users = new Map<string, ConfigUser>();
  for (const c of credentials) {
    const user = users.get(c.user_id) ?? { name: c.user_id, admin: false, keys: [] };
    user.admin ||= c.admin;
    user.keys.push({ accessKeyId: c.access_key_id, secretKey: c.secret_key });
    users.set(c.user_id, user);
  }
  return [...users.values()];
}

const SYNC_RETRY_MS = 2_000;
const SYNC_ATTEMPTS_MAX = 30;

// A gateway's credentials into the table. The first attempt is awaited (a combined node's
// gateway then answers with its keys from the start); while the metadata cluster cannot be
// reached it is retried in the background. A refusal (a rule the list breaks) is logged with its
// reason and not retried. Never logs a secret.
export async function syncGatewayUsers(
  sync: (users: ConfigUser[]) => Promise<void>,
  users: ConfigUser[],
  log: Logger,
  stopped: () => boolean,
): Promise<void> {
  if (users.length === 0) return;
  const attempt = async (): Promise<boolean> => {
    try {
      await sync(users);
      return true;
    } catch (error) {
      if (isStrataError(error) && !error.code.startsWith('RPC_')) {
        log.error('the configured users (s3.auth.credentials) were refused', { error });
        return true;
      }
      log.warn('cannot apply the configured users yet; retrying', { error });
      return false;
    }
  };
  if (await attempt()) return;
  void (async () => {
    for (let i = 1; i < SYNC_ATTEMPTS_MAX && !stopped(); i++) {
      await new Promise((r) => setTimeout(r, SYNC_RETRY_MS));
      if (stopped() || (await attempt())) return;
    }
  })();
}
