// Reads /dev/fuse on the event loop's own thread. The descriptor is opened as a libuv pipe stream
// (made non-blocking; the device supports poll), so a request wakes the main thread straight from
// epoll and is read there. What Node offers for a character device, fs.read, parks a libuv pool
// thread in read(2) and hands each request over through the pool's queue: a second thread
// wake-up per request, which on a 2-core VM cost more than answering most requests (creates
// through the mount went from about 1,200 to 2,300–4,800 per s without it; docs/architecture/
// overview.md, "FUSE mount").
// net.Socket cannot take the descriptor (libuv calls a character device a file, and Node wraps
// only pipes and sockets), so the pipe handle is made through process.binding and read as
// net.Socket's `onread` reads (src/common/stream-reads.ts).
// Each read fills the caller's buffer with one whole request; `request` may keep that buffer and
// return another for the next read.
import { getSystemErrorName } from 'node:util';
import {
  processBinding,
  readResult,
  type StreamHandle,
  streamReadsProblem,
} from '../common/stream-reads.ts';

interface PipeHandle extends StreamHandle {
  open(fd: number): number;
}

interface Bindings {
  Pipe: new (type: number) => PipeHandle;
  pipeSocket: number;
}

export interface DeviceStreamHandlers {
  // A request of `bytes` bytes at the start of `buffer`. Returns the buffer for the next read when
  // the handler keeps this one past its return; undefined: the same buffer is read into again.
  request(buffer: Buffer, bytes: number): Buffer | undefined;
  // The kernel ended the connection (unmounted: ENODEV), or reading failed for good (error; the
  // connection may still be alive).
  end(error: NodeJS.ErrnoException | undefined): void;
}

// Errors after which the next read may succeed: the request was interrupted before it was read.
const TRANSIENT = new Set(['ENOENT', 'EINTR', 'EAGAIN']);
const CONNECTION_ENDED = new Set(['ENODEV', 'ECONNABORTED', 'EOF']);

function bindings(): Bindings {
  const pipeWrap = processBinding('pipe_wrap') as {
    Pipe: Bindings['Pipe'];
    constants: { SOCKET: number };
  };
  const found = { Pipe: pipeWrap.Pipe, pipeSocket: pipeWrap.constants?.SOCKET };
  const missing = Object.entries(found).filter(([, value]) => value === undefined);
  const streams = streamReadsProblem();
  if (missing.length > 0 || streams !== undefined)
    throw new Error(
      [
        missing.length > 0 ? `this Node lacks ${missing.map(([name]) => name).join(', ')}` : '',
        streams ?? '',
      ]
        .filter((problem) => problem !== '')
        .join('; '),
    );
  return found as Bindings;
}

// Why /dev/fuse cannot be read this way with the running Node, or undefined: asked before
// mounting, so that a Node without these internals refuses to mount rather than leave a mount
// nobody answers.
export function deviceReadingProblem(): string | undefined {
  try {
    bindings();
    return undefined;
  } catch (error) {
    return `cannot read /dev/fuse on the event loop: ${(error as Error).message} (strata-mount needs the Node that package.json pins)`;
  }
}

function errnoError(code: number): NodeJS.ErrnoException {
  const name = getSystemErrorName(code);
  return Object.assign(new Error(`reading /dev/fuse: ${name}`), { code: name, errno: code });
}

// The handles reading, held so that nothing collects one while the kernel may still send to it.
const reading = new Set<PipeHandle>();

// Every failure, opening the handle included, reaches `handlers.end`: the caller has mounted
// already, and an exception here would leave a mount nobody answers.
export function readDevice(fd: number, buffer: Buffer, handlers: DeviceStreamHandlers): void {
  const { Pipe, pipeSocket } = bindings();
  const handle = new Pipe(pipeSocket);
  const opened = handle.open(fd);
  if (opened !== 0) {
    handlers.end(errnoError(opened));
    return;
  }
  // Node keeps only a pointer to the buffer it reads into: this closure holds the buffer itself.
  let current = buffer;
  handle.useUserBuffer(current);
  const end = (error: NodeJS.ErrnoException | undefined) => {
    reading.delete(handle);
    handlers.end(error);
  };
  const start = () => {
    const started = handle.readStart();
    if (started !== 0) end(errnoError(started));
  };
  handle.onread = () => {
    const result = readResult();
    if (result > 0) {
      const next = handlers.request(current, result);
      if (next === undefined) return undefined;
      current = next;
      return next;
    }
    // 0: epoll said readable and the read found nothing (EAGAIN: the request was withdrawn
    // before it was read, its caller interrupted); libuv goes on waiting for the next.
    if (result === 0) return undefined;
    const error = errnoError(result);
    // libuv stops reading after reporting an error, once this callback returns.
    if (TRANSIENT.has(error.code as string)) setImmediate(start);
    else end(CONNECTION_ENDED.has(error.code as string) ? undefined : error);
    return undefined;
  };
  reading.add(handle);
  start();
}
