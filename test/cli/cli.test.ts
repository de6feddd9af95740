// The strata CLI against a real server: help everywhere, fs commands, cluster status, metrics.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { patternBytes } from '../helpers/s3.ts';
import { runStrata, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

describe('strata CLI', () => {
  let server: StrataProcess;
  let addr: string[];
  before(async () => {
    server = await startStrata();
    addr = ['--metadata-addr', server.metadataAddr];
  });
  after(async () => {
    await server?.stop();
  });

  test('every command answers --help with its usage and exit code 0', async () => {
    for (const args of [
      ['--help'],
      ['server', '--help'],
      ['cluster', '--help'],
      ['fs', '--help'],
      ['version', '--help'],
      ['help', 'fs'],
    ]) {
      const result = await runStrata(args);
      assert.equal(result.code, 0, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stdout.toString(), /Usage: strata/, args.join(' '));
    }
  });

  test('an unknown command or flag is a usage error with exit code 2', async () => {
    const unknown = await runStrata(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command/);
    const badFlag = await runStrata(['fs', 'ls', '/', '--no-such-flag']);
    assert.equal(badFlag.code, 2);
  });

  test('version prints the version and the Node.js runtime', async () => {
    const result = await runStrata(['version']);
    assert.match(result.stdout.toString(), /^strata \d+\.\d+\.\d+ \(node v24\./);
  });

  test('fs mkdir, put, ls, stat, mv, get, rm -r work together', async () => {
    const local = join(tempDir('strata-cli-'), 'payload');
    const payload = patternBytes(5 * 1024 * 1024 + 9, 12);
    writeFileSync(local, payload);
    const run = async (...args: string[]) => {
      const result = await runStrata(['fs', ...args, ...addr]);
      assert.equal(result.code, 0, `fs ${args.join(' ')}: ${result.stderr}`);
      return result.stdout.toString();
    };
    await run('mkdir', '/clibucket');
    await run('mkdir', '-p', '/clibucket/deep/er');
    await run('put', local, '/clibucket/deep/er/file.bin');
    assert.match(await run('ls', '/clibucket/deep/er'), /5242889 .* file\.bin/);
    assert.match(
      await run('stat', '/clibucket/deep/er/file.bin'),
      /type +file[\s\S]*size +5242889/,
    );
    await run('mv', '/clibucket/deep/er/file.bin', '/clibucket/moved.bin');
    const got = await runStrata(['fs', 'get', '/clibucket/moved.bin', ...addr]);
    assert.ok(got.stdout.equals(payload), 'get returns the bytes put');
    const notEmpty = await runStrata(['fs', 'rm', '/clibucket/deep', ...addr]);
    assert.equal(notEmpty.code, 2, 'rm of a directory needs -r');
    await run('rm', '-r', '/clibucket/deep');
    assert.doesNotMatch(await run('ls', '/clibucket'), /deep/);
    const missing = await runStrata(['fs', 'stat', '/clibucket/deep', ...addr]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ENOENT/);
  });

  test('cluster status lists the data server with six disks and their capacity', async () => {
    const text = (await runStrata(['cluster', 'status', ...addr])).stdout.toString();
    assert.match(text, /erasure +4\+2/);
    assert.match(text, /data-1 +\S+ +up/);
    assert.equal(text.match(/disk \d +online/g)?.length, 6, text);
    const json = JSON.parse(
      (await runStrata(['cluster', 'status', '--json', ...addr])).stdout.toString(),
    );
    assert.equal(json.dataServers[0].disks.length, 6);
    assert.ok(
      json.dataServers[0].disks.every(
        (d: { totalBytes: number; freeBytes: number }) =>
          d.totalBytes >= d.freeBytes && d.freeBytes > 0,
      ),
    );
  });

  test('a client command with no reachable metadata service fails with a clear error', async () => {
    const result = await runStrata(['fs', 'ls', '/', '--metadata-addr', '127.0.0.1:1']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /RPC_UNAVAILABLE/);
  });

  test('/metrics serves Prometheus text with strata_ metrics', async () => {
    const response = await fetch(server.metricsUrl);
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /^# TYPE strata_rpc_requests_total counter$/m);
    assert.match(text, /strata_metadata_commands_total\{op="createBucket",code="ok"\} [1-9]/);
  });
});

test('a server whose port is taken exits 1 naming the address', async () => {
  const { createServer } = await import('node:net');
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  const port = (blocker.address() as { port: number }).port;
  try {
    const result = await runStrata([
      'server',
      '--data-dir',
      tempDir('strata-busy-'),
      '--metadata-addr',
      `127.0.0.1:${port}`,
      '--metrics-addr',
      '',
    ]);
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use`),
    );
    assert.doesNotMatch(result.stderr, /at Server\./, 'no stack trace for an operator error');
  } finally {
    blocker.close();
  }
});
