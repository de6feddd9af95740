import { type RunningNode, startNode } from '../../cluster/node.ts';
import { describeWarning } from '../../config/errors.ts';
import { FLAG_KEYS, loadConfig } from '../../config/load.ts';
import { createLogger } from '../../observability/logger.ts';
import { parse, UsageError } from '../usage.ts';
import { strataVersion } from './version.ts';

export const SERVER_HELP = `Usage: strata server [options]

Starts a Strata node. With no options: a single-node server (role combined: metadata, data and
S3 gateway) on the embedded defaults, data under ./strata-data.

Options (each also a key of the config file and a STRATA_<SECTION>_<KEY> variable, e.g.
STRATA_STORAGE_DATA_DIR; see docs/guides/configuration.md):
  --config FILE          TOML configuration file (or STRATA_CONFIG)
  --node-id N            this node's id (node.id, STRATA_NODE_ID)       [1]
  --role ROLE            combined | metadata | data | s3 (node.role)    [combined]
  --data-dir DIR         where shards, keys and metadata live           [./strata-data]
  --metadata-dir DIR     the metadata on another disk                   [the data dir]
  --metadata-addr H:P    metadata service listener, or where to find it [127.0.0.1:9000]
  --data-addr H:P        data service listener                          [127.0.0.1:9001]
  --s3-addr H:P          S3 gateway listener                            [127.0.0.1:9002]
  --metadata-advertise-addr H:P, --data-advertise-addr H:P
                         the address others reach the service at
                         [the listener's; a wildcard host becomes the hostname]
  --metrics-addr H:P     Prometheus /metrics listener ("" = off)        [127.0.0.1:9090]
  --disks D1,D2,...      data disk directories  [six under <data-dir>/disks]
  --raft-peers H:P,...   metadata addresses (names allowed) of the other members
  --raft-join            a new metadata node that waits to be added to a running cluster
                         (then run: strata cluster add-node --node-id N H:P)
  --region NAME          S3 region                                      [us-east-1]
  --log-level LEVEL      trace | debug | info | warn | error (STRATA_LOG_LEVEL) [info]
  -h, --help             this text

Ports may be 0 to pick a free one; the addresses in use are printed at start.
Stop with Ctrl-C or SIGTERM.`;

// Every flag that sets a key takes a value, but --raft-join, which is a switch.
const FLAGS = Object.keys(FLAG_KEYS).filter((f) => f !== 'raft-join');

export async function runServer(args: string[]): Promise<number> {
  const options: Record<string, { type: 'string' }> = Object.fromEntries(
    FLAGS.map((f) => [f, { type: 'string' as const }]),
  );
  const { values, positionals } = parse(args, {
    ...options,
    config: { type: 'string' },
    'raft-join': { type: 'boolean' },
  });
  if (values.help) {
    process.stdout.write(`${SERVER_HELP}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument: ${positionals[0]}`);
  const given = values as Record<string, string | undefined>;
  const flags: Record<string, string | undefined> = Object.fromEntries(
    FLAGS.map((f) => [f, given[f]]),
  );
  if (values['raft-join']) flags['raft-join'] = 'true';
  const { config, configPath, warnings } = loadConfig({
    configPath: values.config as string | undefined,
    flags,
  });
  const log = createLogger({
    level: config.observability.log_level,
    fields: { node: config.node.id },
  });
  for (const warning of warnings)
    log.warn(`deprecated configuration name: ${describeWarning(warning)}`, { ...warning });
  const node = await startNode(config, log);
  const lines = [
    `Strata ${strataVersion()} — node ${config.node.id}, role ${config.node.role}` +
      (configPath ? `, config ${configPath}` : ''),
  ];
  if (node.metadataAddr)
    lines.push(
      `  metadata  ${node.metadataAddr}${advertised(node.metadataAddr, node.metadataAdvertised)}`,
    );
  if (node.dataAddr)
    lines.push(
      `  data      ${node.dataAddr}${advertised(node.dataAddr, node.dataAdvertised)}  ` +
        `(${node.dataDisks?.length} disks)`,
    );
  if (node.s3Endpoint) lines.push(`  s3        ${node.s3Endpoint}  (region ${config.s3.region})`);
  if (node.metricsUrl) lines.push(`  metrics   ${node.metricsUrl}`);
  if (node.consoleUrl) lines.push(`  console   ${node.consoleUrl}`);
  if (node.s3Endpoint || node.consoleUrl) lines.push(...credentialLines(node, configPath));
  lines.push(`  data dir  ${config.storage.data_dir}`);
  if (config.storage.metadata_dir) lines.push(`  metadata dir  ${config.storage.metadata_dir}`);
  lines.push('Ready.');
  // The handlers go in before "Ready." is written: a supervisor may send SIGTERM as soon as it
  // reads it, and a signal that came before them would kill the process without its stop.
  const signalled = waitForSignal();
  process.stdout.write(`${lines.join('\n')}\n`);
  await signalled;
  log.info('shutting down');
  await node.close();
  return 0;
}

// A secret key is printed once, when it was generated (the first start), for the operator to
// copy; later starts and keys from the configuration only say where the secret is, so that it
// does not end up in every log that captures the server's output.
function credentialLines(node: RunningNode, configPath: string | undefined): string[] {
  const first = node.credentials[0];
  if (first === undefined) return [];
  if (node.generatedCredentials) {
    return [
      `  S3 access key  ${first.access_key_id}  (generated, kept in ${node.credentialsPath})`,
      `  S3 secret key  ${first.secret_key}  (shown at this first start only)`,
    ];
  }
  const where = node.credentialsPath ?? configPath ?? 'the configuration';
  const more = node.credentials.length > 1 ? ` (and ${node.credentials.length - 1} more)` : '';
  return [`  S3 access key  ${first.access_key_id}${more}  (secret key in ${where})`];
}

function advertised(bound: string, advertisedAddr: string | undefined): string {
  return advertisedAddr && advertisedAddr !== bound ? `  (advertised as ${advertisedAddr})` : '';
}

// A server started by a supervisor with an IPC channel (`strata dev cluster`) also stops when
// the channel closes: the supervisor is gone, and nothing else would stop it. The channel is
// unreferenced so that it never keeps a stopped server alive.
function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('disconnect', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (process.channel) {
      process.on('disconnect', stop);
      process.channel.unref();
    }
  });
}
