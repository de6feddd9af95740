// A mount or a CLI command acting as a user (docs/guides/security.md, "Mounts and the CLI as
// users"). On a connection already admitted by its role (certificate or cluster token), the
// client logs in with one of the user's access keys without sending its secret:
//   1. meta.login { step: 'challenge' }                      -> { nonce } (32 random bytes)
//   2. meta.login { step: 'prove', accessKeyId, proof, clientNonce? } -> { user, admin }
// proof = HMAC-SHA256(secret, "strata-user-login-v1" || nonce || binding), where the binding is
// the connection's TLS exporter value (so a proof is worth nothing on another connection) or, on
// a loopback token connection (which has no exporter and never leaves the machine), a nonce of
// the client's. The member verifies it against the users table (the secret is in replicated
// state); a follower has the leader verify it, so a key created or removed by an answered
// command is seen. From then on the connection is that user's: src/metadata/namespace-access.ts
// decides each of its namespace calls. Secrets and proofs are never logged, only key ids.
import assert from 'node:assert';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { RpcPeer, RpcServer } from '../rpc/index.ts';
import type { Actor } from './namespace-access.ts';
import { type MetadataReplica, notLeader } from './replication/replica.ts';
import { METADATA_RPC, type MetadataReader, type StoredAccessKey } from './types.ts';

export const LOGIN_NONCE_BYTES = 32;
const PROOF_CONTEXT = 'strata-user-login-v1';
const PROOF_BYTES = 32;

export function loginProof(secretKey: string, nonce: Buffer, binding: Buffer): Buffer {
  assert(nonce.length === LOGIN_NONCE_BYTES, 'a login nonce is 32 bytes');
  assert(binding.length > 0, 'a login proof is bound to its connection');
  return createHmac('sha256', secretKey)
    .update(PROOF_CONTEXT)
    .update(nonce)
    .update(binding)
    .digest();
}

// The user `accessKeyId` belongs to when `proof` was made with its secret, else undefined.
export function verifyLoginProof(
  reader: MetadataReader,
  accessKeyId: string,
  nonce: Buffer,
  binding: Buffer,
  proof: Buffer,
  unseal: (key: StoredAccessKey) => string,
): { user: string; admin: boolean; usersVersion: number } | undefined {
  const key = reader.accessKey(accessKeyId);
  if (key === undefined || proof.length !== PROOF_BYTES) return undefined;
  const expected = loginProof(unseal(key), nonce, binding);
  if (!timingSafeEqual(expected, proof)) return undefined;
  return { user: key.user, admin: key.admin, usersVersion: reader.usersVersion() };
}

type Forward = (method: string, header: unknown) => Promise<unknown>;

interface LoginContext {
  replica: MetadataReplica;
  reader: MetadataReader;
  forward: Forward;
  log: Logger;
  // The key's secret in the clear (src/metadata/user-secrets.ts): the leader unseals it.
  unseal: (key: StoredAccessKey) => string;
}

export function handleLogin(server: RpcServer, context: LoginContext): void {
  server.handle(METADATA_RPC.login, async ({ header, peer }) => {
    const request = (header ?? {}) as Record<string, unknown>;
    if (request.step === 'challenge') return { header: { nonce: challenge(peer) } };
    if (request.step === 'prove') return { header: await prove(context, peer, request) };
    if (request.step === 'verify' && peer.role === 'metadata')
      return { header: await verifyOnLeader(context, request) };
    throw new StrataError('EINVAL', 'meta.login takes step challenge, then prove');
  });
}

function challenge(peer: RpcPeer): string {
  if (peer.principal !== undefined)
    throw new StrataError('EINVAL', `this connection is user ${peer.principal.user}'s already`);
  const nonce = randomBytes(LOGIN_NONCE_BYTES);
  peer.loginNonce = nonce;
  return nonce.toString('hex');
}

async function prove(
  context: LoginContext,
  peer: RpcPeer,
  request: Record<string, unknown>,
): Promise<{ user: string; admin: boolean }> {
  const nonce = peer.loginNonce;
  peer.loginNonce = undefined; // one proof per challenge
  const accessKeyId = request.accessKeyId;
  if (typeof accessKeyId !== 'string' || accessKeyId.length === 0 || accessKeyId.length > 128)
    throw new StrataError('EINVAL', 'meta.login prove takes an accessKeyId');
  if (nonce === undefined)
    throw new StrataError('RPC_UNAUTHENTICATED', 'meta.login: prove comes after a challenge');
  const binding = peer.channelBinding() ?? bytesOf(request.clientNonce, LOGIN_NONCE_BYTES);
  const proof = bytesOf(request.proof, PROOF_BYTES);
  const verified =
    binding === undefined || proof === undefined
      ? undefined
      : await verify(context, accessKeyId, nonce, binding, proof);
  if (verified === undefined) {
    context.log.warn('refused a user login', { accessKeyId, role: peer.role });
    throw new StrataError(
      'RPC_UNAUTHENTICATED',
      `access key ${accessKeyId} is unknown, or the secret it was proved with is wrong`,
    );
  }
  peer.principal = { user: verified.user, accessKeyId, usersVersion: verified.usersVersion };
  context.log.info('user logged in', { user: verified.user, accessKeyId, role: peer.role });
  return { user: verified.user, admin: verified.admin };
}

async function verify(
  context: LoginContext,
  accessKeyId: string,
  nonce: Buffer,
  binding: Buffer,
  proof: Buffer,
): Promise<{ user: string; admin: boolean; usersVersion: number } | undefined> {
  if (context.replica.isLeader) {
    await context.replica.readBarrier();
    return verifyLoginProof(context.reader, accessKeyId, nonce, binding, proof, context.unseal);
  }
  const hex = (b: Buffer) => b.toString('hex');
  const answer = (await context.forward(METADATA_RPC.login, {
    step: 'verify',
    forwarded: true,
    accessKeyId,
    nonce: hex(nonce),
    binding: hex(binding),
    proof: hex(proof),
  })) as { user: string; admin: boolean; usersVersion: number } | null;
  return answer ?? undefined;
}

// A follower's question (step verify): the leader answers the user, or null.
async function verifyOnLeader(context: LoginContext, request: Record<string, unknown>) {
  if (!context.replica.isLeader) throw notLeader(context.replica.leaderId);
  const [nonce, binding, proof] = [request.nonce, request.binding, request.proof].map((v) =>
    typeof v === 'string' ? Buffer.from(v, 'hex') : Buffer.alloc(0),
  );
  if (typeof request.accessKeyId !== 'string' || nonce.length !== LOGIN_NONCE_BYTES)
    throw new StrataError('EINVAL', 'meta.login verify takes accessKeyId, nonce, binding, proof');
  if (binding.length === 0) return null;
  await context.replica.readBarrier();
  const { reader, unseal } = context;
  return verifyLoginProof(reader, request.accessKeyId, nonce, binding, proof, unseal) ?? null;
}

function bytesOf(value: unknown, length: number): Buffer | undefined {
  if (!(value instanceof Uint8Array) || value.length !== length) return undefined;
  return Buffer.from(value);
}

// The user a namespace call acts for, on the member the connection reached: the connection's
// logged-in user, or for a call a follower forwarded, the user it names. Undefined: no user,
// the role alone decides (an operator's token or admin certificate, a gateway, a server).
// A key removed or rotated away since the login stops serving the connection at its next call:
// the users version is compared at each call, the key looked up again when it moved.
export function actorOf(
  reader: MetadataReader,
  peer: RpcPeer,
  forwardedUser: unknown,
): Actor | undefined {
  const principal = peer.principal;
  if (principal !== undefined) {
    const version = reader.usersVersion();
    if (version !== principal.usersVersion) {
      const key = reader.accessKey(principal.accessKeyId);
      if (key === undefined || key.user !== principal.user)
        throw new StrataError(
          'RPC_UNAUTHENTICATED',
          `access key ${principal.accessKeyId} of user ${principal.user} was removed or ` +
            'rotated away: connect again with a current key',
        );
      principal.usersVersion = version;
    }
    return userActor(reader, principal.user);
  }
  if (peer.role === 'metadata' && typeof forwardedUser === 'string')
    return userActor(reader, forwardedUser);
  // A mount's certificate is no operator's: without a user it reaches no bucket.
  if (peer.role === 'mount' && peer.via === 'tls')
    throw new StrataError(
      'RPC_FORBIDDEN',
      "a mount's certificate reaches the namespace only as a user: give the mount an access " +
        'key (--access-key-id and --secret-access-key, or STRATA_ACCESS_KEY_ID and ' +
        'STRATA_SECRET_ACCESS_KEY)',
    );
  return undefined;
}

function userActor(reader: MetadataReader, name: string): Actor {
  const user = reader.user(name);
  if (user === undefined)
    throw new StrataError('RPC_UNAUTHENTICATED', `user ${name} no longer exists`);
  return { user: user.name, admin: user.admin };
}
