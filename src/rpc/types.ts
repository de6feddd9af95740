// Contract of the internal RPC layer (implemented in this folder).
//
// A call is (method, header, body?). The header is a small msgpack-encodable value; the body is
// raw bytes that travel as-is after the header (no base64, no JSON). Calls are multiplexed over
// one persistent TCP connection per peer, carry a deadline, and fail with a StrataError whose
// code is RPC_TIMEOUT / RPC_UNAVAILABLE / RPC_CONNECTION_LOST / RPC_NO_METHOD / RPC_BAD_FRAME,
// or, when the remote handler threw a StrataError, the remote error's own code and message.
import type { PeerRole } from './security.ts';

// The user a connection acts for once it has logged in (meta.login, src/metadata/user-login.ts):
// the RPC layer only keeps it with the connection; what it may do is the metadata service's to
// decide (src/metadata/namespace-access.ts).
export interface RpcPrincipal {
  user: string;
  accessKeyId: string;
  // The users table's version the key was last checked at: a later change re-checks it.
  usersVersion: number;
}

// Who is at the other end of one connection: its role, how it proved it, and the user it logged
// in as. One object per connection, handed to every handler of its calls.
export interface RpcPeer {
  readonly role: PeerRole;
  readonly via: 'tls' | 'token';
  principal: RpcPrincipal | undefined;
  // The nonce a login challenge gave this connection (used once).
  loginNonce: Buffer | undefined;
  // TLS: keying material exported from this connection's session (RFC 8446, 7.5), the same at
  // both ends and at no other connection's, so a login proof made for it is worthless elsewhere.
  // Token connections have none.
  channelBinding(): Buffer | undefined;
}

export interface RpcRequest<H = any> {
  method: string;
  header: H;
  body: Buffer | undefined;
  // Absolute deadline on the server's clock (ms since epoch), derived from the caller's timeout.
  deadlineMs: number;
  peer: RpcPeer;
}

export interface RpcReply<H = any> {
  header: H;
  body?: Buffer | undefined;
  // Server: called once the body is written to the socket (or will never be), so a handler can
  // give a pooled buffer back (src/common/buffer-pool.ts). Client, for a call made with
  // `leaseReply`: gives back the buffer the reply was read into; the caller calls it once it no
  // longer reads the body.
  release?: () => void;
}

export type RpcHandler = (request: RpcRequest) => Promise<RpcReply>;

// A call on one given connection (before it is handed to other callers): what a client's
// onConnect hook logs in with.
export type RpcConnectionCall = <H = any>(method: string, header: unknown) => Promise<RpcReply<H>>;

export interface RpcCallOptions {
  timeoutMs?: number;
  // A large reply is read into a buffer of the process's pool (shardBuffers,
  // src/common/buffer-pool.ts), and the reply's `release` gives it back: for callers that know
  // when they are done with the body (a rebuild's shard reads). Without it, `release` is absent.
  leaseReply?: boolean;
  // Called once, when the socket is done with the request's body (written, or the connection
  // failed under it), or at once when the call fails before writing it: the caller may then
  // reuse the body's buffer. Not when the reply comes: a call may time out with its body still
  // queued on a slow connection.
  bodySent?: () => void;
}
