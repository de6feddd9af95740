// The repair bench's cluster: three metadata members (--role metadata, one Raft group), six data
// servers (--role data, each its own host label, 2 disks) and one S3 gateway, as real processes
// on loopback. The repair settings are raised so that the bench measures what repair can do,
// not the throttle (see run.ts).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../../test/helpers/metadata-cluster.ts';
import { type StrataProcess, startStrata } from '../../test/helpers/server.ts';

export interface BenchCluster {
  metadata: StrataProcess[];
  metadataAddrs: string[];
  data: StrataProcess[];
  gateway: StrataProcess;
  stop(): Promise<void>;
}

export interface BenchClusterOptions {
  configDir: string;
  dataServers: number;
  downAfterSeconds: number;
  repairMaxConcurrent: number;
  repairBandwidthBytesPerSecond: number;
  // node --cpu-prof for the metadata members (the leader plans repair), the data servers (the
  // targets rebuild: data.rebuildShard; the killed server leaves none) and the gateway (the
  // foreground GETs).
  cpuProfileDir?: string;
}

function configFile(dir: string, name: string, lines: string[]): Record<string, string> {
  const path = join(dir, `${name}.toml`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  return { STRATA_CONFIG: path };
}

export async function startBenchCluster(options: BenchClusterOptions): Promise<BenchCluster> {
  const started: StrataProcess[] = [];
  const stop = async () => {
    for (const p of started.reverse()) await p.stop();
  };
  const metadataEnv = configFile(options.configDir, 'metadata', [
    '[metadata]',
    `server_down_after_seconds = ${options.downAfterSeconds}`,
    '[repair]',
    `max_concurrent = ${options.repairMaxConcurrent}`,
    `bandwidth_bytes_per_second = ${options.repairBandwidthBytesPerSecond}`,
  ]);
  try {
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    const addrs = ports.map((p) => `127.0.0.1:${p}`);
    const profileEnv: Record<string, string> = options.cpuProfileDir
      ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${options.cpuProfileDir}` }
      : {};
    const metadata = await Promise.all(
      addrs.map((addr, i) =>
        startStrata({
          args: [
            ...['--role', 'metadata', '--node-id', String(i + 1), '--metadata-addr', addr],
            ...['--raft-peers', addrs.filter((a) => a !== addr).join(',')],
          ],
          ready: ['metadata'],
          env: { ...metadataEnv, ...profileEnv },
        }),
      ),
    );
    started.push(...metadata);
    const clientArgs = ['--metadata-addr', addrs[0], '--raft-peers', addrs.slice(1).join(',')];
    const data = await Promise.all(
      Array.from({ length: options.dataServers }, (_, i) =>
        startStrata({
          args: ['--role', 'data', '--node-id', String(i + 10), ...clientArgs],
          ready: [],
          env: {
            ...configFile(options.configDir, `data-${i + 10}`, [
              '[data]',
              'disk_count = 2',
              `host = "h${i + 10}"`,
            ]),
            ...profileEnv,
          },
        }),
      ),
    );
    started.push(...data);
    const gateway = await startStrata({
      args: ['--role', 's3', ...clientArgs],
      ready: ['s3'],
      env: { ...metadataEnv, ...profileEnv },
    });
    started.push(gateway);
    return { metadata, metadataAddrs: addrs, data, gateway, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
