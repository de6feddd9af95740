// `strata kms ...`: the keys of the built-in KMS that SSE-KMS objects are sealed under
// (docs/guides/security.md, "SSE-KMS"). Key material is made here, wrapped at once under the
// active master key of the key file, and carried wrapped in the command: no member ever sees it
// in the clear, and it is never printed. Administrators only (meta.userApply), like `strata user`.
import { randomUUID } from 'node:crypto';
import { kmsKeyRef } from '../../client/kms-keys.ts';
import { MetadataClient } from '../../client/metadata-client.ts';
import { StrataError } from '../../common/errors.ts';
import { newKmsMaterial, readKeyFile, wrapKmsMaterial } from '../../crypto/index.ts';
import type { KmsKeyAction, KmsKeyRecord, KmsKeySummary } from '../../metadata/types.ts';
import { METADATA_ADDR_OPTION, metadataAddrs, parse, UsageError } from '../usage.ts';
import { configuredKeyFile } from './encryption.ts';

export const KMS_HELP = `Usage: strata kms create-key [--alias NAME] [--description TEXT] [--key-file FILE]
       strata kms list-keys [--json]
       strata kms describe-key KEY [--json]
       strata kms enable-key KEY | disable-key KEY
       strata kms schedule-key-deletion KEY [--pending-window-days 7-30]
       strata kms cancel-key-deletion KEY
       strata kms rotate-key KEY [--key-file FILE]
   (each also takes --metadata-addr H:P[,H:P...] and --config FILE)

The keys of the cluster's built-in KMS, kept in its replicated metadata with their material
wrapped by the master key. S3 requests name a key by id (a UUID), by ARN
(arn:aws:kms:REGION:ACCOUNT:key/ID) or by alias (alias/NAME); KEY here is an id or an alias.
create-key makes a key (Enabled) from new material wrapped under the active key of the master
key file (--key-file, else [encryption] key_file of the config, else <data_dir>/master.key) and
prints its id. --alias NAME: also known as alias/NAME (alias/aws/ is the default key's).
disable-key: SSE-KMS writes under the key are refused (KMS.DisabledException) and objects sealed
under it cannot be read until enable-key. schedule-key-deletion: the key becomes unusable
(KMS.KMSInvalidStateException) and is marked for deletion after the waiting period (default 30
days); cancel-key-deletion makes it Disabled again. Strata never destroys key material itself:
after the waiting period the key stays unusable, and its objects with it.
rotate-key adds a key version with new material: new objects are sealed under it, objects sealed
under older versions stay readable. The default key (alias/aws/s3) is made by a gateway the first
time a request asks for SSE-KMS without naming a key.
Administrators only: the CLI needs the cluster's credentials.`;

const ACTIONS = [
  'create-key',
  'list-keys',
  'describe-key',
  'enable-key',
  'disable-key',
  'schedule-key-deletion',
  'cancel-key-deletion',
  'rotate-key',
];
const STATE_ACTIONS: Record<string, KmsKeyAction> = {
  'enable-key': 'enable',
  'disable-key': 'disable',
  'schedule-key-deletion': 'schedule-deletion',
  'cancel-key-deletion': 'cancel-deletion',
};

export async function runKms(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...METADATA_ADDR_OPTION,
    alias: { type: 'string' },
    description: { type: 'string' },
    'key-file': { type: 'string' },
    'pending-window-days': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${KMS_HELP}\n`);
    return values.help ? 0 : 2;
  }
  const [action, key, ...extra] = positionals;
  if (!ACTIONS.includes(action)) throw new UsageError(`unknown kms command: ${action}`);
  if (extra.length > 0) throw new UsageError(`unexpected arguments: ${extra.join(' ')}`);
  const takesKey = action !== 'create-key' && action !== 'list-keys';
  if (takesKey && key === undefined) throw new UsageError(`${action} needs KEY (an id or alias)`);
  if (!takesKey && key !== undefined) throw new UsageError(`${action} takes no KEY`);
  const metadata = new MetadataClient(await metadataAddrs(values));
  try {
    if (action === 'list-keys') return await listKeys(metadata, values.json === true);
    const ref = key === undefined ? undefined : kmsKeyRef(key);
    if (action === 'describe-key') return await describeKey(metadata, ref, values.json === true);
    if (action === 'create-key' || action === 'rotate-key') {
      const keyFile = values['key-file'] ?? (await configuredKeyFile(values.config));
      const material = newKmsMaterial();
      const wrapped = wrapKmsMaterial(masterKeyIn(keyFile), material);
      material.fill(0);
      const reply =
        action === 'create-key'
          ? await metadata.applyUserCommand({
              op: 'createKmsKey',
              nowMs: Date.now(),
              id: randomUUID(),
              alias: aliasOf(values.alias),
              description: values.description ?? '',
              ...wrapped,
            })
          : await metadata.applyUserCommand({
              op: 'rotateKmsKey',
              nowMs: Date.now(),
              key: ref as string,
              ...wrapped,
            });
      return printKey(reply.kmsKey, action === 'create-key' ? 'created' : 'rotated');
    }
    const days = values['pending-window-days'];
    const reply = await metadata.applyUserCommand({
      op: 'setKmsKeyState',
      nowMs: Date.now(),
      key: ref as string,
      action: STATE_ACTIONS[action],
      pendingWindowDays: days === undefined ? undefined : Number(days),
    });
    return printKey(reply.kmsKey, STATE_ACTIONS[action]);
  } finally {
    await metadata.close();
  }
}

// --alias NAME or --alias alias/NAME: the same alias.
function aliasOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value.startsWith('alias/') ? value : `alias/${value}`;
}

function printKey(key: KmsKeySummary | undefined, what: string): number {
  if (key === undefined) throw new Error('the metadata service answered without the key');
  process.stdout.write(`key ${key.id} ${what}: ${key.state}, ${key.versions} version(s)\n`);
  return 0;
}

function summary(key: KmsKeyRecord): KmsKeySummary {
  const s: KmsKeySummary = {
    id: key.id,
    description: key.description,
    state: key.state,
    createdAtMs: key.createdAtMs,
    versions: key.versions.length,
  };
  if (key.alias !== undefined) s.alias = key.alias;
  if (key.deletionDateMs !== undefined) s.deletionDateMs = key.deletionDateMs;
  return s;
}

async function describeKey(metadata: MetadataClient, ref: string | undefined, json: boolean) {
  const key = await metadata.read('kmsKey', ref as string);
  if (key === undefined || key === null) {
    process.stderr.write(`strata kms: no key ${ref}\n`);
    return 1;
  }
  const s = summary(key);
  if (json) {
    process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    return 0;
  }
  const rows: Array<[string, string]> = [
    ['id', s.id],
    ['alias', s.alias ?? '-'],
    ['state', s.state],
    ['description', s.description],
    ['created', isoDate(s.createdAtMs)],
    ['versions', String(s.versions)],
  ];
  if (s.deletionDateMs !== undefined) rows.push(['deletion date', isoDate(s.deletionDateMs)]);
  for (const [name, value] of rows) process.stdout.write(`${name.padEnd(14)}${value}\n`);
  return 0;
}

async function listKeys(metadata: MetadataClient, json: boolean): Promise<number> {
  const keys = (await metadata.read('listKmsKeys')).map(summary);
  if (json) {
    process.stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
    return 0;
  }
  const header = ['KEY ID', 'ALIAS', 'STATE', 'VERSIONS', 'CREATED'];
  const rows = keys.map((k) => [
    k.id,
    k.alias ?? '-',
    k.state,
    String(k.versions),
    isoDate(k.createdAtMs),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const line of [header, ...rows])
    process.stdout.write(
      `${line
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd()}\n`,
    );
  return 0;
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

// The master key that wraps KMS key material: encryption at rest's key file. A node that runs
// without encryption at rest has none, which deserves a sentence, not a stack trace.
function masterKeyIn(keyFile: string) {
  try {
    return readKeyFile(keyFile).active;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new StrataError(
      'ENCRYPTION_KEY_UNAVAILABLE',
      `no master key file at ${keyFile}: KMS key material is wrapped by the master key of ` +
        'encryption at rest. Turn it on ([encryption] enabled = true; a single node creates ' +
        'its key file at its next start) or name the key file with --key-file ' +
        '(docs/guides/security.md)',
    );
  }
}
