// How a connection proves it belongs to the cluster, before its first frame.
//
// TLS: the handshake itself (both certificates checked against the cluster CA); the caller's
// role is its certificate's subject OU. Token (loopback only): the client's first bytes are a
// preamble, [4 bytes "STK1"][u8 role index][32-byte cluster token], compared in constant time.
import assert from 'node:assert';
import { timingSafeEqual } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { StrataError } from '../common/errors.ts';
import { encodeFrame, KIND_RESPONSE_ERROR } from './frame.ts';
import { isPeerRole, PEER_ROLES, type PeerRole, TOKEN_BYTES } from './security.ts';

const MAGIC = Buffer.from('STK1', 'latin1');
export const PREAMBLE_BYTES = MAGIC.length + 1 + TOKEN_BYTES;
// A connection that has not authenticated within this is dropped: an idle or slow stranger must
// not hold a socket open.
export const HANDSHAKE_TIMEOUT_MS = 10_000;
// Request id 0 is never used by a call: a frame with it is about the connection itself.
export const CONNECTION_REQUEST_ID = 0;

export function tokenPreamble(token: Buffer, role: PeerRole): Buffer {
  assert(token.length === TOKEN_BYTES);
  const preamble = Buffer.concat([MAGIC, Buffer.from([PEER_ROLES.indexOf(role)]), token]);
  assert(preamble.length === PREAMBLE_BYTES);
  return preamble;
}

// The role a preamble claims, or undefined when it does not carry the cluster's token.
export function checkPreamble(preamble: Buffer, token: Buffer): PeerRole | undefined {
  assert(preamble.length === PREAMBLE_BYTES);
  if (!preamble.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const role = PEER_ROLES[preamble[MAGIC.length]];
  const offered = preamble.subarray(MAGIC.length + 1);
  if (!timingSafeEqual(offered, token)) return undefined;
  return role;
}

// TLS keying material both ends of one connection derive alike (RFC 5705 / RFC 8446, 7.5): a
// user's login proof covers it, so a proof seen on one connection is no use on another.
const CHANNEL_BINDING_LABEL = 'EXPORTER-strata-user-login';
export const CHANNEL_BINDING_BYTES = 32;

export function tlsChannelBinding(socket: TLSSocket): Buffer {
  const binding = socket.exportKeyingMaterial(
    CHANNEL_BINDING_BYTES,
    CHANNEL_BINDING_LABEL,
    Buffer.alloc(0),
  );
  assert(binding.length === CHANNEL_BINDING_BYTES);
  return binding;
}

// The role a verified certificate carries (subject OU), or undefined when it carries none.
export function certificateRole(certificate: PeerCertificate | undefined): PeerRole | undefined {
  const ou = certificate?.subject?.OU;
  const role = Array.isArray(ou) ? undefined : ou;
  return isPeerRole(role) ? role : undefined;
}

// The frame that tells a refused peer why, before the connection closes.
export function refusalFrame(code: 'RPC_UNAUTHENTICATED' | 'RPC_FORBIDDEN', message: string) {
  return encodeFrame(KIND_RESPONSE_ERROR, CONNECTION_REQUEST_ID, { code, message });
}

// Errors of the TLS layer, as opposed to the network: a certificate refused at either end.
export function isTlsRefusal(error: unknown): boolean {
  if (error instanceof StrataError) return error.code === 'RPC_UNAUTHENTICATED';
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string') return false;
  return (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    /CERT|UNABLE_TO_(GET|VERIFY)|SELF_SIGNED|DEPTH_ZERO/.test(code)
  );
}
