// strata-mount: mounts the namespace (buckets are the top-level directories) through FUSE.
import { parseArgs } from 'node:util';
import { StrataClient } from '../client/strata-client.ts';
import { createLogger } from '../observability/logger.ts';
import { StrataFileSystem } from './file-system.ts';
import { mountFuse, unmountFuse } from './mount.ts';
import { FuseSession } from './session.ts';

const HELP = `Usage: strata-mount MOUNTPOINT [--metadata-addr H:P[,H:P...]] [--foreground] [-o OPTIONS]

Mounts the Strata namespace at MOUNTPOINT through FUSE: buckets are its top-level directories,
objects its files. Runs as root (mount(2) with a /dev/fuse descriptor; no fusermount helper yet).
Unmount with \`umount MOUNTPOINT\` or Ctrl-C; a dead mount left at MOUNTPOINT by a crashed
process is cleared at start.

This version mounts read-only: lookups, attributes, directory listings and reads. Writes through
the mount come with the rest of the POSIX issue.

Options:
  --metadata-addr H:P,...  metadata members to use                    [127.0.0.1:9000]
  --foreground             stay attached (the default; there is no daemon mode yet)
  -o allow_other           let other users see the mount
  -h, --help               this text`;

export async function mountMain(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      'metadata-addr': { type: 'string', default: '127.0.0.1:9000' },
      foreground: { type: 'boolean' },
      o: { type: 'string', short: 'o', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const mountPoint = positionals[0];
  if (!mountPoint) {
    process.stderr.write(`${HELP}\n`);
    return 2;
  }
  const mountOptions = (values.o ?? []).flatMap((o) => o.split(','));
  const log = createLogger({ fields: { service: 'fuse' } });
  const client = new StrataClient({ metadataAddrs: String(values['metadata-addr']).split(',') });
  const fs = new StrataFileSystem(client);
  let fd: number;
  try {
    fd = mountFuse(mountPoint, {
      allowOther: mountOptions.includes('allow_other'),
      readOnly: true,
    });
  } catch (error) {
    process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
    await client.close();
    return 1;
  }
  const session = new FuseSession(fd, fs, log);
  session.start();
  process.stdout.write(`mounted ${mountPoint}\n`);
  const stop = () => {
    void unmountFuse(mountPoint).then(() => session.stop());
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await session.done;
  await client.close();
  // Reads still parked on /dev/fuse in pool threads must not keep the process alive.
  process.exit(0);
}
