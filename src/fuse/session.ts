// Reads requests from /dev/fuse and answers them: several reads outstanding at once (each parks a
// libuv pool thread, so bin/strata-mount.ts sizes UV_THREADPOOL_SIZE), one writev per reply.
// Requests are served concurrently; the kernel matches replies by `unique`.
import { read as fsRead, writev } from 'node:fs';
import type { Logger } from '../observability/logger.ts';
import { ERRNO_NUMBERS, errnoOf } from './errno.ts';
import { attrOf, direntType, type StrataFileSystem } from './file-system.ts';
import {
  decodeInHeader,
  direntBytes,
  encodeAttrOut,
  encodeEntryOut,
  encodeInitOut,
  encodeOpenOut,
  encodeReply,
  encodeStatfsOut,
  IN_HEADER_BYTES,
  INIT_FLAGS,
  type InHeader,
  KERNEL_MAJOR,
  KERNEL_MINOR_MAX,
  OP,
  writeDirent,
} from './protocol.ts';

export const MAX_WRITE_BYTES = 1024 * 1024;
const READ_BUFFER_BYTES = MAX_WRITE_BYTES + 64 * 1024;
const READERS = 4;
const CACHE_VALID_MS = 1000;

export class FuseSession {
  private readonly fd: number;
  private readonly fs: StrataFileSystem;
  private readonly log: Logger;
  private stopped = false;
  private resolveDone!: () => void;
  readonly done = new Promise<void>((resolve) => {
    this.resolveDone = resolve;
  });

  constructor(fd: number, fs: StrataFileSystem, log: Logger) {
    this.fd = fd;
    this.fs = fs;
    this.log = log;
  }

  start(): void {
    for (let i = 0; i < READERS; i++) this.readLoop(Buffer.alloc(READ_BUFFER_BYTES));
  }

  stop(): void {
    this.stopped = true;
    this.resolveDone();
  }

  private readLoop(buffer: Buffer): void {
    if (this.stopped) return;
    fsRead(this.fd, buffer, 0, buffer.length, null, (error, bytes) => {
      if (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // ENOENT: the request was interrupted before we read it; EINTR/EAGAIN: try again.
        if (code === 'ENOENT' || code === 'EINTR' || code === 'EAGAIN')
          return this.readLoop(buffer);
        // ENODEV: unmounted.
        if (code !== 'ENODEV') this.log.error('reading /dev/fuse failed', { error });
        return this.stop();
      }
      // The buffer is reused by the next read: the handler gets its own copy of the request.
      const request = Buffer.from(buffer.subarray(0, bytes));
      this.readLoop(buffer);
      void this.handle(request);
    });
  }

  private reply(unique: bigint, errno: number, body?: Buffer): void {
    const parts = encodeReply(unique, errno, body);
    writev(this.fd, parts, (error) => {
      // ENOENT: the request was interrupted and the kernel no longer waits for this answer.
      if (error && (error as NodeJS.ErrnoException).code !== 'ENOENT')
        this.log.warn('writing a FUSE reply failed', { error });
    });
  }

  private async handle(request: Buffer): Promise<void> {
    const header = decodeInHeader(request);
    const body = request.subarray(IN_HEADER_BYTES, header.len);
    try {
      const result = await this.dispatch(header, body);
      if (result !== undefined) this.reply(header.unique, 0, result === null ? undefined : result);
    } catch (error) {
      this.reply(header.unique, errnoOf(error));
    }
  }

  // undefined: no reply (FORGET); null: an empty successful reply.
  private async dispatch(h: InHeader, body: Buffer): Promise<Buffer | null | undefined> {
    const node = Number(h.nodeid);
    switch (h.opcode) {
      case OP.INIT:
        return this.init(body);
      case OP.LOOKUP: {
        const name = body.subarray(0, body.indexOf(0)).toString('utf8');
        return encodeEntryOut(attrOf(await this.fs.lookup(node, name)), CACHE_VALID_MS);
      }
      case OP.FORGET:
      case OP.BATCH_FORGET:
        return undefined; // node ids are inode numbers: nothing to forget
      case OP.GETATTR:
        return encodeAttrOut(attrOf(await this.fs.getattr(node)), CACHE_VALID_MS);
      case OP.OPEN:
        await this.fs.getattr(node); // close-to-open: the file exists now
        return encodeOpenOut(0);
      case OP.READ: {
        const offset = Number(body.readBigUInt64LE(8));
        const size = body.readUInt32LE(16);
        const inode = await this.fs.getattr(node);
        const length = Math.max(0, Math.min(size, inode.size - offset));
        return length === 0 ? null : this.fs.read(node, offset, length);
      }
      case OP.RELEASE:
      case OP.FLUSH:
        return null;
      case OP.OPENDIR:
        return encodeOpenOut(await this.fs.opendir(node));
      case OP.READDIR:
        return this.readdir(body);
      case OP.RELEASEDIR:
        this.fs.releasedir(Number(body.readBigUInt64LE(0)));
        return null;
      case OP.STATFS: {
        const { totalBytes, freeBytes } = await this.fs.statfs();
        const bsize = 4096;
        const free = Math.floor(freeBytes / bsize);
        // Inodes are not a limited resource here: report plenty, as most network file systems do.
        const files = 2 ** 32;
        const blocks = Math.floor(totalBytes / bsize);
        return encodeStatfsOut({ blocks, bfree: free, bavail: free, files, ffree: files, bsize });
      }
      case OP.ACCESS:
        return null; // default_permissions: the kernel checks modes itself
      case OP.INTERRUPT:
        return undefined;
      case OP.DESTROY:
        this.stop();
        return null;
      default:
        throw Object.assign(new Error('not implemented'), { code: 'ENOSYS' });
    }
  }

  private init(body: Buffer): Buffer {
    const major = body.readUInt32LE(0);
    const minor = body.readUInt32LE(4);
    const kernelFlags = body.readUInt32LE(12);
    if (major !== KERNEL_MAJOR)
      throw Object.assign(new Error(`FUSE major ${major}`), { code: 'EPROTO' });
    const wanted =
      INIT_FLAGS.ASYNC_READ |
      INIT_FLAGS.BIG_WRITES |
      INIT_FLAGS.PARALLEL_DIROPS |
      INIT_FLAGS.MAX_PAGES;
    const negotiated = Math.min(minor, KERNEL_MINOR_MAX);
    this.log.info('FUSE session started', { kernelMinor: minor, minor: negotiated });
    return encodeInitOut(negotiated, kernelFlags & wanted, MAX_WRITE_BYTES);
  }

  private readdir(body: Buffer): Buffer {
    const handle = Number(body.readBigUInt64LE(0));
    const offset = Number(body.readBigUInt64LE(8));
    const size = body.readUInt32LE(16);
    const entries = this.fs.directory(handle);
    if (!entries) throw Object.assign(new Error('bad directory handle'), { code: 'EBADF' });
    // Offsets: 1 is ".", 2 is "..", 3 + i is entries[i].
    const all = [
      { name: '.', ino: 1, type: 4 },
      { name: '..', ino: 1, type: 4 },
      ...entries.map((e) => ({ name: e.name, ino: e.ino, type: direntType(e) })),
    ];
    const out = Buffer.alloc(size);
    let used = 0;
    for (let i = offset; i < all.length; i++) {
      const need = direntBytes(all[i].name);
      if (used + need > size) break;
      used += writeDirent(out, used, all[i].ino, i + 1, all[i].name, all[i].type);
    }
    return out.subarray(0, used);
  }
}

export { ERRNO_NUMBERS };
