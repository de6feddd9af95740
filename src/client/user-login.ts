// A client acting as a user: it logs in on each new connection to a metadata member with one of
// the user's access keys, proving it holds the secret without sending it (the exchange is in
// src/metadata/user-login.ts). What the user may then do is decided by the metadata leader.
import assert from 'node:assert';
import { randomBytes } from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import { METADATA_RPC } from '../metadata/types.ts';
import { LOGIN_NONCE_BYTES, loginProof } from '../metadata/user-login.ts';
import type { RpcOnConnect } from '../rpc/index.ts';

export interface UserCredentials {
  accessKeyId: string;
  // Kept in memory only; never logged, never in an error message, never sent.
  secretKey: string;
}

export function userLogin(credentials: UserCredentials): RpcOnConnect {
  assert(credentials.accessKeyId.length > 0 && credentials.secretKey.length > 0);
  return async (call, channelBinding) => {
    const challenge = await call<{ nonce: string }>(METADATA_RPC.login, { step: 'challenge' });
    const nonce = Buffer.from(challenge.header.nonce, 'hex');
    // Without TLS (a loopback token connection) there is no exporter: a nonce of ours instead.
    const clientNonce = channelBinding === undefined ? randomBytes(LOGIN_NONCE_BYTES) : undefined;
    const binding = channelBinding ?? (clientNonce as Buffer);
    const proof = loginProof(credentials.secretKey, nonce, binding);
    await call(METADATA_RPC.login, {
      step: 'prove',
      accessKeyId: credentials.accessKeyId,
      proof,
      ...(clientNonce === undefined ? {} : { clientNonce }),
    });
  };
}

export const ACCESS_KEY_ID_ENV = 'STRATA_ACCESS_KEY_ID';
export const SECRET_ACCESS_KEY_ENV = 'STRATA_SECRET_ACCESS_KEY';

// The user a mount or a CLI command acts as: --access-key-id and --secret-access-key, else the
// environment (STRATA_ACCESS_KEY_ID, STRATA_SECRET_ACCESS_KEY), each value on its own; none at
// all: no user (the process's role decides alone). Half a pair is a mistake, said at once.
export function userCredentialsFrom(
  flags: { 'access-key-id'?: unknown; 'secret-access-key'?: unknown },
  env: NodeJS.ProcessEnv,
): UserCredentials | undefined {
  const pick = (flag: unknown, name: string) =>
    typeof flag === 'string' && flag !== '' ? flag : env[name] || undefined;
  const accessKeyId = pick(flags['access-key-id'], ACCESS_KEY_ID_ENV);
  const secretKey = pick(flags['secret-access-key'], SECRET_ACCESS_KEY_ENV);
  if (accessKeyId === undefined && secretKey === undefined) return undefined;
  if (accessKeyId === undefined || secretKey === undefined)
    throw new StrataError(
      'EINVAL',
      `a user's credentials are an access key id and its secret: give both (--access-key-id ` +
        `and --secret-access-key, or ${ACCESS_KEY_ID_ENV} and ${SECRET_ACCESS_KEY_ENV})`,
    );
  return { accessKeyId, secretKey };
}
