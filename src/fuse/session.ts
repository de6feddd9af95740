// Reads requests from /dev/fuse and answers them: several reads outstanding at once (each parks a
// libuv pool thread, so bin/strata-mount.ts sizes UV_THREADPOOL_SIZE), one writev per reply
// (synchronous; notifications asynchronous).
// Requests are served concurrently; the kernel matches replies by `unique`.
import { read as fsRead, writev, writevSync } from 'node:fs';
import type { Logger } from '../observability/logger.ts';
import { fuseLatency, fuseRequests } from '../observability/metrics.ts';
import { errnoOf } from './errno.ts';
import type { FuseOperations } from './operations.ts';
import { decodeInHeader, encodeNotify, encodeReply, IN_HEADER_BYTES, OP } from './protocol.ts';

const OP_NAMES = new Map<number, string>(
  Object.entries(OP).map(([name, code]) => [code, name.toLowerCase()]),
);

export const MAX_WRITE_BYTES = 1024 * 1024;
const READ_BUFFER_BYTES = MAX_WRITE_BYTES + 64 * 1024;
const READERS = 4;
const SMALL_REQUEST_BYTES = 64 * 1024;
const SPARE_BUFFERS_MAX = 16;

export class FuseSession {
  private readonly fd: number;
  private readonly ops: FuseOperations;
  private readonly log: Logger;
  private stopped = false;
  // Reads of /dev/fuse not yet returned: after stop, a connection a lazy unmount left alive.
  private readsParked = 0;
  private readonly spareBuffers: Buffer[] = [];
  private resolveDone!: () => void;
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(fd: number, ops: FuseOperations, log: Logger) {
    this.fd = fd;
    this.ops = ops;
    this.log = log;
    ops.notifier = (code, body) => this.send(encodeNotify(code, body));
    ops.onDestroy = () => this.stop();
  }

  start(): void {
    for (let i = 0; i < READERS; i++) this.readLoop(Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
  }

  stop(): void {
    this.stopped = true;
    this.resolveDone();
  }

  // True while a read of /dev/fuse waits: the kernel has not ended the connection.
  get connectionAlive(): boolean {
    return this.readsParked > 0;
  }

  private readLoop(buffer: Buffer): void {
    if (this.stopped) return;
    this.readsParked += 1;
    fsRead(this.fd, buffer, 0, buffer.length, null, (error, bytes) => {
      this.readsParked -= 1;
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // ENOENT: the request was interrupted before we read it; EINTR/EAGAIN: try again.
        if (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN')
          return this.readLoop(buffer);
        // ENODEV: unmounted.
        if (code !== 'ENODEV') this.log.error('reading /dev/fuse failed', { error });
        return this.stop();
      }
      // The buffer is reused by the next read: a small request is copied out of it; a large one
      // (a write) keeps it until answered, and the next read takes a spare buffer, which saves
      // copying a MiB. Handlers copy what they keep of a request.
      if (bytes <= SMALL_REQUEST_BYTES) {
        const request = Buffer.from(buffer.subarray(0, bytes));
        this.readLoop(buffer);
        void this.handle(request);
        return;
      }
      this.readLoop(this.spareBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES));
      void this.handle(buffer.subarray(0, bytes)).finally(() => {
        if (this.spareBuffers.length < SPARE_BUFFERS_MAX) this.spareBuffers.push(buffer);
      });
    });
  }

  // Resolves once the kernel has taken the message, so a notification can be ordered before a reply.
  private send(parts: Buffer[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      writev(this.fd, parts, (error) => {
        // ENOENT: the request was interrupted and the kernel no longer waits for this answer.
        if (error && (error as NodeJS.ErrnoException).code !== 'ENOENT')
          this.log.warn('writing to /dev/fuse failed', { error });
        resolve();
      });
    });
  }

  // A reply is written at once, without a trip through the libuv pool: the kernel takes it
  // without blocking (it copies the reply into the waiting request, as libfuse's loop does).
  // Notifications keep the asynchronous path: one may wait on the kernel's locks.
  private reply(parts: Buffer[]): void {
    if (this.stopped) return;
    try {
      writevSync(this.fd, parts);
    } catch (error) {
      // ENOENT: the request was interrupted and the kernel no longer waits for this answer.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn('writing to /dev/fuse failed', { error });
    }
  }

  private async handle(request: Buffer): Promise<void> {
    const header = decodeInHeader(request);
    const body = request.subarray(IN_HEADER_BYTES, header.len);
    const op = OP_NAMES.get(header.opcode) ?? 'other';
    const stopTimer = fuseLatency.startTimer({ op });
    let errno = 0;
    try {
      const result = await this.ops.dispatch(header, body);
      if (result === null || Buffer.isBuffer(result))
        this.reply(encodeReply(header.unique, 0, result ?? undefined));
      else if (result !== undefined) {
        // The parts are views of read-ahead blocks: given back once the kernel has copied them
        // (the write is synchronous).
        try {
          this.reply(encodeReply(header.unique, 0, result.parts));
        } finally {
          result.done();
        }
      }
    } catch (error) {
      errno = errnoOf(error);
      if (errno === 5) this.log.warn('FUSE request failed', { op, error });
      this.reply(encodeReply(header.unique, errno));
    }
    stopTimer();
    fuseRequests.inc({ op, errno: String(errno) });
  }
}
