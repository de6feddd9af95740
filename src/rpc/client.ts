import assert from 'node:assert';
import { connect, type OnReadOpts, type Socket } from 'node:net';
import {
  type ConnectionOptions,
  connect as connectTls,
  type PeerCertificate,
  type TLSSocket,
} from 'node:tls';
import { type BufferPool, releaseOnce, shardBuffers } from '../common/buffer-pool.ts';
import { StrataError, type StrataErrorCode } from '../common/errors.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import {
  encodeFrame,
  FRAME_BYTES_MAX,
  FRAME_FIXED_BYTES,
  FRAME_PREFIX_BYTES,
  type Frame,
  KIND_REQUEST,
  KIND_RESPONSE_OK,
} from './frame.ts';
import { FrameReader } from './frame-reader.ts';
import {
  CONNECTION_REQUEST_ID,
  certificateRole,
  isTlsRefusal,
  tlsChannelBinding,
  tokenPreamble,
} from './handshake.ts';
import { isLoopback, processRpcSecurity, type RpcSecurity, SERVER_ROLES } from './security.ts';
import type { RpcCallOptions, RpcConnectionCall, RpcReply } from './types.ts';

// Runs on each new connection before any other call uses it (a user's login, meta.login): its
// calls go on that connection; when it throws, the connection is closed and the calls waiting
// for it fail with its error. `channelBinding`: the TLS exporter value, undefined on a token
// connection (src/rpc/handshake.ts).
export type RpcOnConnect = (
  call: RpcConnectionCall,
  channelBinding: Buffer | undefined,
) => Promise<void>;

const DEFAULT_TIMEOUT_MS = 30_000;
const CONNECT_TIMEOUT_MS = 5_000;
const IN_FLIGHT_MAX = 4096;

// One connection's reading state: its frame reader, and why the server closed it when it said
// (a refusal) or TLS did (an alert).
interface Connection {
  reader: FrameReader;
  refusal: StrataError | undefined;
}

interface Pending {
  resolve(reply: RpcReply<any>): void;
  leaseReply: boolean; // a large reply goes into a buffer of shardBuffers
  reject(error: Error): void;
  timer: NodeJS.Timeout;
  method: string;
  // The connection the request went out on: only its loss fails the call.
  socket: Socket;
}

// One persistent, multiplexed connection to one peer, opened on first use and re-opened on the
// next call after it drops.
export class RpcClient {
  readonly addr: string;
  private readonly host: string;
  private readonly port: number;
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly defaultTimeoutMs: number;
  private readonly security: RpcSecurity;
  private readonly onConnect: RpcOnConnect | undefined;
  // Where a call's leased reply goes (leaseReply): shardBuffers unless the caller's are others.
  private readonly replyPool: BufferPool;
  private readonly pending = new Map<number, Pending>();
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  private nextId = 1;
  private closed = false;

  constructor(
    addr: string,
    options: {
      log?: Logger;
      connectTimeoutMs?: number;
      defaultTimeoutMs?: number;
      // Default: the process's (src/rpc/security.ts).
      security?: RpcSecurity;
      onConnect?: RpcOnConnect;
      replyPool?: BufferPool;
    } = {},
  ) {
    const at = addr.lastIndexOf(':');
    assert(at > 0, `address "${addr}" is host:port`);
    this.addr = addr;
    this.host = addr.slice(0, at).replace(/^\[|\]$/g, '');
    this.port = Number(addr.slice(at + 1));
    this.log = options.log ?? silentLogger;
    this.connectTimeoutMs = options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.security = options.security ?? processRpcSecurity();
    this.onConnect = options.onConnect;
    this.replyPool = options.replyPool ?? shardBuffers;
  }

  async call<H = any>(
    method: string,
    header: unknown,
    body?: Buffer,
    options: RpcCallOptions = {},
  ): Promise<RpcReply<H>> {
    const sent = onceOrNothing(options.bodySent);
    try {
      return await this.callSending(method, header, body, options, sent);
    } catch (error) {
      sent.unlessWritten();
      throw error;
    }
  }

  // `sent.writing()` once the body is handed to the socket, whose write callback ends it.
  private async callSending<H>(
    method: string,
    header: unknown,
    body: Buffer | undefined,
    options: RpcCallOptions,
    sent: BodySent,
  ): Promise<RpcReply<H>> {
    if (this.closed)
      throw new StrataError('RPC_UNAVAILABLE', `RPC client to ${this.addr} is closed`);
    if (this.pending.size >= IN_FLIGHT_MAX) {
      throw new StrataError('RPC_UNAVAILABLE', `${IN_FLIGHT_MAX} calls in flight to ${this.addr}`);
    }
    const timeoutMs = options.timeoutMs ?? this.defaultTimeoutMs;
    assert(timeoutMs > 0, `timeoutMs must be positive, got ${timeoutMs}`);
    const startedMs = Date.now();
    // A body that cannot fit a frame fails here, before it costs a connection.
    const bodyBytes = body?.length ?? 0;
    if (FRAME_PREFIX_BYTES + FRAME_FIXED_BYTES + bodyBytes > FRAME_BYTES_MAX) {
      const limit = `the ${FRAME_BYTES_MAX}-byte frame limit`;
      throw new StrataError(
        'RPC_BAD_FRAME',
        `${method}: a ${bodyBytes}-byte body exceeds ${limit}`,
      );
    }
    const socket = await this.connection(timeoutMs);
    const remainingMs = Math.max(1, timeoutMs - (Date.now() - startedMs));
    return this.send(socket, method, header, body, remainingMs, options.leaseReply === true, sent);
  }

  // A one-way request: the server runs its handler and sends nothing back (the `n` flag of the
  // request header), so neither end spends a frame, a timer or a pending entry on a reply nobody
  // waits for. For messages whose sender copes with loss by itself (Raft's: the core retries);
  // resolves once the frame is handed to the socket, rejects when there is no connection. A
  // server from before the flag answers anyway; the reply finds no pending call and is dropped.
  // On an open connection the frame is written before this returns (no await in between), so
  // frames leave in the order of the calls and at the moment of the call, which a caller ordering
  // its writes relies on (a Raft leader's appends before its client answers).
  notify(method: string, header: unknown, timeoutMs = this.defaultTimeoutMs): Promise<void> {
    if (this.closed)
      return Promise.reject(
        new StrataError('RPC_UNAVAILABLE', `RPC client to ${this.addr} is closed`),
      );
    assert(timeoutMs > 0, `timeoutMs must be positive, got ${timeoutMs}`);
    const open = this.connecting === undefined ? this.socket : undefined;
    if (open !== undefined && !open.destroyed) {
      try {
        this.writeOneWay(open, method, header, timeoutMs);
      } catch (error) {
        return Promise.reject(error); // a header too large for a frame
      }
      return Promise.resolve();
    }
    return this.connection(timeoutMs).then((socket) => {
      if (socket.destroyed || this.closed)
        throw new StrataError('RPC_CONNECTION_LOST', `${method}: connection to ${this.addr} lost`);
      this.writeOneWay(socket, method, header, timeoutMs);
    });
  }

  private writeOneWay(socket: Socket, method: string, header: unknown, timeoutMs: number): void {
    const requestId = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    const buffers = encodeFrame(KIND_REQUEST, requestId, {
      m: method,
      t: timeoutMs,
      h: header,
      n: true,
    });
    socket.cork();
    for (const buffer of buffers) socket.write(buffer);
    socket.uncork();
  }

  // One request on one connection, answered within `remainingMs`.
  private send<H>(
    socket: Socket,
    method: string,
    header: unknown,
    body: Buffer | undefined,
    remainingMs: number,
    leaseReply = false,
    sent?: BodySent,
  ): Promise<RpcReply<H>> {
    if (socket.destroyed || this.closed) {
      const lost = `${method}: connection to ${this.addr} lost`;
      return Promise.reject(new StrataError('RPC_CONNECTION_LOST', lost));
    }
    const timeoutMs = remainingMs;
    const requestId = this.nextId;
    this.nextId = this.nextId >= 0xffffffff ? 1 : this.nextId + 1;
    assert(!this.pending.has(requestId), 'request ids do not wrap onto a call in flight');
    const request = { m: method, t: remainingMs, h: header };
    const buffers = encodeFrame(KIND_REQUEST, requestId, request, body);
    return new Promise<RpcReply<H>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        const message = `${method} to ${this.addr} timed out after ${timeoutMs} ms`;
        reject(new StrataError('RPC_TIMEOUT', message));
      }, remainingMs);
      this.pending.set(requestId, { resolve, reject, timer, method, socket, leaseReply });
      socket.cork();
      const last = buffers.length - 1;
      for (let i = 0; i < last; i++) socket.write(buffers[i]);
      // Callbacks run in write order, with an error if the socket is destroyed first: the last
      // buffer's says the socket is done with all of them.
      if (sent === undefined) socket.write(buffers[last]);
      else {
        sent.writing();
        socket.write(buffers[last], () => sent.end());
      }
      socket.uncork();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(undefined, 'client closed');
    this.socket?.destroy();
    this.socket = undefined;
  }

  // A connection still in its onConnect hook is not handed out: calls wait for it.
  private connection(timeoutMs: number): Promise<Socket> {
    if (this.connecting) return this.connecting;
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    this.connecting = this.open(Math.min(timeoutMs, this.connectTimeoutMs))
      .then((socket) => this.prepare(socket, timeoutMs))
      .finally(() => {
        this.connecting = undefined;
      });
    return this.connecting;
  }

  private async prepare(socket: Socket, timeoutMs: number): Promise<Socket> {
    const onConnect = this.onConnect;
    if (onConnect === undefined) return socket;
    const binding =
      this.security.mode === 'tls' ? tlsChannelBinding(socket as TLSSocket) : undefined;
    try {
      await onConnect(
        (method, header) => this.send(socket, method, header, undefined, timeoutMs),
        binding,
      );
    } catch (error) {
      socket.destroy();
      throw error;
    }
    return socket;
  }

  private open(timeoutMs: number): Promise<Socket> {
    return new Promise((resolve, reject) => {
      const security = this.security;
      // Replies are read straight into their frames' buffers (frame-reader.ts): a shard's
      // bytes reach a buffer of their own with no chunk per read and no copy to join them.
      // A call that gives its reply's buffer back has it from the pool.
      const lease = (requestId: number, frameBytes: number) =>
        this.pending.get(requestId)?.leaseReply === true
          ? this.replyPool.acquire(frameBytes)
          : undefined;
      const connection: Connection = { reader: new FrameReader(lease), refusal: undefined };
      const onread: OnReadOpts = {
        buffer: () => connection.reader.nextBuffer(),
        callback: (bytesRead: number, buffer: Uint8Array) => {
          this.received(socket, connection, bytesRead, buffer as Buffer);
          return true; // never paused: replies are what the calls in flight wait for
        },
      };
      const socket: Socket =
        security.mode === 'tls'
          ? connectTls(tlsOptions(this.host, this.port, security, onread))
          : connect({ host: this.host, port: this.port, onread });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new StrataError(
            'RPC_UNAVAILABLE',
            `cannot connect to ${this.addr} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      socket.once(security.mode === 'tls' ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.setKeepAlive(true, 10_000);
        socket.off('error', onConnectError);
        if (this.closed) {
          socket.destroy();
          reject(new StrataError('RPC_UNAVAILABLE', `RPC client to ${this.addr} is closed`));
          return;
        }
        if (security.mode === 'token') {
          // The token is a secret shared by one machine's processes: it never goes on a wire.
          if (!isLoopback(socket.remoteAddress ?? '')) {
            socket.destroy();
            reject(notLoopback(this.addr, socket.remoteAddress));
            return;
          }
          socket.write(tokenPreamble(security.token, security.role));
        }
        this.attach(socket, connection);
        resolve(socket);
      });
      const onConnectError = (error: Error) => {
        clearTimeout(timer);
        reject(
          isTlsRefusal(error)
            ? new StrataError(
                'RPC_UNAUTHENTICATED',
                `${this.addr} refused or is not a cluster member: ${error.message}`,
              )
            : new StrataError(
                'RPC_UNAVAILABLE',
                `cannot connect to ${this.addr}: ${error.message}`,
              ),
        );
      };
      socket.once('error', onConnectError);
    });
  }

  private received(
    socket: Socket,
    connection: Connection,
    bytesRead: number,
    buffer: Buffer,
  ): void {
    if (socket.destroyed) return;
    let frames: Frame[];
    try {
      frames = connection.reader.read(bytesRead, buffer);
      for (const frame of frames) {
        if (frame.kind === KIND_REQUEST)
          throw new StrataError('RPC_BAD_FRAME', 'a server sent a request frame');
      }
    } catch (error) {
      this.log.warn('bad frame from RPC peer; reconnecting', { addr: this.addr, error });
      socket.destroy();
      return;
    }
    for (const frame of frames) {
      if (frame.requestId === CONNECTION_REQUEST_ID)
        connection.refusal = connectionError(frame, this.addr);
      else this.settle(frame);
    }
  }

  private attach(socket: Socket, connection: Connection): void {
    this.socket = socket;
    socket.on('error', (error) => {
      // TLS 1.3 checks the client's certificate after the client's handshake is done: a
      // refusal arrives as an alert on the first read.
      if (isTlsRefusal(error))
        connection.refusal ??= new StrataError(
          'RPC_UNAUTHENTICATED',
          `${this.addr} refused: ${error.message}`,
        );
      this.log.debug('RPC connection error', { addr: this.addr, error });
    });
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
      this.failAll(socket, `connection to ${this.addr} lost`, connection.refusal);
    });
  }

  private settle(frame: Frame): void {
    const pending = this.pending.get(frame.requestId);
    const leased = frame.leased;
    if (!pending) {
      if (leased !== undefined) this.replyPool.release(leased); // timed out: nobody reads it
      return;
    }
    this.pending.delete(frame.requestId);
    clearTimeout(pending.timer);
    if (frame.kind === KIND_RESPONSE_OK) {
      const release = leased === undefined ? noRelease : releaseOnce(this.replyPool, leased);
      pending.resolve({
        header: frame.header,
        body: frame.body,
        ...(pending.leaseReply ? { release } : {}),
      });
      return;
    }
    if (leased !== undefined) this.replyPool.release(leased);
    const remote = (frame.header ?? {}) as { code?: string; message?: string };
    const code = (typeof remote.code === 'string' ? remote.code : 'RPC_REMOTE') as StrataErrorCode;
    pending.reject(
      new StrataError(code, remote.message ?? `${pending.method} failed at ${this.addr}`),
    );
  }

  // Fails the calls sent on `socket` (every call when undefined) with RPC_CONNECTION_LOST, or
  // with the server's refusal when it gave one.
  private failAll(socket: Socket | undefined, why: string, refusal?: StrataError): void {
    for (const [id, pending] of this.pending) {
      if (socket !== undefined && pending.socket !== socket) continue;
      clearTimeout(pending.timer);
      pending.reject(
        refusal
          ? new StrataError(refusal.code, `${pending.method}: ${refusal.message}`)
          : new StrataError('RPC_CONNECTION_LOST', `${pending.method}: ${why}`),
      );
      this.pending.delete(id);
    }
  }
}

function noRelease(): void {}

// checkServerIdentity: the end a client dialled must hold a server's role.
function serverRole(certificate: PeerCertificate): Error | undefined {
  const role = certificateRole(certificate);
  if (role !== undefined && SERVER_ROLES.includes(role)) return undefined;
  return new StrataError(
    'RPC_UNAUTHENTICATED',
    `the server's certificate has role ${role ?? '(none)'}, not one of ${SERVER_ROLES.join(', ')}`,
  );
}

function notLoopback(addr: string, remote: string | undefined): StrataError {
  return new StrataError(
    'RPC_UNAUTHENTICATED',
    `${addr} (${remote}) is not on this machine: without TLS the cluster token is only sent ` +
      'over loopback ([tls] ca, cert and key; docs/guides/security.md)',
  );
}

// The connection-level error frame a server sends before it closes a connection it refuses.
function connectionError(frame: Frame, addr: string): StrataError {
  const remote = (frame.header ?? {}) as { code?: unknown; message?: unknown };
  const code = remote.code === 'RPC_FORBIDDEN' ? 'RPC_FORBIDDEN' : 'RPC_UNAUTHENTICATED';
  const message = typeof remote.message === 'string' ? remote.message : 'refused';
  return new StrataError(code, `${addr} refused the connection: ${message}`);
}

// tls.connect takes `onread` as net.connect does (Node passes it to the TLSSocket); its type
// declarations omit it, hence the intersection.
function tlsOptions(
  host: string,
  port: number,
  security: Extract<RpcSecurity, { mode: 'tls' }>,
  onread: OnReadOpts,
): ConnectionOptions {
  const options: ConnectionOptions & { onread: OnReadOpts } = {
    host,
    port,
    ca: security.ca,
    cert: security.cert,
    key: security.key,
    minVersion: 'TLSv1.3',
    onread,
    // The cluster CA vouches for membership; the role says the peer is a server. Names are not
    // checked: members are dialled by whatever address they advertise.
    checkServerIdentity: (_host: string, certificate: PeerCertificate) => serverRole(certificate),
  };
  return options;
}

// RpcCallOptions.bodySent, called once: by the socket's write callback once the body was handed
// to it, else by the call's failure.
interface BodySent {
  writing(): void;
  end(): void;
  unlessWritten(): void;
}

function onceOrNothing(callback: (() => void) | undefined): BodySent {
  let handed = false;
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    callback?.();
  };
  return {
    writing: () => {
      handed = true;
    },
    end,
    unlessWritten: () => {
      if (!handed) end();
    },
  };
}
