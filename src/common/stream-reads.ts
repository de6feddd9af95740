// Reads of a libuv stream handle into buffers its reader chooses: the mechanism behind
// net.Socket's `onread` option, used where Node does not offer that option (a character device,
// src/fuse/device-stream.ts; a socket a server accepted, src/rpc/socket-reads.ts). Each read
// lands in the buffer last given; Node then calls the handle's `onread` with the read's result
// in its shared stream state, and a buffer `onread` returns is where the next read goes.
// Reached through process.binding (a documentation-only deprecation in Node 24): the internals
// net.Socket is built on, present in the Node release package.json pins.

// The part of a libuv stream handle (TCPWrap, PipeWrap) these reads use.
export interface StreamHandle {
  useUserBuffer(buffer: Buffer): void;
  readStart(): number;
  readStop(): number;
  // Called by Node with the read's result in readResult(); may return the next read's buffer.
  onread: () => Buffer | undefined;
}

interface StreamState {
  streamBaseState: Int32Array;
  readBytesOrError: number;
}

export function processBinding(name: string): Record<string, unknown> {
  const binding = (process as unknown as { binding(name: string): Record<string, unknown> })
    .binding;
  return binding(name);
}

// Node's shared stream state, or an Error naming what this Node lacks.
function streamState(): StreamState {
  const streamWrap = processBinding('stream_wrap') as {
    streamBaseState?: Int32Array;
    kReadBytesOrError?: number;
  };
  const found = {
    streamBaseState: streamWrap.streamBaseState,
    readBytesOrError: streamWrap.kReadBytesOrError,
  };
  const missing = Object.entries(found).filter(([, value]) => value === undefined);
  if (missing.length > 0)
    throw new Error(`this Node lacks ${missing.map(([name]) => name).join(', ')}`);
  return found as StreamState;
}

let state: StreamState | undefined;

// The result of the read `onread` was called for: bytes read (> 0), 0 when the read found
// nothing (EAGAIN), else a negative libuv error code (UV_EOF at the end of the stream).
// Throws where this Node lacks the internals (streamReadsProblem says so beforehand).
export function readResult(): number {
  state ??= streamState();
  return state.streamBaseState[state.readBytesOrError];
}

// Why these reads are unavailable in the running Node, or undefined.
export function streamReadsProblem(): string | undefined {
  try {
    state ??= streamState();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

// Whether `handle` (a net.Socket's `_handle`) takes these reads.
export function isStreamHandle(handle: unknown): handle is StreamHandle {
  const h = handle as Partial<StreamHandle> | null | undefined;
  return (
    typeof h?.useUserBuffer === 'function' &&
    typeof h.readStart === 'function' &&
    typeof h.readStop === 'function'
  );
}
