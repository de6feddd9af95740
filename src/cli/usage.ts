import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { StrataError } from '../common/errors.ts';
import type { StrataConfig } from '../config/schema.ts';

// Where `strata dev cluster` keeps its processes by default (src/cli/commands/dev.ts).
export const DEV_CLUSTER_DIR = './strata-dev';

// Exit codes: 0 success, 1 the operation failed, 2 the command line or configuration is wrong.
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Options = NonNullable<ParseArgsConfig['options']>;

const HELP_OPTION = { help: { type: 'boolean', short: 'h' } } as const;

export function parse<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({
      args,
      options: { ...options, ...HELP_OPTION },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export const METADATA_ADDR_OPTION = {
  'metadata-addr': { type: 'string' },
  config: { type: 'string' },
} as const;

// Client commands take --metadata-addr HOST:PORT[,HOST:PORT...], else the config named by
// --config or STRATA_CONFIG (metadata.bind_addr and raft_peers), else the default address.
// The same configuration gives this process its cluster credentials ([tls], or the cluster
// token; src/rpc/security-config.ts): the CLI is an administrator, unless `strata fs` is given a
// user's access key (src/client/user-login.ts), which limits it to that user's buckets.
export async function metadataAddrs(values: Record<string, unknown>): Promise<string[]> {
  const { loadConfig } = await import('../config/load.ts');
  const { describeWarning } = await import('../config/errors.ts');
  const { config, warnings } = loadConfig({ configPath: values.config as string | undefined });
  for (const w of warnings) process.stderr.write(`strata: warning: ${describeWarning(w)}\n`);
  await useClusterCredentials(config);
  const flag = values['metadata-addr'];
  if (typeof flag === 'string' && flag.length > 0) return flag.split(',').map((s) => s.trim());
  // The members the file names: its own listener and its peers, so a leader change is ridden out.
  return [config.metadata.bind_addr, ...config.metadata.raft_peers];
}

// Without TLS, the token of the dev cluster running from this directory (`strata dev cluster`'s
// default --dir), else of the server started here (its data_dir), else of a dev cluster that
// ran here: both quick starts need no flag, in either order (both listen on 127.0.0.1:9000, and
// one directory may hold both data directories).
async function useClusterCredentials(config: StrataConfig): Promise<void> {
  const { setProcessRpcSecurity } = await import('../rpc/security.ts');
  const { rpcSecurityFromConfig } = await import('../rpc/security-config.ts');
  const use = (c: StrataConfig) =>
    setProcessRpcSecurity(rpcSecurityFromConfig(c, { role: 'admin', createToken: false }));
  const { tls } = config;
  const devToken = resolve(DEV_CLUSTER_DIR, 'cluster.token');
  if (tls.ca === '' && tls.token_file === '' && existsSync(devToken)) {
    const serverToken = existsSync(resolve(config.storage.data_dir, 'cluster.token'));
    if (!serverToken || devClusterRunning())
      return use({ ...config, tls: { ...tls, token_file: devToken } });
  }
  use(config);
}

// Whether a metadata member of the dev cluster in DEV_CLUSTER_DIR is alive: its supervisor keeps
// a pid file per process while it runs (src/cli/dev-cluster/supervisor.ts) and removes it at exit.
function devClusterRunning(): boolean {
  let names: string[];
  try {
    names = readdirSync(DEV_CLUSTER_DIR);
  } catch {
    return false;
  }
  return names.some((name) => {
    if (!/^meta-\d+\.pid$/.test(name)) return false;
    try {
      const pid = Number(readFileSync(resolve(DEV_CLUSTER_DIR, name), 'utf8').trim());
      if (!Number.isSafeInteger(pid) || pid <= 0) return false;
      process.kill(pid, 0); // signal 0: only asks whether the process exists
      return true;
    } catch (error) {
      // Alive as another user's; ENOENT: the file went with its process.
      return (error as NodeJS.ErrnoException).code === 'EPERM';
    }
  });
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function describeError(error: unknown): string {
  if (error instanceof StrataError) return `${error.message} (${error.code})`;
  return error instanceof Error ? error.message : String(error);
}
