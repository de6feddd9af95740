// One cluster configuration: the erasure profile and placement strategy the first leader had are
// recorded in the replicated state; a member restarted with a different file keeps handing out
// the recorded ones and logs the difference as a warning.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runStrata, startStrata, tempDir } from '../helpers/server.ts';

test('the first leader records the erasure profile; a later different file is warned about, not used', async () => {
  const dir = tempDir('strata-cluster-config-');
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'strata.toml');
  const write = (k: number, strategy: string) =>
    writeFileSync(
      configPath,
      `[erasure_coding]\ndata_shards = ${k}\n[placement]\nstrategy = "${strategy}"\n`,
    );
  const env = { STRATA_CONFIG: configPath };
  try {
    write(4, 'least-loaded');
    const first = await startStrata({
      dataDir,
      env,
      args: ['--role', 'metadata'],
      ready: ['metadata'],
    });
    const erasureOf = async (addr: string) => {
      const result = await runStrata(['cluster', 'status', '--json', '--metadata-addr', addr], {
        env,
      });
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout.toString()).erasure;
    };
    assert.equal((await erasureOf(first.metadataAddr)).k, 4);
    await first.stop();

    write(3, 'random');
    const second = await startStrata({
      dataDir,
      env,
      args: ['--role', 'metadata'],
      ready: ['metadata'],
    });
    try {
      assert.equal((await erasureOf(second.metadataAddr)).k, 4, 'the recorded profile is used');
      const deadline = Date.now() + 30_000;
      while (!/differs from the cluster configuration/.test(second.output())) {
        assert.ok(Date.now() < deadline, `no warning logged:\n${second.output()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const warning = second
        .output()
        .split('\n')
        .find((l) => l.includes('differs from the cluster'));
      assert.match(warning ?? '', /erasure_coding\.data_shards: 3 here, 4 in the cluster/);
      assert.match(warning ?? '', /placement\.strategy: random here, least-loaded in the cluster/);
    } finally {
      await second.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
