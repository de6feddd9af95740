// fsx on a Strata mount: random writes (small and unaligned, large, past the end), truncates up
// and down, O_APPEND writes through a second descriptor, reads at random offsets, fsync and
// close-and-reopen, each checked against an in-memory model. Here a few thousand operations per
// seed, some with offsets past 4 GiB; `npm run fsx -- --dir MOUNT/BUCKET --ops 100000` is the
// long run (docs/testing.md).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { canMount, type StrataMount, startMount } from '../helpers/mount.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';
import { runFsx } from './fsx/checker.ts';

const OPS = Number(process.env.FSX_MOUNT_OPS ?? 3000);

describe('fsx on a mount', { skip: canMount ? false : 'needs root and /dev/fuse' }, () => {
  let server: StrataProcess;
  let mount: StrataMount;
  let dir: string;

  before(async () => {
    server = await startStrata();
    mount = await startMount(server.metadataAddr);
    dir = join(mount.mountPoint, 'fsx');
    mkdirSync(dir);
  });
  after(async () => {
    await mount?.stop();
    await server?.stop();
  });

  for (const seed of [11, 12]) {
    test(`seed ${seed}: ${OPS} operations agree with the model`, async () => {
      await runFsx({ path: join(dir, `f${seed}.bin`), seed, ops: OPS });
    });
  }

  test(`seed 13 with offsets past 4 GiB: ${OPS / 2} operations agree with the model`, async () => {
    await runFsx({ path: join(dir, 'big.bin'), seed: 13, ops: OPS / 2, bigOffsets: true });
  });
});
