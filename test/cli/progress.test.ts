// Progress of long CLI work: the text and the bar (pure), the reporter's terminal and piped
// modes, and `strata fs put/get` and `strata cluster repair` against a real server, on a
// pseudo-terminal (util-linux `script`) and through a pipe.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { progressBar, progressReporter, progressText } from '../../src/cli/progress.ts';
import { runProcess } from '../helpers/process.ts';
import { patternBytes } from '../helpers/s3.ts';
import {
  runStrata,
  STRATA_BIN,
  type StrataProcess,
  startStrata,
  tempDir,
} from '../helpers/server.ts';

const MiB = 1024 * 1024;

test('the text says how much of what, the share, the rate and the time left', () => {
  const text = progressText({
    label: 'put /b/f',
    unit: 'bytes',
    done: 4 * MiB,
    total: 16 * MiB,
    elapsedMs: 2_000,
  });
  assert.equal(text, 'put /b/f: 4.0 MiB of 16.0 MiB (25%), 2.0 MiB/s, about 6 s left');
  const counted = progressText({
    label: 'draining data-3',
    unit: 'count',
    done: 4,
    total: 16,
    note: '12 shards left',
    noun: 'moved',
    elapsedMs: 500,
  });
  assert.equal(counted, 'draining data-3: 12 shards left, 4 of 16 moved (25%)');
  const unknown = progressText({ label: 'put /b/f', unit: 'bytes', done: 10, elapsedMs: 0 });
  assert.equal(unknown, 'put /b/f: 10 B');
  assert.equal(progressBar(1, 4, 8), '[##......] ');
  assert.equal(progressBar(9, 4, 8), '[########] ');
  assert.equal(progressBar(1, undefined), '');
});

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return {
    writes,
    stream: { isTTY, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream,
  };
}

test('on a terminal the bar is rewritten in place; piped, plain lines at the interval', () => {
  let nowMs = 0;
  const tty = fakeStream(true);
  const bar = progressReporter({
    label: 'get /b/f',
    unit: 'bytes',
    total: 100,
    stream: tty.stream,
    nowMs: () => nowMs,
  });
  for (nowMs = 0; nowMs <= 1_000; nowMs += 50) bar.update(Math.floor(nowMs / 10));
  bar.finish();
  assert.ok(tty.writes.length >= 10 && tty.writes.length <= 13, `${tty.writes.length} writes`);
  assert.ok(tty.writes.slice(0, -1).every((w) => w.startsWith('\r[') && w.endsWith('\u001b[K')));
  assert.match(tty.writes.at(-2) ?? '', /100 B of 100 B \(100%\)/);
  assert.equal(tty.writes.at(-1), '\n');

  nowMs = 0;
  const piped = fakeStream(false);
  const lines = progressReporter({
    label: 'get /b/f',
    unit: 'bytes',
    total: 100,
    stream: piped.stream,
    lineIntervalMs: 5_000,
    nowMs: () => nowMs,
  });
  for (nowMs = 0; nowMs <= 12_000; nowMs += 1_000) lines.update(Math.floor(nowMs / 120));
  lines.finish();
  // Lines at 0, 5 and 10 s (the finish adds none when piped).
  assert.deepEqual(
    piped.writes.map((w) => w.replace(/,.*/s, '').trimEnd()),
    [
      'get /b/f: 0 B of 100 B (0%)',
      'get /b/f: 41 B of 100 B (41%)',
      'get /b/f: 83 B of 100 B (83%)',
    ],
  );
  assert.ok(piped.writes.every((w) => !w.includes('\r')));
});

describe('fs put/get and cluster repair report progress', () => {
  let server: StrataProcess;
  let dir: string;
  before(async () => {
    server = await startStrata();
    dir = tempDir('strata-progress-');
    writeFileSync(join(dir, 'big.bin'), patternBytes(48 * MiB, 5));
    const mkdir = await runStrata([
      'fs',
      'mkdir',
      '/progress',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.equal(mkdir.code, 0, mkdir.stderr);
  });
  after(async () => {
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('on a terminal, fs put and get draw a bar that ends at 100%', async () => {
    const cli = `${process.execPath} ${STRATA_BIN}`;
    const addr = `--metadata-addr ${server.metadataAddr}`;
    const command =
      `${cli} fs put ${join(dir, 'big.bin')} /progress/big.bin ${addr} && ` +
      `${cli} fs get /progress/big.bin ${join(dir, 'copy.bin')} ${addr}`;
    const result = await runProcess('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, STRATA_CONFIG: '' },
    });
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(
      result.stdout,
      /\r\[#+\] put \/progress\/big\.bin: 48\.0 MiB of 48\.0 MiB \(100%\)/,
    );
    assert.match(
      result.stdout,
      /\r\[#+\] get \/progress\/big\.bin: 48\.0 MiB of 48\.0 MiB \(100%\)/,
    );
  });

  test('piped, fs put writes plain progress lines and no carriage return', async () => {
    const result = await runStrata([
      'fs',
      'put',
      join(dir, 'big.bin'),
      '/progress/again.bin',
      '--metadata-addr',
      server.metadataAddr,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /^put \/progress\/again\.bin: [\d.]+ \w+ of 48\.0 MiB \(\d+%\)/m);
    assert.ok(!result.stderr.includes('\r'), 'a carriage return in piped output');
  });

  test('cluster repair on a healthy cluster ends at once with nothing degraded', async () => {
    const result = await runStrata(['cluster', 'repair', '--metadata-addr', server.metadataAddr]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout.toString(), /^repair: nothing degraded; 0 shards \(0 B\) rebuilt$/m);
  });
});
