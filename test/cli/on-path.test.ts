// `strata` and `strata-mount` on PATH, as `npm link` or `npm install -g .` put them: the global
// bin directory holds symlinks into <prefix>/lib/node_modules/strata, itself a symlink to the
// checkout. The commands must run from any directory, with whatever `node` is first on PATH (the
// system's may be too old to strip types), and Node refuses to strip types of files it loads
// from under node_modules: the launchers resolve the real path and use the checkout's Node.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT, tempDir } from '../helpers/server.ts';

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
};

// The layout npm makes for a linked package (checked by hand with npm 11: `npm link` and
// `npm install -g .` with npm_config_prefix set make exactly these links).
function linkedPrefix(): string {
  const prefix = tempDir('strata-prefix-');
  mkdirSync(join(prefix, 'lib', 'node_modules'), { recursive: true });
  mkdirSync(join(prefix, 'bin'));
  symlinkSync(REPO_ROOT, join(prefix, 'lib', 'node_modules', pkg.name));
  for (const [name, path] of Object.entries(pkg.bin))
    symlinkSync(join('..', 'lib', 'node_modules', pkg.name, path), join(prefix, 'bin', name));
  return prefix;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  return new Promise<{ code: number | null; out: string }>((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, out }));
  });
}

test('package.json names both commands, each a launcher beside its TypeScript entry', () => {
  assert.deepEqual(Object.keys(pkg.bin).sort(), ['strata', 'strata-mount']);
  for (const [name, path] of Object.entries(pkg.bin)) {
    const text = readFileSync(join(REPO_ROOT, path), 'utf8');
    assert.match(text, /^#!\/bin\/sh\n/, `${name} is a shell launcher`);
    assert.ok(text.includes(`${name}.ts`), `${name} runs bin/${name}.ts`);
  }
});

test('the linked commands run from another directory with only the system PATH', async (t) => {
  const prefix = linkedPrefix();
  const elsewhere = tempDir('strata-cwd-');
  // rmSync removes the links, never what they point to.
  t.after(() => {
    for (const dir of [prefix, elsewhere]) rmSync(dir, { recursive: true, force: true });
  });
  // No node_modules/.bin on PATH: `node` is the system's, if any.
  const env = { HOME: elsewhere, PATH: `${join(prefix, 'bin')}:/usr/bin:/bin`, STRATA_CONFIG: '' };
  const version = await run('strata', ['version'], env, elsewhere);
  assert.equal(version.code, 0, version.out);
  assert.match(version.out, /^strata \d+\.\d+\.\d+ \(node v24\./);
  const mount = await run('strata-mount', ['--help'], env, elsewhere);
  assert.equal(mount.code, 0, mount.out);
  assert.match(mount.out, /^Usage: strata-mount MOUNTPOINT/);
  // A command that loads the configuration reports its errors and exit code as from the checkout.
  const server = await run('strata', ['server', '--node-id', 'x'], env, elsewhere);
  assert.equal(server.code, 2, server.out);
  assert.match(server.out, /--node-id \(flag --node-id\): expected an integer/);
});
