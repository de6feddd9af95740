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
import type { RpcHandler } from './types.ts';

// Requests one connection may have in progress; beyond it the connection stops reading (TCP
// backpressure) until some finish.
const IN_FLIGHT_PER_CONNECTION_MAX = 1024;

export class RpcServer {
  private readonly name: string;
  private readonly log: Logger;
  private readonly handlers = new Map<string, RpcHandler>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;

  constructor(options: { name: string; log?: Logger }) {
    this.name = options.name;
    this.log = options.log ?? silentLogger;
  }

  handle(method: string, handler: RpcHandler): void {
    if (this.handlers.has(method))
      throw new StrataError('EINVAL', `RPC method ${method} registered twice`);
    this.handlers.set(method, handler);
  }

  async listen(host: string, port: number): Promise<{ host: string; port: number }> {
    const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
    this.server = server;
    return listen(server, host, port);
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    const decoder = new FrameDecoder();
    let inFlight = 0;
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        this.log.warn('closing RPC connection on a bad frame', { server: this.name, error });
        socket.destroy();
        return;
      }
      for (const frame of frames) {
        if (frame.kind !== KIND_REQUEST) continue;
        inFlight++;
        if (inFlight >= IN_FLIGHT_PER_CONNECTION_MAX) socket.pause();
        void this.serve(socket, frame).finally(() => {
          inFlight--;
          if (socket.isPaused() && inFlight < IN_FLIGHT_PER_CONNECTION_MAX) socket.resume();
        });
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
  }

  private async serve(socket: Socket, frame: Frame): Promise<void> {
    const request = frame.header as { m?: unknown; t?: unknown; h?: unknown };
    const method = typeof request?.m === 'string' ? request.m : '';
    const timeoutMs = typeof request?.t === 'number' ? request.t : 30_000;
    const deadlineMs = Date.now() + timeoutMs;
    const stopTimer = rpcLatency.startTimer({ method });
    let code = 'ok';
    try {
      const handler = this.handlers.get(method);
      if (!handler)
        throw new StrataError('RPC_NO_METHOD', `${this.name} has no RPC method "${method}"`);
      const reply = await handler({ method, header: request.h, body: frame.body, deadlineMs });
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
      rpcRequests.inc({ method, code });
    }
  }
}

function write(socket: Socket, buffers: Buffer[]): void {
  if (socket.destroyed) return;
  socket.cork();
  for (const buffer of buffers) socket.write(buffer);
  socket.uncork();
}
