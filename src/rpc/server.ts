import assert from 'node:assert';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { isStrataError, StrataError } from '../common/errors.ts';
import { listen } from '../common/listen.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { rpcLatency, rpcRequests } from '../observability/metrics.ts';
import {
  encodeFrame,
  type Frame,
  FrameDecoder,
  KIND_REQUEST,
  KIND_RESPONSE_ERROR,
  KIND_RESPONSE_OK,
} from './frame.ts';
import { FrameReader } from './frame-reader.ts';
import {
  certificateRole,
  checkPreamble,
  HANDSHAKE_TIMEOUT_MS,
  PREAMBLE_BYTES,
  refusalFrame,
  tlsChannelBinding,
} from './handshake.ts';
import { isRpcMethod, type PermissionCheck, strataPermissions } from './permissions.ts';
import { isLoopback, type PeerRole, processRpcSecurity, type RpcSecurity } from './security.ts';
import { readAcceptedSocket, type SocketReads } from './socket-reads.ts';
import type { RpcHandler, RpcPeer, RpcReply } from './types.ts';

// Requests one connection may have in a handler at once. Beyond it, decoded requests wait in the
// connection's queue and the socket stops reading (TCP backpressure), so the queue holds at most
// the frames of the chunks already read.
const IN_FLIGHT_PER_CONNECTION_MAX = 1024;
const DEFAULT_TIMEOUT_MS = 30_000;
// A caller's timeout is clamped to this, so a bogus header cannot pin a handler slot for days.
const TIMEOUT_MS_MAX = 10 * 60_000;

export interface RpcServerOptions {
  name: string;
  log?: Logger;
  inFlightPerConnectionMax?: number;
  // Default: the process's (src/rpc/security.ts). There is no unauthenticated server.
  security?: RpcSecurity;
  // Default: Strata's table (src/rpc/permissions.ts); a test's own methods need their own.
  permissions?: PermissionCheck;
  // Large requests (frame.ts, LARGE_FRAME_BYTES) are read into buffers from here, given back
  // once their handler has answered, or when their connection drops them unanswered. Only for a
  // server none of whose handlers keeps a view of a request's body after it answers (a data
  // server: putShard has written or copied its shard by then). Without it, each large request is
  // a fresh allocation the collector frees.
  requestBodyPool?: RequestBodies;
  // False: token-mode connections are read as streams (FrameDecoder) too, as they are where the
  // socket or this Node does not take reads into chosen buffers (socket-reads.ts). For tests,
  // which run both paths.
  ownReads?: boolean;
}

// A BufferPool is one. `bodyAt`: where the frame's body starts, from its start (as its header
// length says: checked only when the frame decodes, so it may lie past the frame's end).
export interface RequestBodies {
  acquire(frameBytes: number, bodyAt: number): Buffer;
  release(frame: Buffer): void;
}

interface Connection {
  socket: Socket;
  // Set once the peer has proved membership: its certificate's role, or the role its token
  // preamble claims. No frame is read before.
  role: PeerRole | undefined;
  peer: RpcPeer | undefined; // made when the role is known
  peerOf: (role: PeerRole) => RpcPeer;
  preamble: Buffer | undefined; // token mode: the preamble's bytes so far
  refused: boolean; // closing after a refusal: nothing more is read
  handshakeTimer: NodeJS.Timeout | undefined; // token mode: drops a peer that never proves itself
  inFlight: number;
  queue: Array<{ frame: Frame; deadlineMs: number }>;
  reads: SocketReads; // paused while the queue is full
  // The large frame the connection's reader is filling, given back when the connection ends.
  abandonRead: () => void;
}

export class RpcServer {
  private readonly name: string;
  private readonly log: Logger;
  private readonly inFlightMax: number;
  private readonly security: RpcSecurity;
  private readonly permissions: PermissionCheck;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private readonly requestBodyPool: RequestBodies | undefined;
  private readonly ownReads: boolean;

  constructor(options: RpcServerOptions) {
    this.name = options.name;
    this.log = options.log ?? silentLogger;
    this.inFlightMax = options.inFlightPerConnectionMax ?? IN_FLIGHT_PER_CONNECTION_MAX;
    assert(Number.isInteger(this.inFlightMax) && this.inFlightMax >= 1);
    this.security = options.security ?? processRpcSecurity();
    this.permissions = options.permissions ?? strataPermissions;
    this.requestBodyPool = options.requestBodyPool;
    this.ownReads = options.ownReads ?? true;
  }

  handle(method: string, handler: RpcHandler): void {
    if (this.handlers.has(method))
      throw new StrataError('EINVAL', `RPC method ${method} registered twice`);
    if (this.permissions === strataPermissions && !isRpcMethod(method))
      throw new StrataError(
        'INTERNAL',
        `RPC method ${method} has no row in src/rpc/permissions.ts`,
      );
    this.handlers.set(method, handler);
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    assert(this.server === undefined, 'an RpcServer listens once');
    const server = this.security.mode === 'tls' ? this.tlsServer() : this.tokenServer(host);
    this.server = server;
    return listen(server, host, port);
  }

  private tlsServer(): Server {
    const security = this.security;
    assert(security.mode === 'tls');
    const server = createTlsServer(
      {
        ca: security.ca,
        cert: security.cert,
        key: security.key,
        minVersion: 'TLSv1.3',
        requestCert: true,
        rejectUnauthorized: true,
        handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      },
      (socket: TLSSocket) => {
        socket.setNoDelay(true);
        const role = certificateRole(socket.getPeerCertificate());
        if (socket.authorized && role !== undefined)
          return this.accept(socket, role, () => tlsChannelBinding(socket));
        refuse(socket, 'RPC_UNAUTHENTICATED', 'the certificate carries no Strata role');
      },
    );
    // Said at warn, as a wrong token is: a member without TLS, or with another CA's
    // certificate, only ever sees its connections dropped (RPC_CONNECTION_LOST), so this line is
    // where an operator finds why.
    server.on('tlsClientError', (error, socket) =>
      this.log.warn('refused an RPC connection: TLS handshake failed', {
        server: this.name,
        peer: socket.remoteAddress,
        reason: error.message,
      }),
    );
    // In front: a client without TLS (a process left on the cluster token) would otherwise see
    // only a dropped connection and retry until its deadline; it is told at once instead.
    return createServer({ noDelay: true }, (socket) => {
      // Tracked from here, so close() drops connections still in their handshake too.
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      const timer = setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS).unref();
      socket.once('readable', () => {
        clearTimeout(timer);
        const first: Buffer | null = socket.read(1);
        if (first === null) return void socket.destroy();
        socket.unshift(first);
        if (first[0] === TLS_HANDSHAKE_RECORD) server.emit('connection', socket);
        else refuse(socket, 'RPC_UNAUTHENTICATED', 'this server speaks TLS only ([tls])');
      });
      socket.on('error', () => {});
    });
  }

  // Plain TCP, authenticated by the cluster token: only where nothing leaves the machine.
  private tokenServer(host: string): Server {
    if (!isLoopback(host)) {
      throw new StrataError(
        'CONFIG_INVALID',
        `${this.name}: listening on ${host} needs TLS ([tls] ca, cert and key; ` +
          'docs/guides/security.md): without it internal RPC binds to loopback only',
      );
    }
    // Accepted paused: accept() reads it into buffers of its choosing (socket-reads.ts).
    return createServer({ noDelay: true, pauseOnConnect: true }, (socket) =>
      this.accept(socket, undefined, () => undefined),
    );
  }

  // Stops accepting and drops every connection; calls in flight fail at their callers with
  // RPC_CONNECTION_LOST.
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // `role` is known for a TLS peer; a token peer states it in its preamble.
  private accept(
    socket: Socket,
    role: PeerRole | undefined,
    channelBinding: () => Buffer | undefined,
  ): void {
    this.sockets.add(socket);
    socket.setKeepAlive(true, 10_000);
    const handshakeTimer =
      role === undefined
        ? setTimeout(() => socket.destroy(), HANDSHAKE_TIMEOUT_MS).unref()
        : undefined;
    const via = this.security.mode;
    const peerOf = (known: PeerRole): RpcPeer => ({
      role: known,
      via,
      principal: undefined,
      loginNonce: undefined,
      channelBinding,
    });
    const connection: Connection = {
      socket,
      role,
      peer: role === undefined ? undefined : peerOf(role),
      peerOf,
      preamble: undefined,
      refused: false,
      handshakeTimer,
      inFlight: 0,
      queue: [],
      reads: streamReads(socket),
      abandonRead: () => {},
    };
    const received = (frames: () => Frame[]) => {
      let read: Frame[] | undefined;
      try {
        read = frames();
        for (const frame of read) {
          if (frame.kind !== KIND_REQUEST)
            throw new StrataError('RPC_BAD_FRAME', `a client sent a frame of kind ${frame.kind}`);
        }
      } catch (error) {
        this.log.warn('closing RPC connection on a bad frame', { server: this.name, error });
        for (const frame of read ?? []) this.releaseBody(frame);
        socket.destroy();
        return;
      }
      for (const frame of read) this.admit(connection, frame);
    };
    const pool = this.requestBodyPool;
    const own =
      this.security.mode === 'token' && this.ownReads
        ? this.readOwn(connection, received)
        : undefined;
    if (own !== undefined) {
      connection.reads = own;
    } else {
      const decoder = new FrameDecoder(
        pool && ((frameBytes, bodyAt) => pool.acquire(frameBytes, bodyAt)),
      );
      connection.abandonRead = () => {
        const large = decoder.abandon();
        if (large !== undefined) pool?.release(large);
      };
      socket.on('data', (chunk: Buffer) => {
        if (connection.refused) return;
        let rest: Buffer | undefined = chunk;
        if (connection.role === undefined) {
          rest = this.readPreamble(connection, chunk);
          if (rest === undefined || rest.length === 0) return;
        }
        const frames = rest;
        received(() => decoder.push(frames));
      });
      socket.resume(); // a token server's sockets are accepted paused
    }
    socket.on('error', (error) => this.log.debug('RPC connection error', { error }));
    socket.on('close', () => {
      clearTimeout(connection.handshakeTimer);
      this.sockets.delete(socket);
      // Requests never served, and the one half read: their buffers go back (a data server's
      // may hold room in its direct-write slab).
      for (const { frame } of connection.queue) this.releaseBody(frame);
      connection.queue.length = 0;
      connection.abandonRead();
    });
  }

  // A token peer's connection read into buffers the server chooses (socket-reads.ts): the
  // preamble into its own, then frames through a FrameReader, a large one straight into a buffer
  // of the request body pool; undefined where the socket does not take such reads.
  private readOwn(
    connection: Connection,
    received: (frames: () => Frame[]) => void,
  ): SocketReads | undefined {
    const pool = this.requestBodyPool;
    const reader = new FrameReader(
      pool && ((_requestId, frameBytes, bodyAt) => pool.acquire(frameBytes, bodyAt)),
    );
    connection.abandonRead = () => {
      const leased = reader.abandon();
      if (leased !== undefined) pool?.release(leased);
    };
    let preamble: Buffer | undefined =
      connection.role === undefined ? Buffer.allocUnsafe(PREAMBLE_BYTES) : undefined;
    let preambleFilled = 0;
    return readAcceptedSocket(connection.socket, {
      next: () =>
        preamble === undefined ? reader.nextBuffer() : preamble.subarray(preambleFilled),
      received: (bytes, buffer) => {
        if (connection.refused) return;
        if (preamble !== undefined) {
          preambleFilled += bytes;
          if (preambleFilled < PREAMBLE_BYTES) return;
          const whole = preamble;
          preamble = undefined;
          const rest = this.readPreamble(connection, whole);
          assert(rest === undefined || rest.length === 0, 'reads stop at the preamble');
          return;
        }
        received(() => reader.read(bytes, buffer));
      },
      failed: (error) => this.log.debug('RPC connection error', { error }),
    });
  }

  // Token mode: gathers the preamble; returns the bytes after it once it holds the cluster's
  // token (possibly empty), undefined while incomplete or when refused.
  private readPreamble(connection: Connection, chunk: Buffer): Buffer | undefined {
    assert(this.security.mode === 'token', 'a TLS peer has its role from its certificate');
    const sofar = connection.preamble ? Buffer.concat([connection.preamble, chunk]) : chunk;
    if (sofar.length < PREAMBLE_BYTES) {
      connection.preamble = sofar;
      return undefined;
    }
    connection.preamble = undefined;
    const role = checkPreamble(sofar.subarray(0, PREAMBLE_BYTES), this.security.token);
    if (role === undefined) {
      this.log.warn('refused an RPC connection without the cluster token', {
        server: this.name,
        peer: connection.socket.remoteAddress,
      });
      connection.refused = true;
      refuse(connection.socket, 'RPC_UNAUTHENTICATED', 'not a cluster member (wrong token)');
      return undefined;
    }
    connection.role = role;
    connection.peer = connection.peerOf(role);
    clearTimeout(connection.handshakeTimer);
    return sofar.subarray(PREAMBLE_BYTES);
  }

  // The deadline starts when the request is read, so time spent queued counts against it.
  private admit(connection: Connection, frame: Frame): void {
    const request = frame.header as { t?: unknown } | null;
    const t = request?.t;
    const timeoutMs =
      typeof t === 'number' && t > 0 ? Math.min(t, TIMEOUT_MS_MAX) : DEFAULT_TIMEOUT_MS;
    connection.queue.push({ frame, deadlineMs: Date.now() + timeoutMs });
    this.drain(connection);
  }

  private drain(connection: Connection): void {
    while (connection.inFlight < this.inFlightMax && connection.queue.length > 0) {
      const { frame, deadlineMs } = connection.queue.shift()!;
      connection.inFlight++;
      void this.serve(connection, frame, deadlineMs).finally(() => {
        connection.inFlight--;
        assert(connection.inFlight >= 0);
        this.drain(connection);
      });
    }
    const full = connection.queue.length > 0;
    if (full && !connection.reads.isPaused()) connection.reads.pause();
    if (!full && connection.reads.isPaused()) connection.reads.resume();
  }

  private async serve(connection: Connection, frame: Frame, deadlineMs: number): Promise<void> {
    const socket = connection.socket;
    const role = connection.role;
    const peer = connection.peer;
    assert(role !== undefined && peer !== undefined, 'no frame is served before authentication');
    const request = frame.header as { m?: unknown; h?: unknown; n?: unknown } | null;
    const method = typeof request?.m === 'string' ? request.m : '';
    // A one-way request (RpcClient.notify): nothing is written back, failures included, so they
    // are logged and counted here, the only place that sees them.
    const oneWay = request?.n === true;
    // Method names come from the network: only registered ones become metric labels.
    const label = this.handlers.has(method) ? method : '(unknown)';
    const stopTimer = rpcLatency.startTimer({ method: label });
    let code = 'ok';
    try {
      // An unknown method stays RPC_NO_METHOD (version skew), for members only.
      if (this.handlers.has(method) && !this.permissions(role, method)) {
        throw new StrataError(
          'RPC_FORBIDDEN',
          `${this.name}: the ${role} role may not call ${method || '(no method)'}`,
        );
      }
      const reply = await this.run(method, request?.h, frame.body, deadlineMs, peer);
      if (oneWay) {
        reply.release?.();
        return;
      }
      // The body's buffer goes back to its owner once the socket has taken it, or at once when
      // it is not sent.
      const release = once(reply.release ?? noRelease);
      try {
        // The caller has given up already: skip sending a body nobody will read.
        if (Date.now() > deadlineMs)
          throw new StrataError('RPC_TIMEOUT', `${method} finished after its deadline`);
        write(
          socket,
          encodeFrame(KIND_RESPONSE_OK, frame.requestId, reply.header ?? null, reply.body),
          release,
        );
      } catch (error) {
        release();
        throw error;
      }
    } catch (error) {
      code = isStrataError(error) ? error.code : 'INTERNAL';
      if (!isStrataError(error))
        this.log.error('RPC handler failed', { server: this.name, method, error });
      const message = error instanceof Error ? error.message : String(error);
      if (oneWay) {
        this.log.warn('one-way RPC failed', { server: this.name, method, code, message });
        return;
      }
      write(socket, encodeFrame(KIND_RESPONSE_ERROR, frame.requestId, { code, message }));
    } finally {
      // The handler has answered (or never ran): nothing reads the request's body any more.
      this.releaseBody(frame);
      stopTimer();
      rpcRequests.inc({ method: label, code });
    }
  }

  private releaseBody(frame: Frame): void {
    if (frame.leased !== undefined) this.requestBodyPool?.release(frame.leased);
  }

  private async run(
    method: string,
    header: unknown,
    body: Buffer | undefined,
    deadlineMs: number,
    peer: RpcPeer,
  ): Promise<RpcReply> {
    const handler = this.handlers.get(method);
    if (!handler)
      throw new StrataError('RPC_NO_METHOD', `${this.name} has no RPC method "${method}"`);
    if (Date.now() > deadlineMs)
      throw new StrataError('RPC_TIMEOUT', `${method} waited past its deadline before it ran`);
    const reply = await handler({ method, header, body, deadlineMs, peer });
    assert(reply !== null && typeof reply === 'object', `${method} handler returned no reply`);
    return reply;
  }
}

// The first byte of a TLS connection: a handshake record (RFC 8446, 5.1: ContentType 22).
const TLS_HANDSHAKE_RECORD = 22;

// A socket read as a stream ('data' events), paused and resumed as one.
function streamReads(socket: Socket): SocketReads {
  return {
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    isPaused: () => socket.isPaused(),
  };
}

// Tells the peer why (a frame with request id 0) and closes the connection.
function refuse(socket: Socket, code: 'RPC_UNAUTHENTICATED', message: string): void {
  write(socket, refusalFrame(code, message));
  socket.end();
  setTimeout(() => socket.destroy(), 1_000).unref();
}

// Sockets corked until the current burst of answers is written (see write).
const corkedUntilTick = new Set<Socket>();

// `written`: called once the socket is done with the buffers (written, or failed with the
// connection), or at once when the socket is gone. Answers written in one burst (a metadata
// leader resolves up to 128 proposals in one Ready, and their handlers answer in the microtasks
// that follow) leave in one system call per connection: the socket stays corked until the
// process's next tick, which runs once those microtasks are done. A loopback write costs tens of
// µs and can hand the CPU to the woken reader, so 128 of them held the leader's event loop for
// milliseconds; a lone answer leaves at the same point as before (nothing runs in between).
function write(socket: Socket, buffers: Buffer[], written?: () => void): void {
  if (socket.destroyed) {
    written?.();
    return;
  }
  if (!corkedUntilTick.has(socket)) {
    corkedUntilTick.add(socket);
    socket.cork();
    process.nextTick(() => {
      corkedUntilTick.delete(socket);
      socket.uncork();
    });
  }
  socket.cork();
  for (let i = 0; i < buffers.length; i++)
    if (i === buffers.length - 1 && written !== undefined)
      socket.write(buffers[i], () => written());
    else socket.write(buffers[i]);
  socket.uncork();
}

function noRelease(): void {}

function once(f: () => void): () => void {
  let called = false;
  return () => {
    if (called) return;
    called = true;
    f();
  };
}
