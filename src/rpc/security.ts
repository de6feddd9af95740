// Who this process is to the cluster's internal RPC, and how it proves it.
//
// Two ways, never none (docs/guides/security.md):
// - `tls`: TLS 1.3 with a cluster CA. Both ends present a certificate the CA signed; the
//   certificate's subject OU is the peer's role, which src/rpc/permissions.ts checks per method.
// - `token`: a single machine bound to loopback only. The client sends the cluster token (a
//   secret file, 0600, in the data directory) and the role it claims before its first frame.
//   The traffic is not encrypted: it never leaves the machine (servers refuse to bind elsewhere
//   and clients refuse to send the token to a non-loopback peer).
import assert from 'node:assert';
import { isIP } from 'node:net';
import { StrataError } from '../common/errors.ts';

export const PEER_ROLES = ['metadata', 'data', 'gateway', 'mount', 'admin'] as const;
export type PeerRole = (typeof PEER_ROLES)[number];

export function isPeerRole(value: unknown): value is PeerRole {
  return typeof value === 'string' && (PEER_ROLES as readonly string[]).includes(value);
}

// Roles a server's certificate may carry: a client accepts no other as the end it dialled, so a
// stolen mount or gateway certificate cannot pose as a metadata or data server.
export const SERVER_ROLES: readonly PeerRole[] = ['metadata', 'data'];

export const TOKEN_BYTES = 32;

export type RpcSecurity =
  | { mode: 'tls'; ca: Buffer; cert: Buffer; key: Buffer; role: PeerRole }
  | { mode: 'token'; token: Buffer; role: PeerRole };

let processSecurity: RpcSecurity | undefined;

// One process is one cluster identity (its certificate, or the token and its role), set once at
// start-up by the entry point (server, data child, CLI, mount): the many clients a process makes
// deep inside (data pools, heartbeats, Raft transport) all present it without threading it
// through every constructor.
export function setProcessRpcSecurity(security: RpcSecurity): void {
  checkSecurity(security);
  processSecurity = security;
}

export function processRpcSecurity(): RpcSecurity {
  if (processSecurity === undefined) {
    throw new StrataError(
      'RPC_UNAUTHENTICATED',
      'this process has no cluster credentials (no [tls] certificate and no cluster token): ' +
        'internal RPC never runs unauthenticated',
    );
  }
  return processSecurity;
}

function checkSecurity(security: RpcSecurity): void {
  assert(isPeerRole(security.role), `unknown RPC role ${security.role}`);
  if (security.mode === 'token') {
    assert(security.token.length === TOKEN_BYTES, `a cluster token is ${TOKEN_BYTES} bytes`);
    return;
  }
  assert(security.ca.length > 0 && security.cert.length > 0 && security.key.length > 0);
}

// Loopback: 127.0.0.0/8, ::1, and IPv4 loopback mapped into IPv6; `localhost` as a name.
export function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  if (isIP(bare) === 6) return bare === '::1' || bare.toLowerCase().startsWith('::ffff:127.');
  return false;
}

// The identity as plain strings, for the IPC message that starts a combined node's data process.
export type SerializedSecurity =
  | { mode: 'tls'; ca: string; cert: string; key: string; role: PeerRole }
  | { mode: 'token'; token: string; role: PeerRole };

export function serializeSecurity(security: RpcSecurity): SerializedSecurity {
  if (security.mode === 'token')
    return { mode: 'token', token: security.token.toString('hex'), role: security.role };
  const [ca, cert, key] = [security.ca, security.cert, security.key].map((b) => b.toString());
  return { mode: 'tls', ca, cert, key, role: security.role };
}

export function deserializeSecurity(s: SerializedSecurity): RpcSecurity {
  if (s.mode === 'token')
    return { mode: 'token', token: Buffer.from(s.token, 'hex'), role: s.role };
  const [ca, cert, key] = [s.ca, s.cert, s.key].map((text) => Buffer.from(text));
  return { mode: 'tls', ca, cert, key, role: s.role };
}
