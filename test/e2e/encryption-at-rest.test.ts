// Encryption at rest (issue 14) with a real server and the AWS SDK: with `encryption.enabled` the
// data directories hold no plaintext, reads return the bytes (whole, ranged, degraded), a shard
// forged into another shard's place is refused and counted rather than served, and stripes
// written before encryption was turned on (or after it was turned off) stay readable.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { encodeShard } from '../../src/data/shard-file.ts';
import { canMount, startMount } from '../helpers/mount.ts';
import { bodyBytes, s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { shardsByStripe } from '../helpers/shards.ts';

type SdkError = Error & { $metadata?: { httpStatusCode?: number } };
const MARKER = 'STRATA-AT-REST-MARKER-7f3a';
const ENCRYPTED = { STRATA_ENCRYPTION_ENABLED: 'true' };

// `length` bytes made of the marker string over and over, so any plaintext fragment of 64 bytes
// or more contains it whole.
function markerBytes(length: number, salt = ''): Buffer {
  const unit = Buffer.from(`${MARKER}${salt}|`);
  return Buffer.alloc(length, unit);
}

// Every regular file under `dir` that contains `needle`.
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const path = join(dir, name);
    // A file may go between the listing and the read: the rotten shard's old copy, dropped once
    // the repair has rebuilt it elsewhere.
    if (statSync(path, { throwIfNoEntry: false })?.isFile() !== true) continue;
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (bytes.includes(needle)) found.push(path);
  }
  return found;
}

async function metricValue(server: StrataProcess, series: string): Promise<number> {
  const metrics = await (await fetch(server.metricsUrl)).text();
  const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
  return Number(line?.split(' ')[1] ?? 0);
}

async function getBytes(s3: S3Client, key: string, range?: string): Promise<Buffer> {
  const reply = await s3.send(new GetObjectCommand({ Bucket: 'sealed', Key: key, Range: range }));
  return bodyBytes(reply.Body);
}

describe('encryption at rest', () => {
  let server: StrataProcess;
  let s3: S3Client;
  const dataDir = tempDir('strata-at-rest-');
  const objects = new Map<string, Buffer>();
  before(async () => {
    server = await startStrata({ dataDir, env: ENCRYPTED });
    s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'sealed' }));
  });
  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  async function put(key: string, body: Buffer): Promise<void> {
    await s3.send(new PutObjectCommand({ Bucket: 'sealed', Key: key, Body: body }));
    objects.set(key, body);
  }

  test('objects written through S3 leave no plaintext in the data directory, and read back', async () => {
    await put('small', markerBytes(100, 'small'));
    await put('one-stripe', markerBytes(3 * 1024 * 1024 + 7, 'one'));
    await put('three-stripes', markerBytes(9 * 1024 * 1024 + 123, 'three'));
    const upload = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'sealed', Key: 'mp' }));
    const parts = [markerBytes(5 * 1024 * 1024, 'p1'), markerBytes(1234, 'p2')];
    const etags = [];
    for (const [i, body] of parts.entries()) {
      const part = await s3.send(
        new UploadPartCommand({
          Bucket: 'sealed',
          Key: 'mp',
          UploadId: upload.UploadId,
          PartNumber: i + 1,
          Body: body,
        }),
      );
      etags.push({ ETag: part.ETag, PartNumber: i + 1 });
    }
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'sealed',
        Key: 'mp',
        UploadId: upload.UploadId,
        MultipartUpload: { Parts: etags },
      }),
    );
    objects.set('mp', Buffer.concat(parts));
    assert.deepEqual(filesContaining(dataDir, MARKER), [], 'no file holds the marker');
    assert.ok(shardsByStripe(dataDir).size >= 6, 'the objects are on the disks');
    for (const [key, body] of objects) {
      assert.ok((await getBytes(s3, key)).equals(body), `${key} reads back`);
    }
    // Ranges across chunk (64 KiB) and shard (1 MiB) boundaries and stripes.
    const big = objects.get('three-stripes') as Buffer;
    for (const [from, to] of [
      [65_510, 65_560],
      [1024 * 1024 - 5, 1024 * 1024 + 70_000],
      [4 * 1024 * 1024 - 100, 8 * 1024 * 1024 + 100],
      [big.length - 10, big.length - 1],
    ]) {
      const got = await getBytes(s3, 'three-stripes', `bytes=${from}-${to}`);
      assert.ok(got.equals(big.subarray(from, to + 1)), `range ${from}-${to}`);
    }
  });

  test('files written through a FUSE mount with the key file are sealed too, and read back both ways', {
    skip: canMount ? false : 'FUSE tests need root and /dev/fuse',
  }, async () => {
    const mount = await startMount(server.metadataAddr, {
      args: ['--key-file', join(dataDir, 'master.key'), '--log-level', 'warn'],
    });
    try {
      const body = markerBytes(5 * 1024 * 1024 + 3, 'fuse');
      writeFileSync(join(mount.mountPoint, 'sealed', 'from-fuse'), body);
      assert.deepEqual(filesContaining(dataDir, MARKER), [], 'no file holds the marker');
      assert.ok((await getBytes(s3, 'from-fuse')).equals(body), "S3 reads the mount's file");
      assert.ok(readFileSync(join(mount.mountPoint, 'sealed', 'from-fuse')).equals(body));
      const viaS3 = objects.get('one-stripe') as Buffer;
      assert.ok(readFileSync(join(mount.mountPoint, 'sealed', 'one-stripe')).equals(viaS3));
    } finally {
      await mount.stop();
    }
  });

  test('a stripe with two shards gone is decoded from parity and still decrypts', async () => {
    const body = markerBytes(2 * 1024 * 1024 + 99, 'degraded');
    const before = new Set(shardsByStripe(dataDir).keys());
    await put('degraded', body);
    const [files] = [...shardsByStripe(dataDir)]
      .filter(([id]) => !before.has(id))
      .map(([, f]) => f);
    rmSync(files[0]);
    rmSync(files[2]);
    assert.ok((await getBytes(s3, 'degraded')).equals(body));
  });

  test('a block gone bad in a sealed shard: read without block checks, refused by its tag, read again with them, decoded around', async () => {
    const body = markerBytes(2 * 1024 * 1024, 'rotten');
    const before = new Set(shardsByStripe(dataDir).keys());
    await put('rotten', body);
    const [[, files]] = [...shardsByStripe(dataDir)].filter(([id]) => !before.has(id));
    // A data byte of shard 1 flipped, its block's CRC left as it was: a disk's rot.
    const bytes = readFileSync(files[1]);
    bytes[64 + 1000] ^= 0x20;
    writeFileSync(files[1], bytes);
    const corrupt = 'strata_data_shard_errors_total{code="SHARD_CORRUPT"}';
    const unchecked = 'strata_data_reads_reader_authenticated_total';
    const authFailures = 'strata_client_encryption_auth_failures_total{what="chunk"}';
    const [corruptBefore, uncheckedBefore, failuresBefore] = [
      await metricValue(server, corrupt),
      await metricValue(server, unchecked),
      await metricValue(server, authFailures),
    ];
    assert.ok((await getBytes(s3, 'rotten')).equals(body), 'the whole object, right');
    // The first read left the CRCs to the gateway (whose tag check refused the chunk); the
    // second had them checked, so the data server named the rotten shard and it was decoded
    // around, as for an unencrypted stripe: a rotten block is no authentication failure.
    assert.ok((await metricValue(server, unchecked)) > uncheckedBefore, 'reads left unchecked');
    assert.match(server.output(), /read again with block checks/);
    assert.ok((await metricValue(server, corrupt)) > corruptBefore, 'the rot counted as such');
    assert.equal(await metricValue(server, authFailures), failuresBefore, 'not as a forgery');
  });

  test('a shard forged into another index of its stripe fails authentication: counted, never served, decoded from the others', async () => {
    const body = markerBytes(2 * 1024 * 1024, 'moved');
    const before = new Set(shardsByStripe(dataDir).keys());
    await put('moved', body);
    const [[stripeId, files]] = [...shardsByStripe(dataDir)].filter(([id]) => !before.has(id));
    // Shard 0's sealed bytes under a valid header naming shard `index`, over that shard: the
    // CRCs and the header's name all check, as after a deliberate forgery. Only the AAD tells.
    const file0 = readFileSync(files[0]);
    const data = file0.subarray(64, 64 + Number(file0.readBigUInt64BE(8)));
    const forge = (index: number) => {
      const { head, crcs } = encodeShard({ stripeId, shardIndex: index }, data);
      writeFileSync(files[index], Buffer.concat([head, data, crcs]));
    };
    forge(1);
    const series = 'strata_client_encryption_auth_failures_total{what="chunk"}';
    const failuresBefore = await metricValue(server, series);
    const plainShard = body.length / 4;
    const range = `bytes=${plainShard}-${plainShard + 99}`;
    const got = await getBytes(s3, 'moved', range);
    assert.ok(got.equals(body.subarray(plainShard, plainShard + 100)), 'decoded from the others');
    assert.equal(await metricValue(server, series), failuresBefore + 1, 'the forgery is counted');
    assert.match(server.output(), /"shard":1,"decodingFromOthers":true/);
    // Three forged shards of a 4+2 stripe: parity cannot stand in; the read fails, typed.
    forge(2);
    forge(3);
    const error = (await getBytes(s3, 'moved', range).catch((e) => e)) as SdkError;
    assert.ok(error instanceof Error, 'the ranged GET fails');
    assert.equal(error.$metadata?.httpStatusCode, 500);
    assert.ok((await metricValue(server, series)) > failuresBefore + 1);
    assert.match(server.output(), /"decodingFromOthers":false/);
    // Shard 0 itself is untouched and still opens.
    assert.ok((await getBytes(s3, 'moved', 'bytes=0-99')).equals(body.subarray(0, 100)));
  });

  test('stripes written without encryption stay readable with it on, and sealed ones with it off', async () => {
    const dir = tempDir('strata-at-rest-mixed-');
    const plainBody = markerBytes(1024 * 1024 + 5, 'before');
    const sealedBody = markerBytes(1024 * 1024 + 9, 'during');
    let node = await startStrata({ dataDir: dir });
    let client = s3Client(node);
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'sealed' }));
      await client.send(new PutObjectCommand({ Bucket: 'sealed', Key: 'old', Body: plainBody }));
      assert.ok(filesContaining(join(dir, 'disks'), MARKER).length > 0, 'unencrypted: plaintext');
      client.destroy();
      await node.stop();
      node = await startStrata({ dataDir: dir, env: ENCRYPTED });
      client = s3Client(node);
      await client.send(new PutObjectCommand({ Bucket: 'sealed', Key: 'new', Body: sealedBody }));
      assert.ok((await getBytes(client, 'old')).equals(plainBody), 'the old object, with it on');
      assert.ok((await getBytes(client, 'new')).equals(sealedBody));
      client.destroy();
      await node.stop();
      node = await startStrata({ dataDir: dir });
      client = s3Client(node);
      assert.ok((await getBytes(client, 'old')).equals(plainBody));
      assert.ok((await getBytes(client, 'new')).equals(sealedBody), 'sealed, with it off');
    } finally {
      client.destroy();
      await node.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// The repair never holds a key: the scrub finds a rotten sealed shard, the leader's repair has
// a data server rebuild it from the other sealed shards (parity is over ciphertext), and the
// rebuilt file is byte for byte the one that was written.
test('a rotten encrypted shard is rebuilt by the scrub and repair, byte for byte, without a key', async () => {
  const disks = 8;
  const dataDir = tempDir('strata-at-rest-repair-');
  const config = join(tempDir('strata-at-rest-repair-conf-'), 'strata.toml');
  writeFileSync(
    config,
    `[data]\ndisk_count = ${disks}\nscrub_bytes_per_second = ${2 ** 30}\n` +
      'scrub_pass_interval_seconds = 1\n[encryption]\nenabled = true\n' +
      'cipher = "chacha20-poly1305"\n',
  );
  const server = await startStrata({ dataDir, args: ['--config', config] });
  const s3 = s3Client(server);
  try {
    await s3.send(new CreateBucketCommand({ Bucket: 'sealed' }));
    const body = markerBytes(3 * 1024 * 1024 + 7, 'repair');
    await s3.send(new PutObjectCommand({ Bucket: 'sealed', Key: 'k', Body: body }));
    const [[stripeId, before]] = [...shardsByStripe(dataDir, disks)];
    const original = readFileSync(before[1]);
    const rotten = Buffer.from(original);
    rotten[64 + 100] ^= 0xff;
    writeFileSync(before[1], rotten);
    let after: string[] = before;
    // A scan walks the disks one after another, not at one instant: a scan that reads the new
    // file's disk before the rebuild writes it and the old file's disk after the repair removes
    // it sees neither (it failed once so under load), and one may see the new file while it is
    // being written. So wait for a shard 1 that is elsewhere and for the rotten file's removal,
    // which follows the commit of its replacement, itself written whole and fsynced before.
    for (
      let attempt = 0;
      attempt < 600 && (after[1] === undefined || after[1] === before[1] || existsSync(before[1]));
      attempt++
    ) {
      await sleep(100);
      after = shardsByStripe(dataDir, disks).get(stripeId) ?? [];
    }
    assert.ok(after[1] !== undefined, `no shard 1 left after 60 s:\n${server.output()}`);
    assert.notEqual(after[1], before[1], `shard 1 not rebuilt within 60 s:\n${server.output()}`);
    assert.ok(readFileSync(after[1]).equals(original), 'the rebuilt shard is the sealed original');
    assert.deepEqual(filesContaining(dataDir, MARKER), []);
    assert.ok((await getBytes(s3, 'k')).equals(body));
  } finally {
    s3.destroy();
    await server.stop();
  }
});
