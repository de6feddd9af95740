// Every metric on the role that owns it: the code's groups against the design's six metrics and
// against docs/guides/operations.md, whose Metrics tables are arranged by role.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type MetricGroup,
  metricsRegistry,
  ROLE_METRICS,
} from '../../src/observability/metrics.ts';
import { REPO_ROOT } from '../helpers/server.ts';
// The console's metric registers in the metadata group when its module loads, as on a member.
import '../../src/console/metrics.ts';

async function namesOf(groups: MetricGroup[]): Promise<string[]> {
  const metrics = await metricsRegistry(groups).getMetricsAsJSON();
  return metrics.map((m) => m.name).sort();
}

test("the design's six metrics are exported by their roles and no other", async () => {
  const exported = {
    metadata: await namesOf([...ROLE_METRICS.metadata]),
    data: await namesOf([...ROLE_METRICS.data]),
    s3: await namesOf([...ROLE_METRICS.s3]),
    mount: await namesOf([...ROLE_METRICS.mount]),
  };
  const owners: Record<string, keyof typeof exported> = {
    strata_cluster_nodes_total: 'metadata',
    strata_cluster_nodes_online: 'metadata',
    strata_raft_term: 'metadata',
    strata_data_reads_total: 'data',
    strata_data_writes_total: 'data',
    strata_s3_requests_total: 's3',
  };
  for (const [name, owner] of Object.entries(owners)) {
    for (const [role, names] of Object.entries(exported))
      assert.equal(names.includes(name), role === owner, `${name} on ${role}`);
  }
});

// The doc's subsections of "## Metrics" and the groups they document.
const DOC_GROUPS: Record<string, MetricGroup> = {
  'Metadata members': 'metadata',
  'Data servers': 'data',
  'S3 gateways': 's3',
  'Metadata members and data servers': 'rpc',
  'Every reader and writer of stripes': 'client',
  'FUSE mounts': 'fuse',
};

test('the operations guide lists every metric under the role that exports it', async () => {
  const text = readFileSync(join(REPO_ROOT, 'docs/guides/operations.md'), 'utf8');
  const section = text.slice(text.indexOf('\n## Metrics\n'), text.indexOf('\n## Logs\n'));
  const documented = new Map<string, string[]>();
  for (const part of section.split('\n### ').slice(1)) {
    const title = part.slice(0, part.indexOf('\n'));
    // A table's rows, or for a subsection without a table (FUSE mounts) the names in its prose.
    const rows = [...part.matchAll(/^\| `(strata_[a-z0-9_]+)` \|/gm)].map((m) => m[1]);
    const prose = [...part.matchAll(/`(strata_[a-z0-9_]+)`/g)].map((m) => m[1]);
    documented.set(
      title,
      rows.length > 0 ? rows : prose.filter((n) => n.startsWith('strata_fuse')),
    );
  }
  for (const [title, group] of Object.entries(DOC_GROUPS)) {
    const listed = [...new Set(documented.get(title) ?? [])].sort();
    assert.deepEqual(listed, await namesOf([group]), `"### ${title}" lists the ${group} metrics`);
  }
  const processNames = await namesOf(['process']);
  assert.ok(processNames.every((n) => n.startsWith('strata_process_')));
});
