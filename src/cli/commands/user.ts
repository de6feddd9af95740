// `strata user create|list|delete|rotate-key`: the cluster's S3 users (docs/guides/security.md,
// "Users"). The key pair is made here, by the proposer, and carried in the command; the secret is
// printed once, on stdout, and never again (`list` shows access key ids only).
import { MetadataClient } from '../../client/metadata-client.ts';
import { newKeyPair } from '../../config/credentials.ts';
import type { UserSummary } from '../../metadata/types.ts';
import { METADATA_ADDR_OPTION, metadataAddrs, parse, UsageError } from '../usage.ts';

export const USER_HELP = `Usage: strata user create NAME [--admin] [--metadata-addr H:P[,H:P...]] [--config FILE]
       strata user list [--json] [--metadata-addr ...]
       strata user delete NAME [--metadata-addr ...]
       strata user rotate-key NAME [--keep-old] [--metadata-addr ...]

The S3 users of the cluster, kept in its replicated metadata: every gateway and console accepts
their keys: a new key works at once, a key deleted or rotated away stops working within 2
seconds.
create makes the user with a new key pair and prints the access key id and the secret key: the
secret is shown this once. --admin: the user may do anything to every bucket (and log in to the
console). A user owns the buckets it creates; bucket policies name users.
list shows each user's name, access key ids, admin flag, creation time and source: config (from
s3.auth.credentials of the servers' configuration, or the pair a server generated) or cli.
delete removes the user and its keys. A config user is refused: remove it from the
configuration of every metadata member and restart the leader, then delete it.
rotate-key gives the user a new key pair and prints it; the old key stops working, unless
--keep-old (a user holds at most two keys, as in AWS IAM).
Administrators only: the CLI needs the cluster's credentials (the token of the server's
directory, or an admin TLS certificate).`;

export async function runUser(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...METADATA_ADDR_OPTION,
    admin: { type: 'boolean' },
    'keep-old': { type: 'boolean' },
    json: { type: 'boolean' },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${USER_HELP}\n`);
    return values.help ? 0 : 2;
  }
  const [action, name, ...extra] = positionals;
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  if (action !== 'list' && name === undefined)
    throw new UsageError(`${action} needs the user's NAME`);
  if (action === 'list' && name !== undefined) throw new UsageError('list takes no NAME');
  if (!['create', 'list', 'delete', 'rotate-key'].includes(action))
    throw new UsageError(`unknown user command: ${action}`);
  const metadata = new MetadataClient(await metadataAddrs(values));
  try {
    if (action === 'list') return await listUsers(metadata, values.json === true);
    if (action === 'delete') {
      await metadata.applyUserCommand({ op: 'deleteUser', nowMs: Date.now(), name });
      process.stdout.write(`user ${name} deleted; its keys stop working within 2 s\n`);
      return 0;
    }
    const pair = newKeyPair();
    if (action === 'create') {
      const admin = values.admin === true;
      await metadata.applyUserCommand({
        op: 'createUser',
        nowMs: Date.now(),
        name,
        admin,
        ...pair,
      });
      process.stdout.write(`user ${name} created${admin ? ' (administrator)' : ''}\n`);
    } else {
      const keepOld = values['keep-old'] === true;
      await metadata.applyUserCommand({
        op: 'rotateAccessKey',
        nowMs: Date.now(),
        name,
        keepOld,
        ...pair,
      });
      const old = keepOld ? 'the old key still works' : 'the old key stops working within 2 s';
      process.stdout.write(`user ${name}: new key pair (${old})\n`);
    }
    process.stdout.write(
      `access key id  ${pair.accessKeyId}\nsecret key     ${pair.secretKey}\n` +
        '(the secret is shown this once)\n',
    );
    return 0;
  } finally {
    await metadata.close();
  }
}

async function listUsers(metadata: MetadataClient, json: boolean): Promise<number> {
  const users = await metadata.listUsers();
  if (json) {
    process.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
    return 0;
  }
  const rows = users.map(row);
  const header = ['NAME', 'ACCESS KEY IDS', 'ADMIN', 'CREATED', 'SOURCE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const line of [header, ...rows])
    process.stdout.write(
      `${line
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd()}\n`,
    );
  return 0;
}

function row(user: UserSummary): string[] {
  return [
    user.name,
    user.accessKeyIds.join(','),
    user.admin ? 'yes' : 'no',
    new Date(user.createdAtMs).toISOString().replace(/\.\d+Z$/, 'Z'),
    user.source,
  ];
}
