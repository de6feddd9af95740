// `strata dev cluster`: a real multi-process cluster on loopback for trying Strata out (failover,
// repair, the console), stopped whole by Ctrl-C.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { freePorts } from '../../common/free-ports.ts';
import { recordedPorts, recordLayout } from '../dev-cluster/layout.ts';
import {
  checkDevOptions,
  type DevClusterOptions,
  type DevPlan,
  devPlan,
  devPortCount,
} from '../dev-cluster/plan.ts';
import { type Running, startDevCluster } from '../dev-cluster/supervisor.ts';
import { parse, UsageError } from '../usage.ts';

export const DEV_HELP = `Usage: strata dev cluster [--metadata N] [--data N] [--gateways N] [--dir DIR]
                          [--base-port P]

Starts a Strata cluster of separate processes on this machine (127.0.0.1): N metadata members
(one Raft cluster), N data servers (each its own failure domain, six disk directories each) and
N S3 gateways, then prints the endpoints, the S3 credentials and each process's pid. Ctrl-C (or
SIGTERM) stops every process: gateways, then data servers, then metadata members.

Options:
  --metadata N     metadata members (odd, 1 to 7)                              [3]
  --data N         data servers (1 to 32)                                      [6]
  --gateways N     S3 gateways (1 to 8)                                        [1]
  --dir DIR        data directories, logs (DIR/logs) and pid files (DIR/NAME.pid)
                   [./strata-dev]; a second start on the same DIR restarts the same cluster
  --base-port P    ports from P: metadata P.., S3 P+10.., consoles P+20.., data P+30..,
                   metrics P+100..; 0 picks free ports                        [9000]

Try failover: kill a data server (kill $(cat strata-dev/data-11.pid)) and watch
strata cluster status: DEGRADED at once, the server DOWN after metadata.server_down_after_seconds
(60 s), then repair rebuilds its shards on the others.`;

export async function runDev(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    metadata: { type: 'string' },
    data: { type: 'string' },
    gateways: { type: 'string' },
    dir: { type: 'string' },
    'base-port': { type: 'string' },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${DEV_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (positionals[0] !== 'cluster' || positionals.length > 1)
    throw new UsageError(`unknown dev command: ${positionals.join(' ')}`);
  const options: DevClusterOptions = {
    metadata: count(values.metadata, 3),
    data: count(values.data, 6),
    gateways: count(values.gateways, 1),
    dir: resolve((values.dir as string | undefined) ?? 'strata-dev'),
    basePort: count(values['base-port'], 9000),
  };
  const problem = checkDevOptions(options);
  if (problem) throw new UsageError(problem);
  const ports =
    recordedPorts(options) ??
    (options.basePort === 0 ? await freePorts(devPortCount(options)) : []);
  const plan = devPlan(options, ports);
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  recordLayout(options, ports);
  process.stdout.write(
    `Starting ${options.metadata} metadata members, ${options.data} data servers and ` +
      `${options.gateways} gateway(s) in ${options.dir} ...\n`,
  );
  const stopRequested = signalled();
  const running = await startDevCluster(options, plan, (p, how) =>
    process.stderr.write(`${p.name} ${how}; the others keep running\n`),
  );
  process.stdout.write(`${summary(running, plan, options)}\n`);
  await stopRequested;
  process.stdout.write('Stopping the cluster ...\n');
  await running.stop();
  process.stdout.write('Stopped.\n');
  return 0;
}

function count(raw: unknown, fallback: number): number {
  if (raw === undefined) return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw))
    throw new UsageError(`expected a whole number, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function summary(running: Running, plan: DevPlan, options: DevClusterOptions): string {
  const pid = (name: string) => running.children.get(name)?.pid ?? '?';
  const lines = ['Strata dev cluster:'];
  for (const p of plan.processes) {
    const addr = p.metadataAddr ?? p.dataAddr ?? `http://${p.s3Addr}`;
    const consoleUrl = p.consoleAddr ? `  console http://${p.consoleAddr}` : '';
    lines.push(
      `  ${p.name.padEnd(8)} ${p.role.padEnd(8)} ${addr.padEnd(22)} pid ${String(pid(p.name)).padEnd(7)}` +
        ` metrics http://${p.metricsAddr}/metrics${consoleUrl}`,
    );
  }
  const s3 = plan.processes.filter((p) => p.s3Addr).map((p) => `http://${p.s3Addr}`);
  lines.push(
    `S3 endpoint      ${s3.join(' ')}`,
    `S3 access key    ${running.credential.access_key_id}`,
    `S3 secret key    ${running.credential.secret_key}`,
    `  (the console's login too; kept in ${plan.credentialsPath})`,
    `Metadata         --metadata-addr ${plan.metadataAddrs.join(',')}`,
    `Logs in ${options.dir}/logs, pids in ${options.dir}/NAME.pid. Ctrl-C stops the cluster.`,
    'Ready.',
  );
  return lines.join('\n');
}

function signalled(): Promise<void> {
  return new Promise((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
