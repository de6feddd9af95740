import { createReadStream, createWriteStream } from 'node:fs';
import { stat as statLocal } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { StrataClient } from '../../client/strata-client.ts';
import { userCredentialsFrom } from '../../client/user-login.ts';
import { readKeyFile } from '../../crypto/index.ts';
import { restoreHeader } from '../../metadata/storage-class.ts';
import type { Inode } from '../../metadata/types.ts';
import { progressReporter } from '../progress.ts';
import { formatBytes, METADATA_ADDR_OPTION, metadataAddrs, parse, UsageError } from '../usage.ts';

export const FS_HELP = `Usage: strata fs <command> [options]

Works on the namespace directly (paths are /bucket/dir/file; a top-level directory is a bucket).

Commands:
  ls PATH                 list a directory (or show one file): type and mode, size, time,
                          storage class, name
  mkdir [-p] PATH         make a directory (-p: with parents, no error if it exists)
  put LOCAL PATH          upload a local file (- for standard input)
  get PATH [LOCAL]        download to a local file (default: standard output)
  rm [-r] PATH            remove a file (-r: a directory and everything below it)
  stat PATH               show an inode's attributes
  mv FROM TO              rename or move

Options:
  --metadata-addr H:P[,H:P...]   where the metadata service is (else STRATA_CONFIG or 127.0.0.1:9000)
  --config FILE                  read the metadata address from this config file
  --key-file FILE                encryption at rest: the master key file; put seals what it
                                 writes, get opens sealed objects (docs/guides/security.md)
  --access-key-id ID             act as the user of this access key (else STRATA_ACCESS_KEY_ID):
                                 only its own buckets and those its ACL grants reach; a bucket
                                 made here is its (docs/guides/security.md, "Mounts and the CLI
                                 as users"). Without a user, the cluster credentials decide:
                                 the cluster token or an admin certificate reach everything
  --secret-access-key SECRET     the access key's secret (else STRATA_SECRET_ACCESS_KEY, which
                                 other users' ps cannot show); it is never sent: a proof is
  -h, --help                     this text`;

type Handler = (
  client: StrataClient,
  args: string[],
  flags: Record<string, unknown>,
) => Promise<void>;

const COMMANDS: Record<string, { arity: [number, number]; run: Handler }> = {
  ls: { arity: [1, 1], run: (c, [path]) => list(c, path) },
  mkdir: {
    arity: [1, 1],
    run: async (c, [path], f) => void (await c.mkdir(path, { recursive: Boolean(f.p) })),
  },
  put: { arity: [2, 2], run: (c, [local, path]) => put(c, local, path) },
  get: { arity: [1, 2], run: (c, [path, local]) => get(c, path, local) },
  rm: { arity: [1, 1], run: (c, [path], f) => remove(c, path, Boolean(f.r)) },
  stat: { arity: [1, 1], run: async (c, [path]) => print(formatStat(path, await c.stat(path))) },
  mv: { arity: [2, 2], run: (c, [from, to]) => c.rename(from, to) },
};

export async function runFs(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...METADATA_ADDR_OPTION,
    p: { type: 'boolean', short: 'p' },
    r: { type: 'boolean', short: 'r' },
    'key-file': { type: 'string' },
    'access-key-id': { type: 'string' },
    'secret-access-key': { type: 'string' },
  });
  const [name, ...rest] = positionals;
  if (values.help || name === undefined) {
    process.stdout.write(`${FS_HELP}\n`);
    return values.help ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown fs command: ${name} (try strata fs --help)`);
  const [min, max] = command.arity;
  if (rest.length < min || rest.length > max)
    throw new UsageError(`fs ${name}: wrong number of arguments`);
  const keyFile = values['key-file'];
  const user = userCredentialsOrUsage(values);
  const client = new StrataClient({
    metadataAddrs: await metadataAddrs(values),
    user,
    caller: callerOfProcess(),
    ...(keyFile
      ? { atRest: { ring: readKeyFile(keyFile), cipher: 'aes-256-gcm', sealNew: true } }
      : {}),
  });
  try {
    await command.run(client, rest, values);
    return 0;
  } finally {
    await client.close();
  }
}

function userCredentialsOrUsage(values: Record<string, unknown>) {
  try {
    return userCredentialsFrom(values, process.env);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function callerOfProcess() {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

function print(text: string) {
  process.stdout.write(`${text}\n`);
}

async function list(client: StrataClient, path: string) {
  const inode = await client.stat(path);
  if (inode.type !== 'dir') return print(formatLine(path.split('/').pop() ?? path, inode));
  for (const entry of await client.readdir(path)) {
    const child = await client.getattr(entry.ino).catch(() => undefined);
    print(child ? formatLine(entry.name, child) : `?  ${entry.name}`);
  }
}

function formatLine(name: string, inode: Inode): string {
  const special = { fifo: 'p', socket: 's', char: 'c', block: 'b' } as const;
  const kind =
    inode.type === 'dir'
      ? 'd'
      : inode.type === 'symlink'
        ? 'l'
        : inode.type === 'special'
          ? special[inode.format ?? 'fifo']
          : '-';
  const when = new Date(inode.mtimeMs).toISOString().replace('T', ' ').slice(0, 19);
  const suffix = inode.type === 'dir' ? '/' : '';
  // A file's storage class (S3's; STANDARD when none is recorded), '-' for everything else.
  const storageClass = inode.type === 'file' ? (inode.object?.storageClass ?? 'STANDARD') : '-';
  const mode = (inode.mode & 0o7777).toString(8).padStart(4, '0');
  return `${kind}${mode}  ${String(inode.size).padStart(12)}  ${when}  ${storageClass.padEnd(12)}  ${name}${suffix}`;
}

function formatStat(path: string, inode: Inode): string {
  const rows: Array<[string, string]> = [
    ['path', path],
    ['inode', String(inode.ino)],
    ['type', inode.type],
    ['size', `${inode.size} (${formatBytes(inode.size)})`],
    ['mode', `0${(inode.mode & 0o7777).toString(8)}`],
    ['uid/gid', `${inode.uid}/${inode.gid}`],
    ['links', String(inode.nlink)],
    ['modified', new Date(inode.mtimeMs).toISOString()],
    ['changed', new Date(inode.ctimeMs).toISOString()],
  ];
  if (inode.object?.etag) rows.push(['etag', inode.object.etag]);
  if (inode.object?.contentType) rows.push(['content-type', inode.object.contentType]);
  if (inode.type === 'file') rows.push(['class', inode.object?.storageClass ?? 'STANDARD']);
  const restore = restoreHeader(inode.object, Date.now());
  if (restore !== undefined) rows.push(['restore', restore]);
  return rows.map(([k, v]) => `${k.padEnd(13)}${v}`).join('\n');
}

async function put(client: StrataClient, local: string, path: string) {
  const startedMs = Date.now();
  const size = local === '-' ? undefined : (await statLocal(local)).size;
  const source =
    local === '-' ? process.stdin : createReadStream(local, { highWaterMark: 1024 * 1024 });
  const progress = progressReporter({ label: `put ${path}`, unit: 'bytes', total: size });
  let sent = 0;
  const counted = (async function* () {
    for await (const chunk of source) {
      sent += (chunk as Buffer).length;
      progress.update(sent);
      yield chunk as Buffer;
    }
  })();
  const inode = await client.writeFile(path, counted, { caller: callerOfProcess() });
  progress.finish();
  const seconds = Math.max(0.001, (Date.now() - startedMs) / 1000);
  process.stderr.write(`put ${path}: ${formatBytes(inode.size)} in ${seconds.toFixed(2)} s\n`);
}

async function get(client: StrataClient, path: string, local: string | undefined) {
  const inode = await client.stat(path);
  const progress = progressReporter({ label: `get ${path}`, unit: 'bytes', total: inode.size });
  let received = 0;
  const body = (async function* () {
    for await (const chunk of client.readFile(path)) {
      received += chunk.length;
      progress.update(received);
      yield chunk;
    }
  })();
  await pipeline(body, local && local !== '-' ? createWriteStream(local) : process.stdout);
  progress.finish();
}

async function remove(client: StrataClient, path: string, recursive: boolean) {
  const inode = await client.stat(path);
  if (inode.type !== 'dir') return client.unlink(path);
  if (!recursive) throw new UsageError(`${path} is a directory (use rm -r)`);
  for (const entry of await client.readdir(path))
    await remove(client, `${path.replace(/\/$/, '')}/${entry.name}`, true);
  await client.rmdir(path);
}
