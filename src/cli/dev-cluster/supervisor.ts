// Starts the processes of a dev cluster plan, waits until the cluster is whole, and stops them
// all (gateways, then data servers, then metadata members) when asked. Each child runs in its
// own process group, so a Ctrl-C reaches the supervisor alone and the order holds; each has an
// IPC channel to the supervisor and stops when it closes, so a supervisor that dies (even by
// SIGKILL) leaves nothing running.
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MetadataClient } from '../../client/metadata-client.ts';
import { ensurePrivateDir } from '../../common/private-dir.ts';
import { credentialsPath, loadOrCreateCredentials } from '../../config/credentials.ts';
import { loadConfig } from '../../config/load.ts';
import type { CredentialConfig } from '../../config/schema.ts';
import { setProcessRpcSecurity } from '../../rpc/security.ts';
import { rpcSecurityFromConfig } from '../../rpc/security-config.ts';
import type { DevClusterOptions, DevPlan, DevProcess } from './plan.ts';
import { serverArgs } from './plan.ts';

const STRATA_BIN = fileURLToPath(new URL('../../../bin/strata.ts', import.meta.url));
const READY_TIMEOUT_MS = 60_000; // one process printing "Ready." (metadata members wait for a quorum)
const CLUSTER_TIMEOUT_MS = 60_000; // every data server recorded up after all printed "Ready."
const STOP_TIMEOUT_MS = 20_000; // SIGTERM to exit, then SIGKILL
const POLL_MS = 200;

export interface Running {
  plan: DevPlan;
  credential: CredentialConfig;
  children: Map<string, ChildProcess>;
  stop(): Promise<void>;
}

export async function startDevCluster(
  options: DevClusterOptions,
  plan: DevPlan,
  onExit: (p: DevProcess, how: string) => void,
): Promise<Running> {
  const credential = prepareDir(options, plan);
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const running: Running = {
    plan,
    credential,
    children,
    async stop() {
      stopping = true;
      for (const role of ['s3', 'data', 'metadata'] as const) {
        const group = plan.processes.filter((p) => p.role === role);
        await Promise.all(group.map((p) => stopChild(children.get(p.name), p)));
      }
    },
  };
  const start = (p: DevProcess) => {
    const child = spawnChild(p, plan);
    children.set(p.name, child);
    child.once('exit', (code, signal) => {
      rmSync(p.pidPath, { force: true });
      const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
      if (!stopping) onExit(p, `(pid ${child.pid}) ${how}`);
    });
    return waitReady(child, p);
  };
  try {
    // Members first, together: a new Raft cluster waits for all of them.
    await Promise.all(plan.processes.filter((p) => p.role === 'metadata').map(start));
    await Promise.all(plan.processes.filter((p) => p.role === 'data').map(start));
    await Promise.all(plan.processes.filter((p) => p.role === 's3').map(start));
    await untilDataServersUp(plan);
  } catch (error) {
    await running.stop();
    throw error;
  }
  return running;
}

// The directory: one key pair shared by every gateway and console, and a configuration file
// per process.
function prepareDir(options: DevClusterOptions, plan: DevPlan): CredentialConfig {
  ensurePrivateDir(options.dir);
  mkdirSync(`${options.dir}/logs`, { recursive: true });
  const { credential } = loadOrCreateCredentials(options.dir);
  for (const p of plan.processes) {
    ensurePrivateDir(p.dataDir);
    // Gateways and consoles read the pair from their data directory (no credentials configured).
    if (p.role !== 'data' && !existsSync(credentialsPath(p.dataDir)))
      copyFileSync(plan.credentialsPath, credentialsPath(p.dataDir));
    writeFileSync(p.configPath, `${p.configLines.join('\n')}\n`);
  }
  // This process's own client (waiting for the data servers) presents the processes' token,
  // made here first; read through a process's file, so STRATA_TLS_* apply as they do there.
  const { config } = loadConfig({ configPath: plan.processes[0].configPath });
  setProcessRpcSecurity(rpcSecurityFromConfig(config, { role: 'admin', createToken: true }));
  return credential;
}

function spawnChild(p: DevProcess, plan: DevPlan): ChildProcess {
  const log = openSync(p.logPath, 'a');
  try {
    const child = spawn(process.execPath, [STRATA_BIN, ...serverArgs(p, plan)], {
      detached: true,
      stdio: ['ignore', log, log, 'ipc'],
      env: { ...process.env, STRATA_CONFIG: '' },
    });
    if (child.pid !== undefined) writeFileSync(p.pidPath, `${child.pid}\n`);
    return child;
  } finally {
    closeSync(log);
  }
}

async function waitReady(child: ChildProcess, p: DevProcess): Promise<void> {
  const startOffset = existsSync(p.logPath) ? readFileSync(p.logPath).length : 0;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    const output = readFileSync(p.logPath).subarray(startOffset).toString('utf8');
    if (/^Ready\.$/m.test(output)) return;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(
        `${p.name} exited before it was ready; the end of ${p.logPath}:\n${tail(output)}`,
      );
    if (Date.now() > deadline)
      throw new Error(
        `${p.name} not ready within ${READY_TIMEOUT_MS / 1000} s; see ${p.logPath}:\n${tail(output)}`,
      );
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function tail(text: string): string {
  return text.split('\n').slice(-15).join('\n');
}

// Every data server registered and recorded up with its disks, as `cluster status` will show.
async function untilDataServersUp(plan: DevPlan): Promise<void> {
  const expected = plan.processes.filter((p) => p.role === 'data').map((p) => p.name);
  const metadata = new MetadataClient(plan.metadataAddrs);
  const deadline = Date.now() + CLUSTER_TIMEOUT_MS;
  try {
    for (;;) {
      const up = new Set(
        (await metadata.read('dataServers'))
          .filter((s) => s.state === 'up' && s.disks.length > 0)
          .map((s) => s.serverId),
      );
      const missing = expected.filter((id) => !up.has(id));
      if (missing.length === 0) return;
      if (Date.now() > deadline)
        throw new Error(
          `data servers not recorded up within ${CLUSTER_TIMEOUT_MS / 1000} s: ${missing.join(', ')}`,
        );
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  } finally {
    await metadata.close();
  }
}

async function stopChild(child: ChildProcess | undefined, p: DevProcess): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    process.stderr.write(
      `${p.name} did not stop within ${STOP_TIMEOUT_MS / 1000} s of SIGTERM: killed\n`,
    );
    child.kill('SIGKILL');
  }, STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}
