// tuneHeap (src/common/heap-tuning.ts), in processes of its own: short-lived external buffers
// beside a live heap made V8 run a full collection every few tens of MiB allocated; with the
// flag set they do not, and a choice made on the command line stands.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PROBE = fileURLToPath(new URL('./fixtures/external-garbage.ts', import.meta.url));

function fullCollections(nodeArgs: string[], probeArgs: string[]): number {
  const run = spawnSync(process.execPath, [...nodeArgs, PROBE, ...probeArgs], {
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  return (JSON.parse(run.stdout) as { fullCollections: number }).fullCollections;
}

test('tuned, external garbage no longer drives full collections; the command line still decides', () => {
  const plain = fullCollections([], []);
  const tuned = fullCollections([], ['tune']);
  const refused = fullCollections(['--no-external-memory-accounted-in-global-limit'], ['tune']);
  assert.ok(plain >= 6, `${plain} full collections untuned: the probe makes the garbage it should`);
  assert.ok(tuned * 3 <= plain, `tuned ${tuned}, untuned ${plain}`);
  assert.ok(refused * 3 > plain, `turned off on the command line: ${refused}, untuned ${plain}`);
});
