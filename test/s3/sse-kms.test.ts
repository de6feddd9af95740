// SSE-KMS (x-amz-server-side-encryption: aws:kms) with Strata's built-in KMS, against a real
// server with `strata kms`, the AWS SDK and awscli. The rules under test: an object echoes aws:kms
// and its key's ARN only when every stripe is sealed under that key (a grep of the data directory
// for a plaintext marker checks the bytes; the same grep finds an unencrypted object's marker, so
// it can fail); a key named by id, ARN or alias is the same key; a disabled key refuses writes and
// reads cleanly; a master key rotation re-wraps the KMS keys' material, so after a restart with
// only the new master key every SSE-KMS object still reads back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetBucketEncryptionCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketEncryptionCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { canMount, startMount } from '../helpers/mount.ts';
import { runProcess } from '../helpers/process.ts';
import { aws, bodyBytes, rejectsWith, s3Client } from '../helpers/s3.ts';
import { STRATA_BIN, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { has } from '../helpers/tools.ts';

const MiB = 1024 * 1024;
const ARN = /^arn:aws:kms:us-east-1:\d{12}:key\/([0-9a-f-]{36})$/;

function markerBytes(marker: string, length: number): Buffer {
  return Buffer.alloc(length, Buffer.from(`${marker}|`));
}

function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    if (statSync(path).isFile() && readFileSync(path).includes(needle)) found.push(path);
  }
  return found;
}

function writeKeyFile(path: string): void {
  writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
}

// The key id an ARN names (the response header and GetBucketEncryption carry ARNs).
function idOf(arn: string | undefined): string {
  const match = ARN.exec(arn ?? '');
  assert.ok(match, `a KMS key ARN: ${arn}`);
  return match[1];
}

describe('SSE-KMS with the built-in KMS', { skip: !has('aws') }, () => {
  let server: StrataProcess;
  let s3: S3Client;
  const dataDir = tempDir('strata-kms-');
  const keyFile = join(dataDir, 'master.key');
  const disks = join(dataDir, 'disks');
  let appKey = ''; // alias/app
  let otherKey = ''; // alias/other
  let defaultKey = ''; // alias/aws/s3, made on first use

  async function kms(...args: string[]) {
    const result = await runProcess(process.execPath, [
      STRATA_BIN,
      'kms',
      ...args,
      '--key-file',
      keyFile,
      '--metadata-addr',
      server.metadataAddr,
    ]);
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  async function kmsOk(...args: string[]): Promise<string> {
    const result = await kms(...args);
    assert.equal(result.status, 0, `strata kms ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  }

  async function describeKey(ref: string) {
    return JSON.parse(await kmsOk('describe-key', ref, '--json')) as {
      id: string;
      state: string;
      versions: number;
      alias?: string;
    };
  }

  async function readBack(bucket: string, key: string, range?: string) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
    return { got, bytes: await bodyBytes(got.Body) };
  }

  before(async () => {
    writeKeyFile(keyFile);
    server = await startStrata({ dataDir });
    s3 = s3Client(server);
    for (const bucket of ['kms-objects', 'kms-default', 'kms-plain'])
      await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  test('strata kms create-key, list-keys and describe-key manage keys by id and alias', async () => {
    const created = await kmsOk('create-key', '--alias', 'app', '--description', 'app data');
    appKey = /^key (\S+) created: Enabled/m.exec(created)?.[1] ?? '';
    assert.match(appKey, /^[0-9a-f-]{36}$/, created);
    otherKey = /^key (\S+) created/m.exec(await kmsOk('create-key', '--alias', 'other'))?.[1] ?? '';
    const listed = await kmsOk('list-keys');
    assert.match(listed, new RegExp(`^${appKey} +alias/app +Enabled +1 `, 'm'));
    assert.match(listed, new RegExp(`^${otherKey} +alias/other +Enabled +1 `, 'm'));
    assert.deepEqual(
      { ...(await describeKey('alias/app')), createdAtMs: 0 },
      {
        id: appKey,
        alias: 'alias/app',
        description: 'app data',
        state: 'Enabled',
        versions: 1,
        createdAtMs: 0,
      },
    );
    assert.equal((await describeKey(appKey)).alias, 'alias/app', 'the same key by its id');
    const json = await kmsOk('list-keys', '--json');
    assert.ok(!/wrapped|material/i.test(json), 'no key material, even wrapped, is listed');
    const taken = await kms('create-key', '--alias', 'app');
    assert.notEqual(taken.status, 0, 'an alias names one key');
    const missing = await kms('describe-key', 'alias/none');
    assert.notEqual(missing.status, 0);
  });

  test('PutObject with aws:kms and no key uses the default key; GET, HEAD and ranges read it back', async () => {
    const body = markerBytes('KMS-DEFAULT-MARKER-5e1a', 3 * MiB + 11);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'kms-objects',
        Key: 'default',
        Body: body,
        ServerSideEncryption: 'aws:kms',
      }),
    );
    assert.equal(put.ServerSideEncryption, 'aws:kms');
    defaultKey = idOf(put.SSEKMSKeyId);
    assert.equal((await describeKey('alias/aws/s3')).id, defaultKey, 'alias/aws/s3 was made');
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'kms-objects', Key: 'default' }));
    assert.equal(head.ServerSideEncryption, 'aws:kms');
    assert.equal(idOf(head.SSEKMSKeyId), defaultKey);
    const { got, bytes } = await readBack('kms-objects', 'default');
    assert.equal(got.ServerSideEncryption, 'aws:kms');
    assert.equal(idOf(got.SSEKMSKeyId), defaultKey);
    assert.ok(bytes.equals(body), 'the bytes read back');
    const range = await readBack('kms-objects', 'default', 'bytes=1048570-2097170');
    assert.ok(range.bytes.equals(body.subarray(1048570, 2097171)), 'a range crossing chunks');
    assert.deepEqual(filesContaining(disks, 'KMS-DEFAULT-MARKER-5e1a'), [], 'no plaintext');
  });

  test('a named key by id, ARN, alias and alias ARN is the same key, echoed as its ARN', async () => {
    const arn = `arn:aws:kms:us-east-1:111122223333:key/${appKey}`;
    for (const [name, ref] of [
      ['by-id', appKey],
      ['by-arn', arn],
      ['by-alias', 'alias/app'],
      ['by-alias-arn', 'arn:aws:kms:us-east-1:111122223333:alias/app'],
    ]) {
      const body = markerBytes(`KMS-NAMED-${name}-77c0`, MiB + 3);
      const put = await s3.send(
        new PutObjectCommand({
          Bucket: 'kms-objects',
          Key: name,
          Body: body,
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: ref,
          BucketKeyEnabled: true,
        }),
      );
      assert.equal(idOf(put.SSEKMSKeyId), appKey, `${name}: the key`);
      assert.equal(put.BucketKeyEnabled, true, `${name}: the bucket key flag is echoed`);
      const { got, bytes } = await readBack('kms-objects', name);
      assert.equal(idOf(got.SSEKMSKeyId), appKey);
      assert.ok(bytes.equals(body), `${name}: read back`);
      assert.deepEqual(filesContaining(disks, `KMS-NAMED-${name}-77c0`), []);
    }
  });

  test('awscli --sse aws:kms --sse-kms-key-id puts and gets, and head-object names the key', async () => {
    const work = tempDir('strata-kms-cli-');
    const body = markerBytes('KMS-AWSCLI-MARKER-a901', 2 * MiB);
    writeFileSync(join(work, 'in'), body);
    const put = await aws(server, [
      's3',
      'cp',
      '--only-show-errors',
      join(work, 'in'),
      's3://kms-objects/awscli',
      '--sse',
      'aws:kms',
      '--sse-kms-key-id',
      'alias/other',
    ]);
    assert.equal(put.code, 0, put.stderr);
    const head = await aws(server, [
      's3api',
      'head-object',
      '--bucket',
      'kms-objects',
      '--key',
      'awscli',
    ]);
    const meta = JSON.parse(head.stdout) as { ServerSideEncryption: string; SSEKMSKeyId: string };
    assert.equal(meta.ServerSideEncryption, 'aws:kms');
    assert.equal(idOf(meta.SSEKMSKeyId), otherKey);
    const get = await aws(server, [
      's3',
      'cp',
      '--only-show-errors',
      's3://kms-objects/awscli',
      join(work, 'out'),
    ]);
    assert.equal(get.code, 0, get.stderr);
    assert.ok(readFileSync(join(work, 'out')).equals(body));
    assert.deepEqual(filesContaining(disks, 'KMS-AWSCLI-MARKER-a901'), []);
  });

  test('copies move objects between KMS keys and between modes, rewriting what must change', async () => {
    const body = markerBytes('KMS-COPY-MARKER-33b8', MiB + 17);
    await s3.send(new PutObjectCommand({ Bucket: 'kms-plain', Key: 'plain', Body: body }));
    // The grep finds plaintext where there is some: the checks below can fail.
    assert.notDeepEqual(filesContaining(disks, 'KMS-COPY-MARKER-33b8'), []);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'kms-plain',
        Key: 'sse-s3',
        Body: body,
        ServerSideEncryption: 'AES256',
      }),
    );
    const copy = async (from: string, to: string, sse?: 'AES256' | 'aws:kms', key?: string) => {
      const done = await s3.send(
        new CopyObjectCommand({
          Bucket: 'kms-objects',
          Key: to,
          CopySource: from,
          ServerSideEncryption: sse,
          SSEKMSKeyId: key,
        }),
      );
      const { got, bytes } = await readBack('kms-objects', to);
      assert.ok(bytes.equals(body), `${from} -> ${to}: the bytes`);
      assert.equal(got.ServerSideEncryption, sse, `${from} -> ${to}: GET says`);
      return done;
    };
    const plainToKms = await copy('kms-plain/plain', 'from-plain', 'aws:kms', 'alias/app');
    assert.equal(idOf(plainToKms.SSEKMSKeyId), appKey);
    const s3ToKms = await copy('kms-plain/sse-s3', 'from-sse-s3', 'aws:kms', otherKey);
    assert.equal(idOf(s3ToKms.SSEKMSKeyId), otherKey);
    const kmsToKms = await copy('kms-objects/from-plain', 'app-to-other', 'aws:kms', 'alias/other');
    assert.equal(idOf(kmsToKms.SSEKMSKeyId), otherKey);
    const kmsToS3 = await copy('kms-objects/from-plain', 'kms-to-sse-s3', 'AES256');
    assert.equal(kmsToS3.SSEKMSKeyId, undefined);
    await copy('kms-objects/from-plain', 'kms-to-plain');
    // Disabling the app key leaves the copies under other keys (or none) readable: they do not
    // share its stripes.
    await kmsOk('disable-key', 'alias/app');
    try {
      for (const key of ['app-to-other', 'kms-to-sse-s3', 'kms-to-plain'])
        assert.ok((await readBack('kms-objects', key)).bytes.equals(body), key);
      await rejectsWith(
        s3.send(new GetObjectCommand({ Bucket: 'kms-objects', Key: 'from-plain' })),
        'KMS.DisabledException',
        'the object under the disabled key',
      );
    } finally {
      await kmsOk('enable-key', 'alias/app');
    }
  });

  test('an encryption context is bound to the data keys and echoed on the write', async () => {
    const context = Buffer.from(JSON.stringify({ project: 'strata', b: 'x' })).toString('base64');
    const body = markerBytes('KMS-CONTEXT-MARKER-0c4d', MiB);
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'kms-objects',
        Key: 'with-context',
        Body: body,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'alias/app',
        SSEKMSEncryptionContext: context,
      }),
    );
    const echoed = JSON.parse(Buffer.from(put.SSEKMSEncryptionContext ?? '', 'base64').toString());
    assert.deepEqual(echoed, { b: 'x', project: 'strata' });
    assert.ok((await readBack('kms-objects', 'with-context')).bytes.equals(body));
    await rejectsWith(
      s3.send(
        new PutObjectCommand({
          Bucket: 'kms-objects',
          Key: 'bad-context',
          Body: body,
          ServerSideEncryption: 'aws:kms',
          SSEKMSEncryptionContext: Buffer.from('[1,2]').toString('base64'),
        }),
      ),
      'InvalidArgument',
      'a context that is not a JSON object of strings',
    );
    await rejectsWith(
      s3.send(
        new PutObjectCommand({
          Bucket: 'kms-objects',
          Key: 'key-without-kms',
          Body: body,
          SSEKMSKeyId: appKey,
        }),
      ),
      'InvalidArgument',
      'a KMS key id without aws:kms',
    );
  });

  test('a multipart upload with aws:kms seals every part and echoes the key at each step', async () => {
    const parts = [
      markerBytes('KMS-MP-MARKER-61f2', 5 * MiB),
      markerBytes('KMS-MP-MARKER-61f2', 99),
    ];
    const created = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: 'kms-objects',
        Key: 'mp',
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'alias/app',
      }),
    );
    assert.equal(created.ServerSideEncryption, 'aws:kms');
    assert.equal(idOf(created.SSEKMSKeyId), appKey);
    const etags: string[] = [];
    for (const [i, part] of parts.entries()) {
      const uploaded = await s3.send(
        new UploadPartCommand({
          Bucket: 'kms-objects',
          Key: 'mp',
          UploadId: created.UploadId,
          PartNumber: i + 1,
          Body: part,
        }),
      );
      assert.equal(uploaded.ServerSideEncryption, 'aws:kms');
      assert.equal(idOf(uploaded.SSEKMSKeyId), appKey);
      etags.push(uploaded.ETag as string);
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'kms-objects',
        Key: 'mp',
        UploadId: created.UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    assert.equal(done.ServerSideEncryption, 'aws:kms');
    assert.equal(idOf(done.SSEKMSKeyId), appKey);
    const { got, bytes } = await readBack('kms-objects', 'mp');
    assert.equal(idOf(got.SSEKMSKeyId), appKey);
    assert.ok(bytes.equals(Buffer.concat(parts)));
    assert.deepEqual(filesContaining(disks, 'KMS-MP-MARKER-61f2'), []);
  });

  test('bucket default encryption aws:kms with a KMSMasterKeyID seals every new object', async () => {
    await s3.send(
      new PutBucketEncryptionCommand({
        Bucket: 'kms-default',
        ServerSideEncryptionConfiguration: {
          Rules: [
            {
              ApplyServerSideEncryptionByDefault: {
                SSEAlgorithm: 'aws:kms',
                KMSMasterKeyID: 'alias/other',
              },
              BucketKeyEnabled: true,
            },
          ],
        },
      }),
    );
    const config = await s3.send(new GetBucketEncryptionCommand({ Bucket: 'kms-default' }));
    const rule = config.ServerSideEncryptionConfiguration?.Rules?.[0];
    assert.equal(rule?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm, 'aws:kms');
    assert.equal(idOf(rule?.ApplyServerSideEncryptionByDefault?.KMSMasterKeyID), otherKey);
    assert.equal(rule?.BucketKeyEnabled, true);
    const body = markerBytes('KMS-BUCKET-DEFAULT-MARKER-9d3e', 2 * MiB);
    const put = await s3.send(
      new PutObjectCommand({ Bucket: 'kms-default', Key: 'obj', Body: body }),
    );
    assert.equal(put.ServerSideEncryption, 'aws:kms');
    assert.equal(idOf(put.SSEKMSKeyId), otherKey);
    assert.equal(put.BucketKeyEnabled, true);
    const copied = await s3.send(
      new CopyObjectCommand({
        Bucket: 'kms-default',
        Key: 'copied',
        CopySource: 'kms-plain/plain',
      }),
    );
    assert.equal(idOf(copied.SSEKMSKeyId), otherKey, 'a copy into the bucket takes its default');
    assert.ok((await readBack('kms-default', 'obj')).bytes.equals(body));
    assert.deepEqual(filesContaining(disks, 'KMS-BUCKET-DEFAULT-MARKER-9d3e'), []);
    await rejectsWith(
      s3.send(
        new PutBucketEncryptionCommand({
          Bucket: 'kms-plain',
          ServerSideEncryptionConfiguration: {
            Rules: [
              {
                ApplyServerSideEncryptionByDefault: {
                  SSEAlgorithm: 'aws:kms',
                  KMSMasterKeyID: 'alias/missing',
                },
              },
            ],
          },
        }),
      ),
      'KMS.NotFoundException',
      'a default naming a key that does not exist',
    );
  });

  test('an unknown key is KMS.NotFoundException, a disabled one KMS.DisabledException', async () => {
    const body = markerBytes('KMS-REFUSED-MARKER-4b7e', MiB);
    const put = (key: string, ref: string) =>
      s3.send(
        new PutObjectCommand({
          Bucket: 'kms-objects',
          Key: key,
          Body: body,
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: ref,
        }),
      );
    await rejectsWith(put('unknown', 'alias/nope'), 'KMS.NotFoundException', 'an unknown alias');
    await rejectsWith(
      put('unknown', '00000000-0000-4000-8000-000000000000'),
      'KMS.NotFoundException',
      'an unknown id',
    );
    await kmsOk('disable-key', otherKey);
    assert.equal((await describeKey(otherKey)).state, 'Disabled');
    try {
      await rejectsWith(put('disabled', 'alias/other'), 'KMS.DisabledException', 'a PUT');
      await rejectsWith(
        s3.send(new GetObjectCommand({ Bucket: 'kms-objects', Key: 'awscli' })),
        'KMS.DisabledException',
        'a GET of an object under the disabled key',
      );
      // HEAD reads no data, as on AWS: it answers with the key it names.
      const head = await s3.send(new HeadObjectCommand({ Bucket: 'kms-objects', Key: 'awscli' }));
      assert.equal(idOf(head.SSEKMSKeyId), otherKey);
      // Objects under other keys are untouched.
      assert.ok((await readBack('kms-objects', 'by-id')).bytes.length > 0);
    } finally {
      await kmsOk('enable-key', otherKey);
    }
    assert.equal((await readBack('kms-objects', 'awscli')).bytes.length, 2 * MiB);
    for (const key of ['unknown', 'disabled']) {
      await rejectsWith(
        s3.send(new HeadObjectCommand({ Bucket: 'kms-objects', Key: key })),
        'NotFound',
        `the refused ${key} PUT stored nothing`,
      );
    }
  });

  test('rotate-key adds a version: old objects stay readable, new ones use it', async () => {
    const before = markerBytes('KMS-ROTATE-BEFORE-2aa1', MiB);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'kms-objects',
        Key: 'rotate-before',
        Body: before,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'alias/app',
      }),
    );
    assert.match(await kmsOk('rotate-key', 'alias/app'), /rotated: Enabled, 2 version/);
    assert.equal((await describeKey('alias/app')).versions, 2);
    const afterBody = markerBytes('KMS-ROTATE-AFTER-2aa1', MiB);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'kms-objects',
        Key: 'rotate-after',
        Body: afterBody,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'alias/app',
      }),
    );
    assert.ok((await readBack('kms-objects', 'rotate-before')).bytes.equals(before));
    assert.ok((await readBack('kms-objects', 'rotate-after')).bytes.equals(afterBody));
  });

  test('schedule-key-deletion makes a key unusable until cancel-key-deletion (then Disabled)', async () => {
    const created = await kmsOk('create-key', '--alias', 'doomed');
    const doomed = /^key (\S+) created/m.exec(created)?.[1] ?? '';
    await kmsOk('schedule-key-deletion', 'alias/doomed', '--pending-window-days', '7');
    assert.equal((await describeKey(doomed)).state, 'PendingDeletion');
    await rejectsWith(
      s3.send(
        new PutObjectCommand({
          Bucket: 'kms-objects',
          Key: 'doomed',
          Body: 'x',
          ServerSideEncryption: 'aws:kms',
          SSEKMSKeyId: doomed,
        }),
      ),
      'KMS.KMSInvalidStateException',
      'a key pending deletion',
    );
    assert.notEqual((await kms('enable-key', doomed)).status, 0, 'pending: enable is refused');
    await kmsOk('cancel-key-deletion', doomed);
    assert.equal((await describeKey(doomed)).state, 'Disabled');
  });

  test('a mount with the key file reads SSE-KMS objects as files, and not under a disabled key', {
    skip: !canMount && 'needs root and /dev/fuse',
  }, async () => {
    const mount = await startMount(server.metadataAddr, {
      args: ['--key-file', keyFile, '--log-level', 'warn'],
    });
    try {
      const file = join(mount.mountPoint, 'kms-objects', 'by-alias');
      assert.ok(readFileSync(file).equals(markerBytes('KMS-NAMED-by-alias-77c0', MiB + 3)));
      await kmsOk('disable-key', 'alias/app');
      try {
        assert.throws(
          () => readFileSync(join(mount.mountPoint, 'kms-objects', 'mp')),
          (e: NodeJS.ErrnoException) => e.code === 'EACCES',
          'a file under a disabled key is refused, not served',
        );
      } finally {
        await kmsOk('enable-key', 'alias/app');
      }
      assert.equal(readFileSync(join(mount.mountPoint, 'kms-objects', 'mp')).length, 5 * MiB + 99);
    } finally {
      await mount.stop();
    }
  });

  test('a master key rotation re-wraps the KMS keys, and after a restart every object reads', async () => {
    const newKey = join(dataDir, 'new-master.key');
    writeKeyFile(newKey);
    const rotated = await runProcess(process.execPath, [
      STRATA_BIN,
      'encryption',
      'rotate-master-key',
      '--new-key-file',
      newKey,
      '--key-file',
      keyFile,
      '--drop-retired',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.equal(rotated.status, 0, rotated.stderr);
    assert.match(rotated.stdout, /[1-9]\d* KMS key versions re-wrapped/);
    assert.match(rotated.stdout, /retired keys removed/);
    // The old master key is gone from the file: only re-wrapped material can be unwrapped now.
    assert.equal(readFileSync(keyFile, 'utf8').includes(readFileSync(newKey, 'utf8').trim()), true);
    s3.destroy();
    await server.stop();
    server = await startStrata({ dataDir });
    s3 = s3Client(server);
    for (const [bucket, key] of [
      ['kms-objects', 'default'],
      ['kms-objects', 'by-alias'],
      ['kms-objects', 'mp'],
      ['kms-objects', 'rotate-before'],
      ['kms-objects', 'rotate-after'],
      ['kms-objects', 'with-context'],
      ['kms-default', 'obj'],
    ]) {
      const { got, bytes } = await readBack(bucket, key);
      assert.equal(got.ServerSideEncryption, 'aws:kms', `${bucket}/${key}`);
      assert.ok(bytes.length > 0, `${bucket}/${key} reads after the restart`);
    }
    const fresh = markerBytes('KMS-AFTER-RESTART-7f00', MiB);
    await s3.send(
      new PutObjectCommand({
        Bucket: 'kms-objects',
        Key: 'after-restart',
        Body: fresh,
        ServerSideEncryption: 'aws:kms',
        SSEKMSKeyId: 'alias/app',
      }),
    );
    assert.ok((await readBack('kms-objects', 'after-restart')).bytes.equals(fresh));
  });

  test('no key material reaches the log or the metrics', async () => {
    const metrics = await (await fetch(server.metricsUrl)).text();
    for (const text of [metrics, server.output()]) {
      assert.ok(!/wrappedMaterial|wrappedKey/.test(text), 'no wrapped material');
      assert.ok(!text.includes(readFileSync(keyFile, 'utf8').split('\n').at(-2) ?? '?'));
    }
  });
});
