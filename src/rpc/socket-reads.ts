// A socket a server accepted, read as net.Socket's `onread` reads one it connects (Node offers
// the option only to those): each read lands in a buffer the reader chooses (FrameReader: a
// large frame's own buffer, from the server's request body pool), with no 64 KiB allocation per
// read and no copy to join the reads. Read as a stream, a data server's 1 MiB shard writes were
// 16 such allocations and a copy each: under 16 MiB S3 PUTs its collector took 28% of its busy
// time and copying the chunks 7% (docs/architecture/overview.md, "RPC").
import type { Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { isStreamHandle, readResult, streamReadsProblem } from '../common/stream-reads.ts';

export interface SocketReads {
  pause(): void;
  resume(): void;
  isPaused(): boolean;
}

export interface SocketReadHandlers {
  // Where the next read goes; asked again after every read.
  next(): Buffer;
  // `bytes` bytes landed at the start of `buffer` (the last next()).
  received(bytes: number, buffer: Buffer): void;
  // Reading failed (not at the end of the stream); the socket is destroyed after.
  failed(error: NodeJS.ErrnoException): void;
}

function errnoError(code: number): NodeJS.ErrnoException {
  const name = getSystemErrorName(code);
  return Object.assign(new Error(`reading an RPC connection: ${name}`), {
    code: name,
    errno: code,
  });
}

// Starts reading `socket`, accepted with `pauseOnConnect` so that nothing has read it yet.
// Undefined, having started nothing, when its handle does not take such reads or this Node lacks
// the internals (src/common/stream-reads.ts); the caller then reads it as a stream. At the
// stream's end, or when a read fails, the socket is destroyed (its 'close' follows).
export function readAcceptedSocket(
  socket: Socket,
  handlers: SocketReadHandlers,
): SocketReads | undefined {
  const handle = (socket as unknown as { _handle?: unknown })._handle;
  if (!isStreamHandle(handle) || streamReadsProblem() !== undefined) return undefined;
  // Node keeps only a pointer to the buffer it reads into: this closure holds the buffer itself.
  let current = handlers.next();
  handle.useUserBuffer(current);
  let paused = false;
  const fail = (code: number) => {
    if (getSystemErrorName(code) !== 'EOF') handlers.failed(errnoError(code));
    socket.destroy();
  };
  const start = () => {
    const started = handle.readStart();
    if (started !== 0) fail(started);
  };
  handle.onread = () => {
    const result = readResult();
    if (result > 0) {
      handlers.received(result, current);
      if (socket.destroyed) return undefined;
      current = handlers.next();
      return current;
    }
    // 0: epoll said readable and the read found nothing (EAGAIN); libuv waits for the next.
    if (result < 0) fail(result);
    return undefined;
  };
  start();
  return {
    pause() {
      if (paused) return;
      paused = true;
      handle.readStop();
    },
    resume() {
      if (!paused || socket.destroyed) return;
      paused = false;
      start();
    },
    isPaused: () => paused,
  };
}
