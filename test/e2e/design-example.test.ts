// The design's example configuration (docs/examples/strata.toml) as written, with only what must
// differ on one test machine adjusted: ports (free ones on 127.0.0.1), the host names (node1,
// node2, node3 become `localhost`, still names to resolve), node ids and directories. Three
// metadata members form a cluster from it, with a data server and a gateway beside them, and
// each role's /metrics shows the design's six metrics where they belong and nowhere else.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { parse, stringify } from 'smol-toml';
import { freePort } from '../helpers/metadata-cluster.ts';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import {
  REPO_ROOT,
  runStrata,
  type StrataProcess,
  startStrata,
  tempDir,
} from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

const EXAMPLE = join(REPO_ROOT, 'docs/examples/strata.toml');
const SECRET = 'change-me-please'; // the example's first credential
const METADATA_ONLY = [
  'strata_cluster_nodes_total',
  'strata_cluster_nodes_online',
  'strata_raft_term',
];
const DATA_ONLY = ['strata_data_reads_total', 'strata_data_writes_total'];
const GATEWAY_ONLY = ['strata_s3_requests_total'];

type Table = Record<string, Record<string, unknown>>;

// The example with this node's id, directories and addresses; every other key as written.
function adjusted(dir: string, id: number, metadataPorts: number[]): string {
  const config = parse(readFileSync(EXAMPLE, 'utf8')) as Table;
  const port = metadataPorts[id - 1] ?? metadataPorts[0];
  config.node.id = id;
  config.storage.data_dir = join(dir, `node${id}`);
  config.storage.metadata_dir = join(dir, `node${id}-metadata`); // "another disk"
  config.metadata.bind_addr = `127.0.0.1:${port}`;
  config.metadata.advertise_addr = `localhost:${port}`;
  config.metadata.raft_peers = metadataPorts.filter((p) => p !== port).map((p) => `localhost:${p}`);
  config.data.bind_addr = '127.0.0.1:0';
  config.data.advertise_addr = 'localhost:0'; // port 0: the port bound
  config.data.repair_port = 0; // any free one
  config.s3.bind_addr = '127.0.0.1:0';
  config.observability.metrics_addr = '127.0.0.1:0';
  const path = join(dir, `node${id}.toml`);
  writeFileSync(path, stringify(config));
  return path;
}

async function scrape(server: StrataProcess): Promise<Map<string, number>> {
  const text = await (await fetch(server.metricsUrl)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const match = /^([a-z0-9_:]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (match) values.set(match[1], (values.get(match[1]) ?? 0) + Number(match[2]));
  }
  return values;
}

function assertHas(metrics: Map<string, number>, names: string[], who: string): void {
  for (const name of names) assert.ok(metrics.has(name), `${who} exports ${name}`);
}

function assertLacks(metrics: Map<string, number>, names: string[], who: string): void {
  for (const name of names) assert.ok(!metrics.has(name), `${who} does not export ${name}`);
}

describe('the design example configuration', () => {
  const dir = tempDir('strata-design-');
  const started: StrataProcess[] = [];
  let combined: StrataProcess;
  let members: StrataProcess[];
  let data: StrataProcess;
  let gateway: StrataProcess;
  let metadataPorts: number[];

  before(async () => {
    metadataPorts = [await freePort(), await freePort(), await freePort()];
    const configs = [1, 2, 3, 4, 5].map((id) => adjusted(dir, id, metadataPorts));
    const start = async (id: number, options: Parameters<typeof startStrata>[0]) => {
      const server = await startStrata({
        dataDir: join(dir, `node${id}`),
        defaultFlags: false,
        startTimeoutMs: 60_000,
        ...options,
        env: { STRATA_CONFIG: configs[id - 1], ...options?.env },
      });
      started.push(server);
      return server;
    };
    // A new cluster's members wait for each other: all three start together. Node 1 as written
    // (role combined); 2 and 3 metadata members, by the design's variable rule.
    const metadataOnly = { STRATA_NODE_ROLE: 'metadata' };
    [combined, ...members] = await Promise.all([
      start(1, {}),
      start(2, { env: metadataOnly, ready: ['metadata'] }),
      start(3, { env: metadataOnly, ready: ['metadata'] }),
    ]);
    // A data server and a gateway pointed at member 1 (its file's peers are the other two).
    const at = ['--metadata-addr', `localhost:${metadataPorts[0]}`];
    data = await start(4, { args: ['--role', 'data', ...at], ready: [] });
    gateway = await start(5, { args: ['--role', 's3', ...at], ready: ['s3'] });
  });

  after(async () => {
    for (const server of started.reverse()) await server.stop();
  });

  test('its credentials work, and an object goes through the gateway and back', async () => {
    assert.equal(gateway.accessKey, 'strata-admin');
    const s3 = s3Client(gateway, SECRET);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'design' }));
      const body = patternBytes(5 * 1024 * 1024 + 7, 11);
      await s3.send(new PutObjectCommand({ Bucket: 'design', Key: 'k', Body: body }));
      const got = await s3.send(new GetObjectCommand({ Bucket: 'design', Key: 'k' }));
      assert.ok((await bodyBytes(got.Body)).equals(body), 'the object reads back');
    } finally {
      s3.destroy();
    }
  });

  test('each role exports its design metrics and none of the others', async () => {
    // Members refresh the cluster gauges every second; two data servers are registered.
    await until(
      'every member counts two data servers online',
      async () => {
        for (const member of members)
          if ((await scrape(member)).get('strata_cluster_nodes_online') !== 2) return undefined;
        return true;
      },
      { limitMs: 20_000 },
    );
    for (const member of members) {
      const m = await scrape(member);
      assertHas(m, METADATA_ONLY, 'a metadata member');
      assertLacks(m, [...DATA_ONLY, ...GATEWAY_ONLY], 'a metadata member');
      assert.equal(m.get('strata_cluster_nodes_total'), 2);
      assert.ok((m.get('strata_raft_term') ?? 0) >= 1, 'a term was elected');
    }
    const d = await scrape(data);
    assertHas(d, DATA_ONLY, 'a data server');
    assertLacks(d, [...METADATA_ONLY, ...GATEWAY_ONLY], 'a data server');
    const g = await scrape(gateway);
    assertHas(g, GATEWAY_ONLY, 'a gateway');
    assertLacks(g, [...METADATA_ONLY, ...DATA_ONLY], 'a gateway');
    assert.ok((g.get('strata_s3_requests_total') ?? 0) >= 3, 'the requests above were counted');
    // Node 1 runs every role: all six, its data service's from its child process. Its gateway
    // has served nothing yet, and a labelled counter appears with its first request.
    assert.equal((await fetch(`${combined.s3Endpoint}/`)).status, 403, 'anonymous is refused');
    const c = await scrape(combined);
    assertHas(c, [...METADATA_ONLY, ...DATA_ONLY, ...GATEWAY_ONLY], 'a combined node');
    // Six shards went to the two data servers, and the GET read some of them back.
    const writes =
      (d.get('strata_data_writes_total') ?? 0) + (c.get('strata_data_writes_total') ?? 0);
    const reads = (d.get('strata_data_reads_total') ?? 0) + (c.get('strata_data_reads_total') ?? 0);
    assert.ok(writes >= 6, `shard writes counted: ${writes}`);
    assert.ok(reads >= 4, `shard reads counted: ${reads}`);
  });

  test('cluster status shows the advertised addresses, by name', async () => {
    const result = await runStrata([
      'cluster',
      'status',
      '--json',
      '--metadata-addr',
      `127.0.0.1:${metadataPorts[0]}`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const status = JSON.parse(result.stdout.toString()) as {
      metadataMembers: Array<{ nodeId: number; addr: string }>;
      dataServers: Array<{ serverId: string; addr: string }>;
    };
    const memberAddrs = status.metadataMembers.map((m) => m.addr).sort();
    assert.deepEqual(memberAddrs, metadataPorts.map((p) => `localhost:${p}`).sort());
    for (const server of status.dataServers)
      assert.match(server.addr, /^localhost:[1-9]\d*$/, `${server.serverId} registered by name`);
  });
});
