import { readClusterReport } from '../../client/cluster-report.ts';
import { MetadataClient } from '../../client/metadata-client.ts';
import { StrataClient } from '../../client/strata-client.ts';
import type { ReplicationBacklog } from '../../metadata/bucket-replication-types.ts';
import type { RepairProgress } from '../../metadata/repair/types.ts';
import { formatBytes, METADATA_ADDR_OPTION, metadataAddrs, parse, UsageError } from '../usage.ts';
import { isServerCommand, runServerCommand } from './cluster-servers.ts';

export const CLUSTER_HELP = `Usage: strata cluster status [--metadata-addr H:P[,H:P...]] [--config FILE] [--json]
       strata cluster add-node --node-id N H:P [--metadata-addr ...]
       strata cluster remove-node N [--metadata-addr ...]
       strata cluster mounts [--metadata-addr ...] [--json]
       strata cluster repair [--metadata-addr ...]
       strata cluster drain SERVER [--no-wait] [--metadata-addr ...]
       strata cluster undrain SERVER [--metadata-addr ...]
       strata cluster remove-server SERVER [--metadata-addr ...]
       strata cluster backup FILE [--metadata-addr ...]
       strata cluster restore FILE --data-dir DIR --node-id N [--metadata-addr H:P]
       strata cluster certs init|issue ...   (strata cluster certs --help)

backup asks the metadata leader for a fresh consistent snapshot of the metadata (namespace, object
records, stripe locations, data servers, cluster configuration; no shard bytes), streams it into
FILE.tmp with progress, checks its CRC32C, syncs it and renames it to FILE, then prints its index
and size. The leader removes its temporary copy afterwards. FILE holds the S3 users with their
secret keys (strata user): keep it private. Not in FILE: the shards, the master
key of encryption at rest, credentials.json, TLS files (back them up apart).
restore builds a NEW data directory DIR (refused unless empty) from FILE, after checking its
CRC32C: \`strata server\` started on it (node.id N) is a new single-member metadata cluster
holding exactly the backed-up state; add members with add-node. --metadata-addr here is the
address the restored member will listen on (optional). Both exit 1 on failure (a damaged FILE,
a non-empty DIR), 2 on a wrong command line.

repair follows the leader's repair until no stripe is degraded and nothing is queued (exit 0):
shards rebuilt of those queued, a bar on a terminal and a line every 5 s when piped. It exits 1
when stripes stay degraded with nothing queued for 30 s (no live server or disk to rebuild on).

drain marks a data server draining: it takes no new shards, and the leader's repair moves every
shard it holds to other servers (throttled like repairs; its data stays readable meanwhile).
The command then shows the shards left and moved, once a second (a bar on a terminal, a line
each when piped), until none is left (exit 0); --no-wait returns at once. undrain stops a drain (the server is up again and keeps what it still holds).
remove-server takes a drained server out of the cluster for good: refused while the server is
not draining or still holds shards. A removed server's id cannot register again.

add-node adds the metadata node listening on H:P (started with --raft-join and its own
--node-id) as a learner, waits until its log has caught up, then makes it a voter. remove-node
takes a member out of the cluster (one server at a time, so the cluster keeps a quorum
throughout). Any member's address will do: requests go to the leader.

mounts lists the FUSE mounts with a live session (host, mount point, process), when each was
last heard from, and the files each keeps alive after an unlink while open. A mount silent for
longer than its session time loses its locks and those files.

status
Shows the cluster's health (HEALTHY, DEGRADED or UNAVAILABLE, with the reasons), each member of
the metadata Raft cluster (role, term, commit and applied index, lag behind the leader's commit,
and ALARM NOSPACE while its disk is full), the erasure-coding scheme and every data server with
its state (up, suspect, down, draining, removed), failure domain (zone, rack, host), the shards
the metadata records on it (a draining server's are those left to move) and disks (online,
shards recorded, shard files found, capacity used and free), and the leader's repair: degraded
stripes by missing shards at its last walk, shards queued and running, shards rebuilt and moved
since it became leader, and live disks outside their fair share.
--json prints the same as one JSON object (recordedShards on each server and disk; null from a
metadata service that keeps no counts).`;

export async function runCluster(args: string[]): Promise<number> {
  // Its own options (--dir, --role, --host), and no cluster to reach.
  if (args[0] === 'certs') {
    const { runCerts } = await import('./cluster-certs.ts');
    return runCerts(args.slice(1));
  }
  const { values, positionals } = parse(args, {
    ...METADATA_ADDR_OPTION,
    json: { type: 'boolean' },
    'node-id': { type: 'string' },
    'no-wait': { type: 'boolean' },
    'data-dir': { type: 'string' },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${CLUSTER_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (positionals[0] === 'add-node' || positionals[0] === 'remove-node') {
    return changeMembers(positionals, values, await metadataAddrs(values));
  }
  if (positionals[0] === 'backup' || positionals[0] === 'restore') {
    const { backupMetadata, restoreMetadata } = await import('./cluster-backup.ts');
    if (positionals[0] === 'restore') return restoreMetadata(positionals[1], values);
    return backupMetadata(positionals[1], await metadataAddrs(values));
  }
  if (positionals[0] === 'mounts') return listMounts(values, await metadataAddrs(values));
  if (positionals[0] === 'repair') {
    const { followRepair } = await import('./cluster-repair.ts');
    return followRepair(await metadataAddrs(values));
  }
  if (isServerCommand(positionals[0])) {
    const addrs = await metadataAddrs(values);
    const wait = values['no-wait'] !== true;
    return runServerCommand(positionals[0], positionals[1], { addrs, wait });
  }
  if (positionals[0] !== 'status')
    throw new UsageError(`unknown cluster command: ${positionals[0]}`);
  const addrs = await metadataAddrs(values);
  const client = new StrataClient({ metadataAddrs: addrs });
  const metadata = new MetadataClient(addrs);
  try {
    const { health, repair, ...status } = await readClusterReport(client, metadata);
    const replication = await metadata
      .read('replicationBacklog')
      .catch((error: Error) => ({ error: error.message }));
    if (values.json) {
      const report = { health, ...status, repair, replication };
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return 0;
    }
    const out = [`health: ${health.status}`, ...health.reasons.map((r) => `  ${r}`)];
    out.push(repairLine(repair));
    out.push(replicationLine(replication));
    out.push(`metadata cluster: ${status.metadataMembers.length} member(s)`);
    for (const m of status.metadataMembers) {
      out.push(
        m.reachable
          ? `  node ${m.nodeId}  ${m.addr}  ${m.role}  term ${m.term}  commit ${m.commitIndex}  ` +
              `applied ${m.appliedIndex}  lag ${m.lagEntries}` +
              (m.alarms?.length ? `  ALARM ${m.alarms.join(',')}` : '')
          : `  node ${m.nodeId}  ${m.addr}  UNREACHABLE`,
      );
    }
    out.push(
      `erasure   ${status.erasure.k}+${status.erasure.m}, stripe ${formatBytes(status.erasure.stripeSizeBytes)}`,
      `data servers: ${status.dataServers.length}`,
    );
    const nowMs = Date.now();
    for (const server of status.dataServers) {
      const { zone, rack, host } = server.domain;
      const since = Math.max(0, Math.round((nowMs - server.stateSinceMs) / 1000));
      const state = server.state === 'up' ? 'up' : `${server.state.toUpperCase()} for ${since} s`;
      const held =
        server.state === 'draining'
          ? `${server.recordedShards ?? '?'} shards left to move`
          : `${server.recordedShards ?? '?'} shards`;
      out.push(
        `  ${server.serverId}  ${server.addr}  ${state}  zone=${zone} rack=${rack} host=${host}` +
          `  ${held}${server.reachable ? '' : '  UNREACHABLE'}`,
      );
      for (const disk of server.disks) {
        out.push(
          `    disk ${disk.disk}  ${disk.online ? 'online ' : 'OFFLINE'}  ` +
            `${disk.recordedShards ?? '?'} shards (${disk.shardCount} files)  ` +
            `used ${formatBytes(disk.usedBytes)}  free ${formatBytes(disk.freeBytes)} of ` +
            `${formatBytes(disk.totalBytes)}  ${disk.path}`,
        );
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await metadata.close();
    await client.close();
  }
}

function repairLine(repair: RepairProgress | { error: string }): string {
  if ('error' in repair) return `repair: unknown (${repair.error})`;
  const degraded = Object.entries(repair.degradedStripes);
  const stripes = degraded.reduce((sum, [, count]) => sum + count, 0);
  const byMissing = degraded.map(([missing, count]) => `${count} missing ${missing}`).join(', ');
  const { done, failed, refused } = repair.tasks;
  // Leaders of an older version report no moves' bytes nor balance.
  const moved = `moved ${repair.moves.done} (${formatBytes(repair.movedBytes ?? 0)})`;
  const outside = repair.balance?.disksOutside ?? 0;
  return (
    `repair: ${stripes} degraded stripes${stripes > 0 ? ` (${byMissing})` : ''}, ` +
    `${repair.queueLength} shards queued, ${repair.running} running; rebuilt ${done} ` +
    `(${formatBytes(repair.rebuiltBytes)}), ${failed} failed, ${refused} refused; ${moved}` +
    (outside > 0 ? `; ${outside} disk(s) outside their fair share` : '') +
    ((repair.absentShards ?? 0) > 0
      ? `; ${repair.absentShards} shard(s) absent since written`
      : '') +
    paceText(repair)
  );
}

// Bucket replication's backlog: versions queued, FAILED ones, and the oldest one's age.
function replicationLine(backlog: ReplicationBacklog | { error: string }): string {
  if ('error' in backlog) return `replication: unknown (${backlog.error})`;
  if (backlog.pending === 0) return 'replication: nothing queued';
  const oldest = backlog.oldestEnqueuedAtMs ?? Date.now();
  const ageSeconds = Math.max(0, Math.round((Date.now() - oldest) / 1000));
  return (
    `replication: ${backlog.pending} version(s) queued, ${backlog.failed} FAILED (retried ` +
    `slowly); oldest queued ${formatDuration(ageSeconds)} ago`
  );
}

// The pace over the last 30 s and the time left at it, while there is work (ceph -s's recovery).
function paceText(repair: RepairProgress): string {
  if (repair.queueLength === 0 && repair.running === 0) return '';
  const rate = repair.bytesPerSecond ?? 0;
  if (rate === 0) return '; no shard written in the last 30 s';
  const eta = repair.etaSeconds;
  const left = eta === undefined ? '' : `, about ${formatDuration(eta)} left`;
  return `; ${formatBytes(rate)}/s${left}`;
}

function formatDuration(seconds: number): string {
  if (seconds < 90) return `${seconds} s`;
  if (seconds < 90 * 60) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

async function changeMembers(
  positionals: string[],
  values: Record<string, unknown>,
  addrs: string[],
): Promise<number> {
  const adding = positionals[0] === 'add-node';
  const nodeId = Number(adding ? values['node-id'] : positionals[1]);
  if (!Number.isSafeInteger(nodeId) || nodeId <= 0)
    throw new UsageError(
      adding ? 'add-node needs --node-id N (N > 0)' : 'remove-node needs a node id',
    );
  const addr = positionals[1];
  if (adding && (addr === undefined || !/^[^\s]+:\d+$/.test(addr)))
    throw new UsageError("add-node needs the new node's metadata address, HOST:PORT");
  const metadata = new MetadataClient(addrs, { timeoutMs: 180_000 });
  try {
    process.stderr.write(
      adding
        ? `adding metadata node ${nodeId} at ${addr} (as a learner until it catches up)...\n`
        : `removing metadata node ${nodeId}...\n`,
    );
    if (adding) await metadata.addMember(nodeId, addr);
    else await metadata.removeMember(nodeId);
    process.stdout.write(
      adding ? `node ${nodeId} is a voting member\n` : `node ${nodeId} removed\n`,
    );
    return 0;
  } finally {
    await metadata.close();
  }
}

async function listMounts(values: Record<string, unknown>, addrs: string[]): Promise<number> {
  const metadata = new MetadataClient(addrs);
  try {
    const sessions = await metadata.read('mounts');
    const rows = await Promise.all(
      sessions.map(async (s) => ({ ...s, orphans: await metadata.read('orphans', s.mountId) })),
    );
    if (values.json) {
      process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    const now = Date.now();
    const out = [`mounts: ${rows.length}`];
    for (const m of rows) {
      out.push(
        `  ${m.mountId}  ${m.description ?? ''}  up ${Math.round((now - m.openedAtMs) / 1000)} s  ` +
          `last seen ${((now - m.lastSeenMs) / 1000).toFixed(1)} s ago (session ${m.ttlMs / 1000} s)` +
          `  open unlinked files: ${m.orphans.length}`,
      );
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    await metadata.close();
  }
}
