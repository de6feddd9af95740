// readDevice on a FIFO, where a rival reader takes most bytes: epoll wakes both, and the loser's
// read finds nothing (EAGAIN, which reaches the handle as a read of 0 bytes). On /dev/fuse that is
// a request withdrawn before it was read (its caller interrupted): the mount must go on reading,
// not die (it threw, in CI of 551b6f9: the mount gone mid-test, ENOTCONN).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deviceReadingProblem, readDevice } from '../../src/fuse/device-stream.ts';

const BYTES = 3000;

// A FIFO in a fresh directory, opened for reading without blocking, and its cleanup.
function fifoForReading(): { fifo: string; fd: number; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'strata-device-stream-'));
  const fifo = join(dir, 'fifo');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  return {
    fifo,
    fd,
    remove() {
      closeSync(fd);
      rmSync(dir, { recursive: true });
    },
  };
}

test('a read that finds nothing is waited out; every byte reaches one reader; EOF ends cleanly', async () => {
  const { fifo, fd: ours, remove } = fifoForReading();
  // A writer held open until the end, so the FIFO has no EOF before the writing starts.
  const held = openSync(fifo, constants.O_WRONLY);
  const rival = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'inherit'] });
  let rivalBytes = 0;
  rival.stdout.on('data', (data: Buffer) => {
    rivalBytes += data.length;
  });
  let ourBytes = 0;
  const ended = new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    readDevice(ours, Buffer.alloc(16), {
      request: (_buffer, bytes) => {
        ourBytes += bytes;
        return undefined;
      },
      end: resolve,
    });
  });
  // One byte at a time from another process, so that both readers wait for each.
  const writer = spawn(
    'python3',
    [
      '-c',
      `import os, sys, time\nfd = os.open(sys.argv[1], os.O_WRONLY)\nfor i in range(${BYTES}):\n    os.write(fd, b'x')\n    time.sleep(0.0002)\n`,
      fifo,
    ],
    { stdio: 'inherit' },
  );
  await new Promise((resolve) => writer.once('exit', resolve));
  assert.equal(writer.exitCode, 0);
  closeSync(held); // the last writer gone: EOF, for whichever reader
  assert.equal(await ended, undefined, 'EOF ends the stream without an error');
  await new Promise((resolve) => rival.once('exit', resolve));
  assert.equal(ourBytes + rivalBytes, BYTES);
  remove();
});

test('the running Node has the internals the reader is built on (a mount is refused without them)', () => {
  assert.equal(deviceReadingProblem(), undefined);
});

test('a descriptor that cannot be read this way is reported through end, not thrown', async () => {
  const { fifo, fd, remove } = fifoForReading();
  const writer = openSync(fifo, constants.O_WRONLY);
  const first = new Promise<NodeJS.ErrnoException | undefined>((resolve) =>
    readDevice(fd, Buffer.alloc(16), { request: () => undefined, end: resolve }),
  );
  // The event loop already watches this descriptor for the first reader: libuv refuses a second.
  const second = await new Promise<NodeJS.ErrnoException | undefined>((resolve) =>
    readDevice(fd, Buffer.alloc(16), { request: () => undefined, end: resolve }),
  );
  assert.equal(second?.code, 'EEXIST');
  closeSync(writer); // EOF ends the first reader
  assert.equal(await first, undefined);
  remove();
});
