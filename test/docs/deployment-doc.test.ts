// docs/guides/deployment.md: its configuration file loads as written (every key exists and every
// value passes its check), and the unit and files it points to exist.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/config/load.ts';
import { REPO_ROOT, tempDir } from '../helpers/server.ts';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'guides', 'deployment.md'), 'utf8');

test("the guide's strata.toml loads as written", () => {
  const blocks = [...DOC.matchAll(/^```toml\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  assert.equal(blocks.length, 1, 'one TOML block expected');
  const dir = tempDir('strata-deploy-doc-');
  try {
    const path = join(dir, 'strata.toml');
    writeFileSync(path, blocks[0]);
    const { config } = loadConfig({ configPath: path, env: {} });
    assert.equal(config.metadata.raft_peers.length, 2);
    assert.equal(config.data.disks.length, 6);
    assert.ok(config.s3.auth.credentials.every((c) => c.admin));
    assert.notEqual(config.console.addr, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the files the guide links to exist', () => {
  const links = [...DOC.matchAll(/\]\((\.\.\/[^)#]+)/g)].map((m) => m[1]);
  assert.ok(links.length >= 4);
  for (const link of links)
    assert.ok(existsSync(join(REPO_ROOT, 'docs', 'guides', link)), `${link} does not exist`);
});
