// deploy/: the Prometheus rules pass promtool (syntax and their unit tests), the example
// Prometheus configuration loads them, every metric the rules and the Grafana dashboard use is
// one Strata exports, and the systemd unit passes systemd-analyze verify for each role.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runProcess } from '../helpers/process.ts';
import { REPO_ROOT, tempDir } from '../helpers/server.ts';

const DEPLOY = join(REPO_ROOT, 'deploy');
const PROMTOOL = '/usr/bin/promtool';
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const missing = (path: string, pkg: string) =>
  existsSync(path) ? false : `${path} missing (apt-get install ${pkg})`;

// Every metric name Strata registers (`name: 'strata_...'` in src/), plus the histogram series
// and prom-client's default process metrics (prefix strata_process_).
function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts'))
        for (const m of readFileSync(path, 'utf8').matchAll(/name: '(strata_[a-z0-9_]+)'/g))
          names.add(m[1]);
    }
  };
  walk(join(REPO_ROOT, 'src'));
  for (const name of [...names])
    for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  return names;
}

function metricsUsed(text: string): string[] {
  return [...new Set([...text.matchAll(/\bstrata_[a-z0-9_]+/g)].map((m) => m[0]))].filter(
    (name) => !name.startsWith('strata_process_'),
  );
}

describe('deploy/prometheus', { skip: missing(PROMTOOL, 'prometheus') }, () => {
  const dir = join(DEPLOY, 'prometheus');
  const promtool = async (...args: string[]) => {
    const result = await runProcess(PROMTOOL, args, {
      env: { ...process.env, PWD: dir },
    });
    return result;
  };

  test('promtool check rules accepts the alert rules', async () => {
    const result = await promtool('check', 'rules', join(dir, 'strata-alerts.yml'));
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS: 11 rules found/);
  });

  test("the rules' unit tests pass (promtool test rules)", async () => {
    const result = await promtool('test', 'rules', join(dir, 'strata-alerts.test.yml'));
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  test('the example prometheus.yml is valid and loads the rules', async () => {
    const result = await promtool('check', 'config', join(dir, 'prometheus.yml'));
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });
});

test('the alerts cover the operator cases the design lists', () => {
  const rules = readFileSync(join(DEPLOY, 'prometheus', 'strata-alerts.yml'), 'utf8');
  for (const alert of [
    'StrataNodeDown',
    'StrataDiskFailing',
    'StrataDegradedStripes',
    'StrataRepairStalled',
    'StrataRaftNoLeader',
    'StrataDiskNearlyFull',
    'StrataS3ErrorRate',
  ])
    assert.match(rules, new RegExp(`alert: ${alert}\\n`), `no ${alert} rule`);
});

test('every metric the rules and the dashboard use is one Strata exports', () => {
  const exported = exportedMetrics();
  const rules = readFileSync(join(DEPLOY, 'prometheus', 'strata-alerts.yml'), 'utf8');
  const dashboard = readFileSync(join(DEPLOY, 'grafana', 'strata.json'), 'utf8');
  for (const [file, text] of [
    ['strata-alerts.yml', rules],
    ['strata.json', dashboard],
  ]) {
    const unknown = metricsUsed(text).filter((name) => !exported.has(name));
    assert.deepEqual(unknown, [], `${file} uses metrics Strata does not export`);
  }
});

test('the Grafana dashboard is one JSON document with distinct panel ids and a datasource variable', () => {
  const dashboard = JSON.parse(readFileSync(join(DEPLOY, 'grafana', 'strata.json'), 'utf8'));
  const ids = dashboard.panels.map((p: { id: number }) => p.id);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(dashboard.templating.list.some((v: { type: string }) => v.type === 'datasource'));
  for (const panel of dashboard.panels.filter((p: { type: string }) => p.type !== 'row')) {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
    assert.equal(panel.datasource.uid, '${datasource}', panel.title);
    assert.ok(panel.targets.length > 0, `${panel.title} has no query`);
  }
});

describe('deploy/systemd', { skip: missing(SYSTEMD_ANALYZE, 'systemd') }, () => {
  test('systemd-analyze verify accepts strata@metadata, strata@data and strata@s3', async () => {
    // The unit runs /opt/strata/bin/strata (the launcher), where the deployment guide installs Strata;
    // verify insists that ExecStart exists, so the copy checked points at this checkout's.
    const unit = readFileSync(join(DEPLOY, 'systemd', 'strata@.service'), 'utf8');
    assert.match(unit, /ExecStart=\/opt\/strata\/bin\/strata server --role %i /);
    const dir = tempDir('strata-systemd-');
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'strata@.service'),
        unit.replaceAll('/opt/strata/bin/strata ', `${join(REPO_ROOT, 'bin', 'strata')} `),
      );
      for (const role of ['metadata', 'data', 's3']) {
        const result = await runProcess(SYSTEMD_ANALYZE, [
          'verify',
          join(dir, `strata@${role}.service`),
        ]);
        assert.equal(result.status, 0, `strata@${role}: ${result.stderr}`);
        assert.equal(result.stderr.trim(), '', `strata@${role} warnings: ${result.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
