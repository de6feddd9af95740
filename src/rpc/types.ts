// Contract of the internal RPC layer (implemented in this folder).
//
// A call is (method, header, body?). The header is a small msgpack-encodable value; the body is
// raw bytes that travel as-is after the header (no base64, no JSON). Calls are multiplexed over
// one persistent TCP connection per peer, carry a deadline, and fail with a StrataError whose
// code is RPC_TIMEOUT / RPC_UNAVAILABLE / RPC_CONNECTION_LOST / RPC_NO_METHOD / RPC_BAD_FRAME,
// or, when the remote handler threw a StrataError, the remote error's own code and message.

export interface RpcRequest<H = any> {
  method: string;
  header: H;
  body: Buffer | undefined;
  // Absolute deadline on the server's clock (ms since epoch), derived from the caller's timeout.
  deadlineMs: number;
}

export interface RpcReply<H = any> {
  header: H;
  body?: Buffer | undefined;
}

export type RpcHandler = (request: RpcRequest) => Promise<RpcReply>;

export interface RpcCallOptions {
  timeoutMs?: number;
}
