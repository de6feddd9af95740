// Others' changes into a directory a busy write-behind mount holds are not starved: the leader's
// lifecycle runner expires objects there while a process keeps creating files in it, and a
// directory another mount just waited for is not granted back at once (src/metadata/recalls.ts).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PutBucketLifecycleConfigurationCommand } from '@aws-sdk/client-s3';
import { canMount, type StrataMount, startMount } from '../helpers/mount.ts';
import { s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const LIMIT_MS = 60_000;

async function metric(url: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(url)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

// Creates a file every 5 ms in its working directory (never idle, so the mount keeps the
// directory) until its stdin closes.
const STEADY_CREATOR = `
const fs = require('node:fs');
process.chdir(process.argv[1]);
let n = 0;
const timer = setInterval(() => fs.closeSync(fs.openSync('n' + n++, 'wx')), 5);
process.stdin.on('end', () => clearInterval(timer)).resume();
`;

describe('a busy write-behind directory does not starve others', { skip: !canMount }, () => {
  let server: StrataProcess;
  let busy: StrataMount;
  let other: StrataMount;
  let busyMetrics: string;
  before(async () => {
    server = await startStrata({ env: { STRATA_LIFECYCLE_DEBUG_DAY_SECONDS: '1' } });
    busy = await startMount(server.metadataAddr);
    other = await startMount(server.metadataAddr);
    busyMetrics = /^metrics at (\S+)$/m.exec(busy.output())?.[1] as string;
    assert.ok(busyMetrics, busy.output());
  });
  after(async () => {
    await busy?.stop();
    await other?.stop();
    await server?.stop();
  });

  const held = () => metric(busyMetrics, /^strata_fuse_held_directories (\d+)/m);

  test('lifecycle expires objects in a directory a mount keeps creating in', async () => {
    const dir = join(busy.mountPoint, 'lc', 'hot');
    mkdirSync(dir, { recursive: true });
    const s3 = s3Client(server);
    await s3.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: 'lc',
        LifecycleConfiguration: {
          Rules: [
            { ID: 'hot', Status: 'Enabled', Filter: { Prefix: 'hot/' }, Expiration: { Days: 1 } },
          ],
        },
      }),
    );
    s3.destroy();
    let creator: ChildProcess | undefined;
    try {
      creator = spawn(process.execPath, ['-e', STEADY_CREATOR, dir], {
        stdio: ['pipe', 'inherit', 'inherit'],
      });
      await until(
        'the directory held by the mount',
        async () => ((await held()) === 1 ? true : undefined),
        {
          limitMs: LIMIT_MS,
        },
      );
      const expired = /^strata_lifecycle_objects_expired_total (\d+)/m;
      const before = await metric(server.metricsUrl, expired);
      // The files are a "day" (1 s) old soon: the runner expires them while creates go on.
      await until(
        'lifecycle expirations in the busy directory',
        async () => ((await metric(server.metricsUrl, expired)) >= before + 20 ? true : undefined),
        { limitMs: LIMIT_MS },
      );
      assert.equal(creator.exitCode, null, 'the creates went on meanwhile');
    } finally {
      creator?.stdin?.end();
      await new Promise((r) => (creator?.exitCode === null ? creator.once('exit', r) : r(null)));
    }
    // The first file made goes too (a later pass of the walk, if it was not a day old at the
    // first), seen from another mount.
    await until(
      'n0 expired',
      async () => (existsSync(join(other.mountPoint, 'lc', 'hot', 'n0')) ? undefined : true),
      { limitMs: LIMIT_MS },
    );
  });

  test('a directory another mount waited for is not granted back at once', async () => {
    const here = join(busy.mountPoint, 'plain', 'dir');
    mkdirSync(here, { recursive: true });
    for (let i = 0; i < 20; i++) closeSync(openSync(join(here, `a${i}`), 'wx'));
    await until('the directory held', async () => ((await held()) === 1 ? true : undefined), {
      limitMs: LIMIT_MS,
    });
    const heldOff = /strata_metadata_commands_total\{op="delegateDir",code="held_off"\} (\d+)/;
    const refusedBefore = await metric(server.metricsUrl, heldOff);
    // The other mount's create waits until the busy one gave the directory back.
    closeSync(openSync(join(other.mountPoint, 'plain', 'dir', 'b0'), 'wx'));
    // The busy mount changes it again at once: it asks for it again and is refused.
    for (let i = 0; i < 10; i++) closeSync(openSync(join(here, `c${i}`), 'wx'));
    assert.ok((await metric(server.metricsUrl, heldOff)) > refusedBefore, 'the grant was held off');
    assert.equal(await held(), 0);
  });
});
