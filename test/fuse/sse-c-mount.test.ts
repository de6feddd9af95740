// SSE-C seen from the mount: an object written through S3 with a customer-provided key cannot
// be opened, for reading or writing (EACCES, and a log line that says why), never read as
// ciphertext; it still lists and stats. A plain object beside it reads, so the test can fail.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { canMount, mounted, type StrataMount, startMount } from '../helpers/mount.ts';
import { s3Client } from '../helpers/s3.ts';
import { configWriter, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const errnoOf = (action: () => void): string => {
  try {
    action();
  } catch (error) {
    return String((error as NodeJS.ErrnoException).code);
  }
  return 'ok';
};

describe('SSE-C objects through the mount', {
  skip: canMount ? false : 'needs root and /dev/fuse',
}, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let mount: StrataMount;
  const body = Buffer.alloc(200_000, 'SSEC-MOUNT-MARKER|');

  before(async () => {
    const dataDir = tempDir('strata-ssec-mount-');
    const env = configWriter(dataDir)('strata', ['[s3]', 'sse_c_over_http = true']);
    server = await startStrata({ dataDir, env });
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'vault' }));
    await s3.send(
      new PutObjectCommand({
        Bucket: 'vault',
        Key: 'secret.bin',
        Body: body,
        SSECustomerAlgorithm: 'AES256',
        SSECustomerKey: randomBytes(32).toString('base64'),
      }),
    );
    await s3.send(new PutObjectCommand({ Bucket: 'vault', Key: 'plain.bin', Body: body }));
    mount = await startMount(server.metadataAddr);
  });
  after(async () => {
    if (mount && mounted(mount.mountPoint)) spawnSync('umount', ['-l', mount.mountPoint]);
    await mount?.kill();
    s3?.destroy();
    await server?.stop();
  });

  test('open for reading or writing is EACCES, with a log line; stat still works', async () => {
    const path = join(mount.mountPoint, 'vault', 'secret.bin');
    assert.equal(statSync(path).size, body.length, 'the object is listed with its size');
    assert.equal(
      errnoOf(() => readFileSync(path)),
      'EACCES',
    );
    assert.equal(
      errnoOf(() => closeSync(openSync(path, 'a'))),
      'EACCES',
    );
    assert.equal(
      errnoOf(() => writeFileSync(path, 'overwritten')),
      'EACCES',
    );
    const cat = spawnSync('cat', [path], { encoding: 'buffer' });
    assert.notEqual(cat.status, 0);
    assert.equal(cat.stdout.length, 0, 'no bytes, neither plaintext nor ciphertext');
    assert.match(cat.stderr.toString(), /Permission denied/);
    // The calls above block this process's event loop: the mount's log arrives after them.
    await until(
      'the mount logs why the open was refused',
      async () => (/customer-provided key \(SSE-C\)/.test(mount.output()) ? true : undefined),
      { limitMs: 10_000 },
    );
  });

  test('a plain object beside it reads (the refusal is about SSE-C only)', () => {
    const path = join(mount.mountPoint, 'vault', 'plain.bin');
    assert.ok(readFileSync(path).equals(body));
  });
});
