import { StrataError } from '../common/errors.ts';
import { ConfigError } from '../config/load.ts';
import { runVersion } from './commands/version.ts';
import { describeError, EXIT_FAILURE, EXIT_USAGE, UsageError } from './usage.ts';

export const MAIN_HELP = `Usage: strata <command> [options]

Commands:
  server     start a Strata node (single-node by default)
  cluster    cluster status (nodes, roles, disks, capacity), members, mounts, drain, remove-server,
             backup and restore of the metadata, certs (the CA and certificates for TLS)
  fs         work with files: ls, mkdir, put, get, rm, stat, mv
  encryption rotate-master-key: re-wrap every data key under a new master key
  user       S3 users and their access keys: create, list, delete, rotate-key
  kms        the built-in KMS's keys (SSE-KMS): create-key, list-keys, describe-key,
             enable-key, disable-key, schedule-key-deletion, rotate-key
  dev        dev cluster: a multi-process cluster on this machine, stopped by Ctrl-C
  version    print the version
  help CMD   help for one command (also: strata CMD --help)

Configuration: flags, then STRATA_* environment variables, then the TOML file named by --config
or STRATA_CONFIG (docs/guides/configuration.md).`;

// Commands load lazily, so `strata version` or a usage error does not open LMDB or sockets.
const COMMANDS: Record<
  string,
  () => Promise<{ run: (args: string[]) => Promise<number> | number; help: string }>
> = {
  server: async () => {
    const m = await import('./commands/server.ts');
    return { run: m.runServer, help: m.SERVER_HELP };
  },
  cluster: async () => {
    const m = await import('./commands/cluster.ts');
    return { run: m.runCluster, help: m.CLUSTER_HELP };
  },
  fs: async () => {
    const m = await import('./commands/fs.ts');
    return { run: m.runFs, help: m.FS_HELP };
  },
  encryption: async () => {
    const m = await import('./commands/encryption.ts');
    return { run: m.runEncryption, help: m.ENCRYPTION_HELP };
  },
  user: async () => {
    const m = await import('./commands/user.ts');
    return { run: m.runUser, help: m.USER_HELP };
  },
  kms: async () => {
    const m = await import('./commands/kms.ts');
    return { run: m.runKms, help: m.KMS_HELP };
  },
  dev: async () => {
    const m = await import('./commands/dev.ts');
    return { run: m.runDev, help: m.DEV_HELP };
  },
  version: async () => {
    const m = await import('./commands/version.ts');
    const run = (args: string[]) =>
      args.includes('--help') || args.includes('-h') ? help(m.VERSION_HELP) : m.runVersion();
    return { run, help: m.VERSION_HELP };
  },
};

function help(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h') return help(MAIN_HELP);
  if (name === '--version') return runVersion();
  if (name === 'help') {
    const load = COMMANDS[rest[0] ?? ''];
    return help(load ? (await load()).help : MAIN_HELP);
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`strata: unknown command "${name}"\n\n${MAIN_HELP}\n`);
    return EXIT_USAGE;
  }
  try {
    const command = await load();
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`strata ${name}: ${error.message}\n(see strata ${name} --help)\n`);
      return EXIT_USAGE;
    }
    if (error instanceof ConfigError) {
      process.stderr.write(`strata: ${error.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`strata ${name}: ${describeError(error)}\n`);
    if (!(error instanceof StrataError)) process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    return EXIT_FAILURE;
  }
}
