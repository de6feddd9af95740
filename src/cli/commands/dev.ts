// `strata dev cluster`: a real multi-process cluster on loopback for trying Strata out (failover,
// repair, the console), stopped whole by Ctrl-C.
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { resolve } from 'node:path';
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

// Free ports for a new cluster, each listened on, then released together, before the processes
// start. Taken below the system's ephemeral range where it has one (Linux): a port the kernel hands
// out for listen(0) or an outgoing connection can be taken by anything on the machine between the
// release and the process's listen (a data server of a dev cluster started by the tests failed so
// in CI, "address in use"); below the range only a process naming that very port can.
async function freePorts(n: number): Promise<number[]> {
  const low = ephemeralLow();
  const ports: number[] = [];
  const held: Server[] = [];
  if (low !== undefined && low - FIRST_UNPRIVILEGED_PORT > n * 4) {
    const span = low - FIRST_UNPRIVILEGED_PORT;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span && ports.length < n; i++) {
      const port = FIRST_UNPRIVILEGED_PORT + ((start + i) % span);
      const server = await listening(port);
      if (server === undefined) continue;
      held.push(server);
      ports.push(port);
    }
  }
  while (ports.length < n) {
    const server = await listening(0);
    if (server === undefined) throw new Error('no free port on 127.0.0.1');
    held.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  await Promise.all(held.map((s) => new Promise((done) => s.close(done))));
  return ports;
}

const FIRST_UNPRIVILEGED_PORT = 1024;

// The first port of the system's ephemeral range, where it says (Linux).
function ephemeralLow(): number | undefined {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    const port = Number(low);
    return Number.isInteger(port) && port > FIRST_UNPRIVILEGED_PORT ? port : undefined;
  } catch {
    return undefined;
  }
}

// A server listening on 127.0.0.1:port (0: any), or undefined when that port is taken.
function listening(port: number): Promise<Server | undefined> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(undefined));
    server.listen(port, '127.0.0.1', () => done(server));
  });
}
