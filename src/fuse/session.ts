// Reads requests from /dev/fuse on the event loop's thread (device-stream.ts) and answers them:
// one writev per reply (synchronous; notifications asynchronous).
// Requests are served concurrently; the kernel matches replies by `unique`.
import { writev, writevSync } from 'node:fs';
import type { Logger } from '../observability/logger.ts';
import {
  fuseBusyPollBackoffs,
  fuseBusyPollSeconds,
  fuseLatency,
  fuseRequests,
} from '../observability/metrics.ts';
import { BusyPoll, openCpuWaitClock } from './busy-poll.ts';
import { readDevice } from './device-stream.ts';
import { errnoOf } from './errno.ts';
import type { FuseOperations } from './operations.ts';
import { decodeInHeader, encodeNotify, encodeReply, IN_HEADER_BYTES, OP } from './protocol.ts';

const OP_NAMES = new Map<number, string>(
  Object.entries(OP).map(([name, code]) => [code, name.toLowerCase()]),
);

export const MAX_WRITE_BYTES = 1024 * 1024;
const READ_BUFFER_BYTES = MAX_WRITE_BYTES + 64 * 1024;
const SMALL_REQUEST_BYTES = 64 * 1024;
const SPARE_BUFFERS_MAX = 16;

export class FuseSession {
  private readonly fd: number;
  private readonly ops: FuseOperations;
  private readonly log: Logger;
  private stopped = false;
  // False once reading says the kernel ended the connection; after stop, true means a lazy
  // unmount left it alive (files still open on it).
  private connected = true;
  private readonly spareBuffers: Buffer[] = [];
  private readonly poll: BusyPoll;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  // busyPollUs: how long the event loop polls for the next request after a reply, when the
  // callers' requests come that fast (busy-poll.ts); 0: never.
  constructor(fd: number, ops: FuseOperations, log: Logger, busyPollUs = 0) {
    this.fd = fd;
    this.poll = new BusyPoll(
      busyPollUs,
      {
        polled: (seconds) => fuseBusyPollSeconds.inc(seconds),
        backedOff: () => fuseBusyPollBackoffs.inc(),
      },
      busyPollUs > 0 ? openCpuWaitClock() : undefined,
    );
    this.ops = ops;
    this.log = log;
    ops.notifier = (code, body) => this.send(encodeNotify(code, body));
    ops.onDestroy = () => this.stop();
  }

  start(): void {
    readDevice(this.fd, Buffer.allocUnsafeSlow(READ_BUFFER_BYTES), {
      request: (buffer, bytes) => this.received(buffer, bytes),
      end: (error) => {
        // A failed read says nothing of the connection: it is still ours to end at exit.
        if (error) this.log.error('reading /dev/fuse failed', { error });
        else this.connected = false;
        this.stop();
      },
    });
  }

  stop(): void {
    this.stopped = true;
    this.resolveDone();
  }

  // True until the kernel ends the connection (a normal unmount does).
  get connectionAlive(): boolean {
    return this.connected;
  }

  // After stop, requests are left unanswered: the mount is going, and its connection with it.
  private received(buffer: Buffer, bytes: number): Buffer | undefined {
    if (this.stopped) return undefined;
    this.poll.received();
    // The buffer is read into again at once: a small request is copied out of it; a large one
    // (a write) keeps it until answered, and the next read takes a spare buffer, which saves
    // copying a MiB. Handlers copy what they keep of a request.
    if (bytes <= SMALL_REQUEST_BYTES) {
      void this.handle(Buffer.from(buffer.subarray(0, bytes)));
      return undefined;
    }
    void this.handle(buffer.subarray(0, bytes)).finally(() => {
      if (this.spareBuffers.length < SPARE_BUFFERS_MAX) this.spareBuffers.push(buffer);
    });
    return this.spareBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
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
      this.poll.replied();
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
