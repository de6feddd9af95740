import { StrataClient } from '../../client/strata-client.ts';
import { formatBytes, METADATA_ADDR_OPTION, metadataAddrs, parse, UsageError } from '../usage.ts';

export const CLUSTER_HELP = `Usage: strata cluster status [--metadata-addr H:P[,H:P...]] [--config FILE] [--json]

Shows each member of the metadata Raft cluster (role, term, commit and applied index, lag behind
the leader's commit), the erasure-coding scheme and every data server with its disks
(online, shards, capacity used and free).`;

export async function runCluster(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...METADATA_ADDR_OPTION,
    json: { type: 'boolean' },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${CLUSTER_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (positionals[0] !== 'status')
    throw new UsageError(`unknown cluster command: ${positionals[0]}`);
  const client = new StrataClient({ metadataAddrs: await metadataAddrs(values) });
  try {
    const status = await client.clusterStatus();
    if (values.json) {
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      return 0;
    }
    const out = [`metadata cluster: ${status.metadataMembers.length} member(s)`];
    for (const m of status.metadataMembers) {
      out.push(
        m.reachable
          ? `  node ${m.nodeId}  ${m.addr}  ${m.role}  term ${m.term}  commit ${m.commitIndex}  ` +
              `applied ${m.appliedIndex}  lag ${m.lagEntries}`
          : `  node ${m.nodeId}  ${m.addr}  UNREACHABLE`,
      );
    }
    out.push(
      `erasure   ${status.erasure.k}+${status.erasure.m}, stripe ${formatBytes(status.erasure.stripeSizeBytes)}`,
      `data servers: ${status.dataServers.length}`,
    );
    for (const server of status.dataServers) {
      out.push(`  ${server.serverId}  ${server.addr}  ${server.reachable ? 'up' : 'UNREACHABLE'}`);
      for (const disk of server.disks) {
        out.push(
          `    disk ${disk.disk}  ${disk.online ? 'online ' : 'OFFLINE'}  ${disk.shardCount} shards  ` +
            `used ${formatBytes(disk.usedBytes)}  free ${formatBytes(disk.freeBytes)} of ` +
            `${formatBytes(disk.totalBytes)}  ${disk.path}`,
        );
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await client.close();
  }
}
