// The system calls fsx makes, handed in so a test can wrap them (to prove the checker notices a
// broken file system) while the checker itself always talks to a real file. The default goes
// through libuv's thread pool, not the *Sync calls: a FUSE server running in the same process
// as the checker keeps serving while a call is blocked in the kernel waiting for it.
import fs from 'node:fs';

export interface FsxIo {
  /** open(2) with numeric flags (fs.constants.O_*); resolves to the descriptor. */
  open(path: string, flags: number, mode: number): Promise<number>;
  /** pread(2) into all of `buffer` at `position`; resolves to the bytes read. */
  read(fd: number, buffer: Uint8Array, position: number): Promise<number>;
  /** pwrite(2) of all of `data` at `position`, or write(2) at the file offset when null. */
  write(fd: number, data: Uint8Array, position: number | null): Promise<number>;
  ftruncate(fd: number, sizeBytes: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  /** fstat(2)'s st_size. */
  fstatSize(fd: number): Promise<number>;
  close(fd: number): Promise<void>;
}

function settle<T>(resolve: (value: T) => void, reject: (error: Error) => void) {
  return (error: Error | null, value?: T) => (error ? reject(error) : resolve(value as T));
}

export const nodeFsIo: FsxIo = {
  open: (path, flags, mode) =>
    new Promise((ok, fail) => fs.open(path, flags, mode, settle(ok, fail))),
  read: (fd, buffer, position) =>
    new Promise((ok, fail) => fs.read(fd, buffer, 0, buffer.length, position, settle(ok, fail))),
  write: (fd, data, position) =>
    new Promise((ok, fail) => fs.write(fd, data, 0, data.length, position, settle(ok, fail))),
  ftruncate: (fd, sizeBytes) =>
    new Promise((ok, fail) => fs.ftruncate(fd, sizeBytes, settle(ok, fail))),
  fsync: (fd) => new Promise((ok, fail) => fs.fsync(fd, settle(ok, fail))),
  fstatSize: (fd) =>
    new Promise((ok, fail) =>
      fs.fstat(fd, (error, stats) => (error ? fail(error) : ok(stats.size))),
    ),
  close: (fd) => new Promise((ok, fail) => fs.close(fd, settle(ok, fail))),
};
