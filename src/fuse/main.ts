// strata-mount: mounts the namespace (buckets are the top-level directories) through FUSE.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { StrataClient } from '../client/strata-client.ts';
import { type UserCredentials, userCredentialsFrom } from '../client/user-login.ts';
import { loadConfig } from '../config/load.ts';
import { type AtRest, DATA_CIPHERS, type DataCipher, readKeyFile } from '../crypto/index.ts';
import { createLogger, isLogLevel, LOG_LEVELS, type Logger } from '../observability/logger.ts';
import { metricsRegistry, ROLE_METRICS } from '../observability/metrics.ts';
import { startMetricsServer } from '../observability/metrics-server.ts';
import { setProcessRpcSecurity } from '../rpc/security.ts';
import { rpcSecurityFromConfig } from '../rpc/security-config.ts';
import { ChangeFeed } from './change-feed.ts';
import { deviceReadingProblem } from './device-stream.ts';
import { type LostWrites, StrataFileSystem } from './file-system.ts';
import { InvalidationWatcher } from './invalidation.ts';
import { MountSession } from './locks.ts';
import {
  abortFuseConnection,
  fuseConnectionOf,
  isRoot,
  type MountOptions,
  mountFuse,
  mountThroughHelper,
  parseMountOptions,
  setReadAhead,
  unmountFuse,
} from './mount.ts';
import { FuseOperations } from './operations.ts';
import { FuseSession } from './session.ts';

const HELP = `Usage: strata-mount MOUNTPOINT [--metadata-addr H:P[,H:P...]] [-o OPTIONS] [--cache-size SIZE]
                    [--no-write-behind] [--no-local-reads] [--busy-poll-us N]
                    [--log-level LEVEL] [--key-file FILE [--cipher CIPHER]]
                    [--access-key-id ID --secret-access-key SECRET]

Mounts the Strata namespace at MOUNTPOINT through FUSE: buckets are its top-level directories
(mkdir there creates a bucket), objects its files; a file written here is an S3 object and an
object put through S3 is a file. As root it mounts itself (mount(2) with a /dev/fuse
descriptor); as any other user it mounts through fusermount3 (fuse3) and the small helper
native/build/fuse-fd-helper (\`npm run build:fuse-helper\`), on a MOUNTPOINT that user owns.
Unmount with \`umount MOUNTPOINT\` (\`fusermount3 -u MOUNTPOINT\` without root) or Ctrl-C; a dead
mount left at MOUNTPOINT by a crashed process is cleared at start.

Consistency: close-to-open between mounts (a file closed on one mount is read whole on another
that opens it afterwards); names and attributes may be up to 1 s stale between mounts; pages
cached of a file another client changed are dropped within about 1 s. fsync and close make
writes durable. POSIX locks (fcntl) and flock() are cluster-wide: they exclude holders on every
mount, and a mount that dies loses its locks after 10 s. A write that cannot be stored fails
close and fsync with EIO (ENOSPC when the cluster is full), is logged at error and counted in
strata_fuse_write_errors_total, and makes strata-mount exit 1 when it stops.

Credentials (docs/guides/security.md): a mount-role certificate through STRATA_TLS_CA,
STRATA_TLS_CERT and STRATA_TLS_KEY (or [tls] of the file in STRATA_CONFIG); on the server's own
machine without TLS, the cluster token: ./strata-data/cluster.token or STRATA_TLS_TOKEN_FILE.
A mount runs as a user when given one of the user's access keys (--access-key-id and
--secret-access-key, or STRATA_ACCESS_KEY_ID and STRATA_SECRET_ACCESS_KEY): it then sees and
changes only the user's own buckets and those whose ACL grants the user READ or WRITE (EACCES
elsewhere), and a bucket it makes is the user's. A mount certificate without a user reaches no
bucket; the cluster token without a user is the operator's and reaches every bucket.

Options:
  --metadata-addr H:P,...  metadata members to use                    [127.0.0.1:9000]
  --cache-size SIZE        bytes of written data held before it is sent (e.g. 256M)   [256M]
  --no-write-behind        commit every create and unlink before answering it (by default,
                           those in a busy directory are answered first and sent in order
                           within 5 ms; fsync and syncfs wait for them)
  --no-local-reads         read every shard through its data server (by default, shards of
                           a data server on this machine are read straight from its disk
                           directories when this process can read them)
  --busy-poll-us N         after answering a request, poll up to N microseconds for the next
                           instead of sleeping, while requests come that fast (a synchronous
                           caller's chain of small requests); 0: never poll           [300]
  --metrics-addr H:P       where to serve Prometheus /metrics (port 0: any free port,
                           printed at start; "off": none)                 [127.0.0.1:0]
  --log-level LEVEL        trace | debug | info | warn | error (or STRATA_LOG_LEVEL) [info]
  --key-file FILE          encryption at rest: the cluster's master key file (mode 0600); files
                           written here are sealed, sealed ones are read (docs/guides/security.md).
                           Without it, an encrypted object cannot be read here (EIO)
  --cipher CIPHER          aes-256-gcm | chacha20-poly1305, for what this mount writes
                                                                          [aes-256-gcm]
  --access-key-id ID       act as the user of this access key     [STRATA_ACCESS_KEY_ID]
  --secret-access-key SECRET  its secret (prefer the environment: ps shows arguments)
                                                          [STRATA_SECRET_ACCESS_KEY]
  --foreground             stay attached (the default; there is no daemon mode)
  -o ro                    mount read-only
  -o allow_other           let other users' processes use the mount, with their permissions
                           checked by the kernel (the default as root; without root it needs
                           user_allow_other in /etc/fuse.conf)
  -o noallow_other         as root: only root's processes may use the mount
  -h, --help               this text`;

// How long the cluster keeps a silent mount's locks and unlinked open files: a crashed mount's
// locks pass to others after this.
const SESSION_TTL_MS = 10_000;

// A window that catches the next request of a caller woken on another idle CPU of a VM (the gap
// between a reply and the next request was 100-300 µs there; busy-poll.ts).
const DEFAULT_BUSY_POLL_US = 300;
const MAX_BUSY_POLL_US = 100_000;

function parseBusyPollUs(text: string): number {
  const us = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(us <= MAX_BUSY_POLL_US))
    throw new Error(
      `--busy-poll-us: ${text} is not a whole number of microseconds up to ${MAX_BUSY_POLL_US}`,
    );
  return us;
}

function parseSize(text: string): number {
  const match = /^(\d+)([KMG]?)i?B?$/i.exec(text.trim());
  if (!match) throw new Error(`--cache-size: not a size: ${text}`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match[2].toUpperCase()] ?? 1;
  return Number(match[1]) * unit;
}

// A key file makes the mount seal what it writes, as a gateway with encryption on does.
function mountAtRest(keyFile: string | undefined, cipher: string): AtRest | undefined {
  if (!DATA_CIPHERS.includes(cipher as DataCipher))
    throw new Error(`--cipher: ${cipher} is not one of ${DATA_CIPHERS.join(', ')}`);
  if (keyFile === undefined) return undefined;
  return { ring: readKeyFile(keyFile), cipher: cipher as DataCipher, sealNew: true };
}

// The command line, or why it is not one (an unknown flag, a flag without its value).
function parseMountArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    allowNegative: true, // --no-write-behind, --no-local-reads
    options: {
      'metadata-addr': { type: 'string', default: '127.0.0.1:9000' },
      'cache-size': { type: 'string', default: '256M' },
      'write-behind': { type: 'boolean', default: true },
      'local-reads': { type: 'boolean', default: true },
      'busy-poll-us': { type: 'string', default: String(DEFAULT_BUSY_POLL_US) },
      'metrics-addr': { type: 'string', default: '127.0.0.1:0' },
      'log-level': { type: 'string' },
      'key-file': { type: 'string' },
      cipher: { type: 'string', default: 'aes-256-gcm' },
      'access-key-id': { type: 'string' },
      'secret-access-key': { type: 'string' },
      foreground: { type: 'boolean' },
      o: { type: 'string', short: 'o', multiple: true },
      help: { type: 'boolean', short: 'h' },
      // Hidden: the mount exists and this descriptor of /dev/fuse serves it (fuse-fd-helper).
      'fuse-fd': { type: 'string' },
    },
  });
}

export async function mountMain(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseMountArgs>;
  try {
    parsed = parseMountArgs(args);
  } catch (error) {
    process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const mountPoint = positionals[0];
  if (!mountPoint) {
    process.stderr.write(`${HELP}\n`);
    return 2;
  }
  let dirtyLimitBytes: number;
  let busyPollUs: number;
  try {
    dirtyLimitBytes = parseSize(String(values['cache-size']));
    busyPollUs = parseBusyPollUs(String(values['busy-poll-us']));
  } catch (error) {
    process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
    return 2;
  }
  // Flag, then environment, then info: as the server does (docs/guides/configuration.md).
  const level = values['log-level'] ?? process.env.STRATA_LOG_LEVEL ?? 'info';
  if (!isLogLevel(level)) {
    process.stderr.write(
      `strata-mount: --log-level: ${level} is not one of ${LOG_LEVELS.join(', ')}\n`,
    );
    return 2;
  }
  let atRest: AtRest | undefined;
  try {
    atRest = mountAtRest(values['key-file'], String(values.cipher));
  } catch (error) {
    process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
    return 2;
  }
  let user: UserCredentials | undefined;
  try {
    user = userCredentialsFrom(values, process.env);
  } catch (error) {
    process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
    return 2;
  }
  let fuseOptions: MountOptions;
  try {
    fuseOptions = parseMountOptions(values.o ?? [], isRoot());
  } catch (error) {
    process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
    return 2;
  }
  const fuseFd = values['fuse-fd'] === undefined ? undefined : Number(values['fuse-fd']);
  if (fuseFd !== undefined && !(Number.isInteger(fuseFd) && fuseFd >= 0)) {
    process.stderr.write(`strata-mount: --fuse-fd: not a descriptor: ${values['fuse-fd']}\n`);
    return 2;
  }
  if (fuseFd === undefined && !isRoot()) {
    try {
      return await mountThroughHelper(mountPoint, fuseOptions, args);
    } catch (error) {
      process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
      return 1;
    }
  }
  const log = createLogger({ level, fields: { service: 'fuse' } });
  try {
    useMountCredentials();
  } catch (error) {
    process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
    return 2;
  }
  // The client logs what it rides out (degraded reads, stripes written without some shards).
  const client = new StrataClient({
    metadataAddrs: String(values['metadata-addr']).split(','),
    log,
    atRest,
    user,
    localReads: values['local-reads'] === true,
  });
  let fd: number;
  let fs: StrataFileSystem;
  const mountSession = new MountSession(
    client,
    randomBytes(12).toString('hex'),
    SESSION_TTL_MS,
    log,
  );
  try {
    const readingProblem = deviceReadingProblem();
    if (readingProblem !== undefined) throw new Error(readingProblem);
    const { erasure } = await client.metadata.config();
    await mountSession.open(`${hostname()}:${mountPoint} pid ${process.pid}`);
    fs = new StrataFileSystem(client, {
      stripeBytes: erasure.k * erasure.shardSizeBytes,
      dirtyLimitBytes,
      mountId: mountSession.mountId,
      writeBehind: values['write-behind'] === true,
      log,
    });
    fd = fuseFd ?? mountFuse(mountPoint, fuseOptions);
  } catch (error) {
    process.stderr.write(`strata-mount: ${(error as Error).message}\n`);
    await mountSession.close();
    await client.close();
    return 1;
  }
  const ops = new FuseOperations(fs, log);
  ops.locks = mountSession;
  const session = new FuseSession(fd, ops, log, busyPollUs);
  const watcher = new InvalidationWatcher(fs, ops.notifier, log);
  const feed = new ChangeFeed(
    (since) => client.metadata.readUnordered('namespaceChanges', since, client.metadata.sessionId),
    {
      notify: (code, body) => ops.notifier(code, body),
      inodeChanged: (ino) => fs.leases.changed(ino),
      directoryChanged: (dir) => fs.leases.drop(dir),
      everythingChanged: () => fs.leases.forgetAll(),
    },
    log,
  );
  ops.feed = feed;
  ops.userMount = user !== undefined;
  fs.onChangesLost = () => void feed.ownChangesLost();
  session.start();
  watcher.start(1000);
  feed.start();
  if (!(await setReadAhead(mountPoint, Math.max(128, fs.stripeBytes / 1024))))
    log.info('kernel read-ahead left at its default (setting it needs root)');
  const connection = await fuseConnectionOf(mountPoint);
  const metricsAddr = String(values['metrics-addr']);
  const mountMetrics = metricsRegistry(ROLE_METRICS.mount);
  const metrics =
    metricsAddr === 'off'
      ? undefined
      : await startMetricsServer(
          metricsAddr.slice(0, metricsAddr.lastIndexOf(':')),
          Number(metricsAddr.slice(metricsAddr.lastIndexOf(':') + 1)),
          () => mountMetrics.metrics(),
        ).catch((error: Error) => {
          log.warn('metrics not served', { error: error.message });
          return undefined;
        });
  if (metrics) {
    const host = metricsAddr.slice(0, metricsAddr.lastIndexOf(':'));
    process.stdout.write(`metrics at http://${host}:${metrics.port}/metrics\n`);
  }
  let stopping = false;
  const stop = () => {
    // Once: Ctrl-C reaches both this process and, without root, the parent that passes it on.
    if (stopping) return;
    stopping = true;
    // Each step runs whatever the one before it did: a failed flush is logged (and counted in
    // the exit code) but must not leave the mount behind, nor crash the process with it mounted.
    void (async () => {
      await fs
        .flushAll()
        .catch((error: Error) =>
          log.error('flush before unmount failed', { error: error.message }),
        );
      await unmountFuse(mountPoint).catch((error: Error) =>
        log.error('unmount failed', { error: error.message }),
      );
      session.stop();
    })();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Only now: a supervisor (or a test) that stops the mount as soon as it reads this line must
  // find the handlers in (written before them, a SIGINT could land first and kill the process
  // with the default action, leaving the mount behind: seen in CI of 3e4eb6e).
  process.stdout.write(`mounted ${mountPoint}\n`);
  await session.done;
  watcher.stop();
  feed.stop();
  metrics?.server.close();
  await fs.flushAll();
  await mountSession.close();
  await client.close();
  // A lazy unmount (files still open) leaves the connection alive: ended here, their processes
  // get ENOTCONN at once instead of waiting on a mount that is gone.
  if (session.connectionAlive && connection !== undefined && !abortFuseConnection(connection))
    log.warn('files are still open on the unmounted mount; exiting once they are closed');
  process.exit(exitCode(fs.lostWrites, fs.lostNamespaceChanges, log));
}

// 1 when writes or namespace changes this mount accepted were lost, so a supervisor or script
// sees it.
function exitCode(lost: LostWrites, lostChanges: number, log: Logger): number {
  if (lost.batches === 0 && lostChanges === 0) return 0;
  log.error('writes could not be stored during this mount', {
    batches: lost.batches,
    bytes: lost.bytes,
    namespaceChanges: lostChanges,
  });
  return 1;
}

// The mount's cluster credentials, from STRATA_CONFIG and STRATA_TLS_* as a server reads them:
// a certificate with the mount role, or (on the server's machine) the cluster token.
function useMountCredentials(): void {
  const { config } = loadConfig();
  setProcessRpcSecurity(rpcSecurityFromConfig(config, { role: 'mount', createToken: false }));
}
