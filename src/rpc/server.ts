import assert from 'node:assert';
import { createServer, type Server, type Socket } from 'node:net';
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
import type { RpcHandler, RpcReply } from './types.ts';

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
}

interface Connection {
  socket: Socket;
  inFlight: number;
  queue: Array<{ frame: Frame; deadlineMs: number }>;
}

export class RpcServer {
  private readonly name: string;
  private readonly log: Logger;
  private readonly inFlightMax: number;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  constructor(options: RpcServerOptions) {
    this.name = options.name;
    this.log = options.log ?? silentLogger;
    this.inFlightMax = options.inFlightPerConnectionMax ?? IN_FLIGHT_PER_CONNECTION_MAX;
    assert(Number.isInteger(this.inFlightMax) && this.inFlightMax >= 1);
  }

  handle(method: string, handler: RpcHandler): void {
    if (this.handlers.has(method))
      throw new StrataError('EINVAL', `RPC method ${method} registered twice`);
    this.handlers.set(method, handler);
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    assert(this.server === undefined, 'an RpcServer listens once');
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    return listen(server, host, port);
  }

  // Stops accepting and drops every connection; calls in flight fail at their callers with
  // RPC_CONNECTION_LOST.
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.setKeepAlive(true, 10_000);
    const connection: Connection = { socket, inFlight: 0, queue: [] };
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
        for (const frame of frames) {
          if (frame.kind !== KIND_REQUEST)
            throw new StrataError('RPC_BAD_FRAME', `a client sent a frame of kind ${frame.kind}`);
        }
      } catch (error) {
        this.log.warn('closing RPC connection on a bad frame', { server: this.name, error });
        socket.destroy();
        return;
      }
      for (const frame of frames) this.admit(connection, frame);
    });
    socket.on('error', (error) => this.log.debug('RPC connection error', { error }));
    socket.on('close', () => {
      this.sockets.delete(socket);
      connection.queue.length = 0;
    });
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
      void this.serve(connection.socket, frame, deadlineMs).finally(() => {
        connection.inFlight--;
        assert(connection.inFlight >= 0);
        this.drain(connection);
      });
    }
    const full = connection.queue.length > 0;
    if (full && !connection.socket.isPaused()) connection.socket.pause();
    if (!full && connection.socket.isPaused()) connection.socket.resume();
  }

  private async serve(socket: Socket, frame: Frame, deadlineMs: number): Promise<void> {
    const request = frame.header as { m?: unknown; h?: unknown } | null;
    const method = typeof request?.m === 'string' ? request.m : '';
    // Method names come from the network: only registered ones become metric labels.
    const label = this.handlers.has(method) ? method : '(unknown)';
    const stopTimer = rpcLatency.startTimer({ method: label });
    let code = 'ok';
    try {
      const reply = await this.run(method, request?.h, frame.body, deadlineMs);
      // The caller has given up already: skip sending a body nobody will read.
      if (Date.now() > deadlineMs)
        throw new StrataError('RPC_TIMEOUT', `${method} finished after its deadline`);
      write(
        socket,
        encodeFrame(KIND_RESPONSE_OK, frame.requestId, reply.header ?? null, reply.body),
      );
    } catch (error) {
      code = isStrataError(error) ? error.code : 'INTERNAL';
      if (!isStrataError(error))
        this.log.error('RPC handler failed', { server: this.name, method, error });
      const message = error instanceof Error ? error.message : String(error);
      write(socket, encodeFrame(KIND_RESPONSE_ERROR, frame.requestId, { code, message }));
    } finally {
      stopTimer();
      rpcRequests.inc({ method: label, code });
    }
  }

  private async run(
    method: string,
    header: unknown,
    body: Buffer | undefined,
    deadlineMs: number,
  ): Promise<RpcReply> {
    const handler = this.handlers.get(method);
    if (!handler)
      throw new StrataError('RPC_NO_METHOD', `${this.name} has no RPC method "${method}"`);
    if (Date.now() > deadlineMs)
      throw new StrataError('RPC_TIMEOUT', `${method} waited past its deadline before it ran`);
    const reply = await handler({ method, header, body, deadlineMs });
    assert(reply !== null && typeof reply === 'object', `${method} handler returned no reply`);
    return reply;
  }
}

function write(socket: Socket, buffers: Buffer[]): void {
  if (socket.destroyed) return;
  socket.cork();
  for (const buffer of buffers) socket.write(buffer);
  socket.uncork();
}
