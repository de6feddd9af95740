// `strata encryption rotate-master-key --new-key-file F`: makes F's key the active master key in
// the key file (the old ones stay, retired: they only unwrap), then walks every stripe the
// namespace references and re-wraps each data key still under another master key, in batches of
// commands; the sealed shards are not touched. With --drop-retired it then checks that no stripe
// is left under a retired key and removes those keys from the file.
import { join, resolve } from 'node:path';
import { MetadataClient } from '../../client/metadata-client.ts';
import { isStrataError } from '../../common/errors.ts';
import {
  isCustomerKeyId,
  type Keyring,
  type MasterKey,
  readKeyFile,
  sealUserSecret,
  unsealUserSecret,
  unwrapDataKey,
  unwrapKmsMaterial,
  wrapDataKey,
  wrapKmsMaterial,
  writeKeyFile,
} from '../../crypto/index.ts';
import type { KmsMaterialRewrap, StripeKeyRewrap, UserSecretSeal } from '../../metadata/types.ts';
import { progressReporter } from '../progress.ts';
import { METADATA_ADDR_OPTION, metadataAddrs, parse, UsageError } from '../usage.ts';

export const ENCRYPTION_HELP = `Usage: strata encryption rotate-master-key --new-key-file FILE [--key-file FILE]
         [--drop-retired] [--metadata-addr H:P[,H:P...]] [--config FILE]

rotate-master-key makes the key in --new-key-file (base64, 32 bytes, mode 0600; its first key)
the active master key of the key file (--key-file, else [encryption] key_file of the config, else
<data_dir>/master.key), keeping the old keys there as retired (they only unwrap), then re-wraps
every stripe's data key under it, the material of every key of the built-in KMS (SSE-KMS;
the data keys under KMS keys stay as they are) and the S3 users' secret keys. The data is not rewritten. Progress goes to stderr. Processes
running with the old file keep wrapping new stripes with the old key until they restart with the
new file: restart them (and copy the file to every gateway), run the command again (it re-wraps
what they wrote meanwhile), then once more with --drop-retired, which removes the retired keys
from the file only when no stripe is left under them.`;

// Keys per rewrapStripeKeys command (REWRAPS_PER_COMMAND_MAX) and stripes per scan page.
const BATCH_KEYS = 256;
const SCAN_PAGE_STRIPES = 1_000;

export async function runEncryption(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...METADATA_ADDR_OPTION,
    'new-key-file': { type: 'string' },
    'key-file': { type: 'string' },
    'drop-retired': { type: 'boolean' },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${ENCRYPTION_HELP}\n`);
    return values.help ? 0 : 2;
  }
  if (positionals[0] !== 'rotate-master-key' || positionals.length !== 1)
    throw new UsageError(`unknown encryption command: ${positionals.join(' ')}`);
  const newKeyFile = values['new-key-file'];
  if (!newKeyFile) throw new UsageError('rotate-master-key needs --new-key-file FILE');
  const keyFile = values['key-file'] ?? (await configuredKeyFile(values.config));
  const addrs = await metadataAddrs(values);
  const ring = installNewKey(keyFile, readKeyFile(newKeyFile).active);
  const metadata = new MetadataClient(addrs);
  try {
    const kms = await rewrapKmsMaterial(metadata, ring);
    process.stdout.write(
      `rotate-master-key: ${kms.rewrapped} KMS key versions re-wrapped under ${ring.active.id}\n`,
    );
    const users = await resealUserSecrets(metadata, ring);
    process.stdout.write(
      `rotate-master-key: ${users.resealed} user secrets re-wrapped under ${ring.active.id}\n`,
    );
    const result = await rewrapAll(metadata, ring);
    process.stdout.write(
      `rotate-master-key: ${result.rewrapped} data keys re-wrapped under ${ring.active.id}, ` +
        `${result.scanned} stripe references scanned\n`,
    );
    if (result.unreadable > 0 || kms.unreadable > 0 || users.unreadable > 0) {
      process.stderr.write(
        `rotate-master-key: ${result.unreadable} stripes, ${kms.unreadable} KMS key versions ` +
          `and ${users.unreadable} user secrets are wrapped by a master key not in ${keyFile}; ` +
          'they stay as they are\n',
      );
      return 1;
    }
    if (values['drop-retired']) return await dropRetired(metadata, keyFile, ring);
    return 0;
  } finally {
    await metadata.close();
  }
}

export async function configuredKeyFile(configPath: unknown): Promise<string> {
  const { loadConfig } = await import('../../config/load.ts');
  const { config } = loadConfig({ configPath: configPath as string | undefined });
  return resolve(config.encryption.key_file || join(config.storage.data_dir, 'master.key'));
}

// The key file with `key` first (active), the others after it (retired); unchanged when `key`
// is already active.
function installNewKey(keyFile: string, key: MasterKey): Keyring {
  const ring = readKeyFile(keyFile);
  if (ring.active.id === key.id) return ring;
  const retired = [...ring.byId.values()].filter((k) => k.id !== key.id).map((k) => k.key);
  writeKeyFile(keyFile, [key.key, ...retired]);
  return readKeyFile(keyFile);
}

interface RewrapResult {
  scanned: number;
  rewrapped: number;
  unreadable: number;
  underRetired: number;
}

// Every referenced stripe not yet under the active key gets its data key re-wrapped. A stripe
// shared by several extents is scanned at each; after its first re-wrap commits the scan shows
// it under the active key, so it is re-wrapped once.
async function rewrapAll(metadata: MetadataClient, ring: Keyring): Promise<RewrapResult> {
  const result: RewrapResult = { scanned: 0, rewrapped: 0, unreadable: 0, underRetired: 0 };
  const progress = progressReporter({
    label: 'rotate-master-key',
    unit: 'count',
    noun: 'data keys re-wrapped',
  });
  let batch: StripeKeyRewrap[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const reply = await metadata.apply({ op: 'rewrapStripeKeys', nowMs: Date.now(), keys: batch });
    result.rewrapped += (reply.rewrapped ?? []).filter((o) => o.ok).length;
    batch = [];
  };
  let cursor: string | undefined;
  do {
    const page = await metadata.read('scanStripes', cursor, SCAN_PAGE_STRIPES);
    for (const { stripe, at } of page.stripes) {
      result.scanned++;
      const enc = stripe.encryption;
      // Only stripes whose data key a master key wraps are re-wrapped here. An SSE-KMS stripe's
      // data key is under its KMS key (rewrapKmsMaterial re-wraps the KMS key's material); an
      // SSE-C stripe's under its customer's key, which no master key replaces.
      if (enc === undefined || enc.keyId === ring.active.id) continue;
      if (enc.kms !== undefined || isCustomerKeyId(enc.keyId)) continue;
      if (batch.some((b) => b.stripeId === stripe.id)) continue;
      if (!ring.byId.has(enc.keyId)) {
        result.unreadable++;
        continue;
      }
      const dataKey = unwrapDataKey(ring, enc);
      const wrapped = wrapDataKey(ring.active, dataKey);
      dataKey.fill(0);
      batch.push({ stripeId: stripe.id, at, fromKeyId: enc.keyId, ...wrapped });
      if (batch.length === BATCH_KEYS) await flush();
    }
    progress.update(result.rewrapped, { note: `${result.scanned} stripe references scanned` });
    cursor = page.next;
  } while (cursor !== undefined);
  await flush();
  progress.update(result.rewrapped, { note: `${result.scanned} stripe references scanned` });
  progress.finish();
  return result;
}

// Every version of every KMS key of the built-in KMS whose material is under another master key
// is re-wrapped under the active one (a few records: the SSE-KMS stripes' data keys, wrapped by
// the KMS keys, are not touched). Admin only (meta.userApply), like `strata kms`.
async function rewrapKmsMaterial(metadata: MetadataClient, ring: Keyring) {
  const keys = await metadata.read('listKmsKeys');
  const rewraps: KmsMaterialRewrap[] = [];
  let unreadable = 0;
  for (const key of keys) {
    for (const v of key.versions) {
      if (v.masterKeyId === ring.active.id) continue;
      if (!ring.byId.has(v.masterKeyId)) {
        unreadable++;
        continue;
      }
      const material = unwrapKmsMaterial(ring, v);
      const wrapped = wrapKmsMaterial(ring.active, material);
      material.fill(0);
      rewraps.push({
        keyId: key.id,
        version: v.version,
        fromMasterKeyId: v.masterKeyId,
        ...wrapped,
      });
    }
  }
  let rewrapped = 0;
  for (let i = 0; i < rewraps.length; i += BATCH_KEYS) {
    const batch = rewraps.slice(i, i + BATCH_KEYS);
    const reply = await metadata.applyUserCommand({
      op: 'rewrapKmsKeys',
      nowMs: Date.now(),
      keys: batch,
    });
    rewrapped += (reply.rewrapped ?? []).filter((o) => o.ok).length;
  }
  return { rewrapped, unreadable };
}

// Every user secret sealed by another master key is re-sealed under the active one, in one
// command (at most 2,000 keys: SECRET_SEALS_PER_COMMAND_MAX). The command is refused whole when a
// user changed since the read (a changed secret must not be replaced by the one read): read again.
// Secrets still in the clear are the leader's to seal (it does at start, with encryption on).
const RESEAL_ATTEMPTS_MAX = 5;

async function resealUserSecrets(metadata: MetadataClient, ring: Keyring) {
  for (let attempt = 1; ; attempt++) {
    const { usersVersion, secrets } = await metadata.sealedUserSecrets();
    const seals: UserSecretSeal[] = [];
    let unreadable = 0;
    for (const { accessKeyId, sealedSecret } of secrets) {
      if (sealedSecret.masterKeyId === ring.active.id) continue;
      if (!ring.byId.has(sealedSecret.masterKeyId)) {
        unreadable++;
        continue;
      }
      const secret = unsealUserSecret(ring, accessKeyId, sealedSecret);
      const fromMasterKeyId = sealedSecret.masterKeyId;
      seals.push({
        accessKeyId,
        fromMasterKeyId,
        sealedSecret: sealUserSecret(ring.active, accessKeyId, secret),
      });
    }
    if (seals.length === 0) return { resealed: 0, unreadable };
    try {
      const command = { op: 'sealUserSecrets' as const, nowMs: Date.now(), usersVersion };
      await metadata.applyUserCommand({ ...command, keys: seals });
      return { resealed: seals.length, unreadable };
    } catch (error) {
      const raced = isStrataError(error) && error.code === 'PRECONDITION_FAILED';
      if (!raced || attempt >= RESEAL_ATTEMPTS_MAX) throw error;
    }
  }
}

// Removes the retired keys once a scan finds no stripe, no KMS key version and no user secret
// left under one.
async function dropRetired(metadata: MetadataClient, keyFile: string, ring: Keyring) {
  let cursor: string | undefined;
  let left = 0;
  for (const key of await metadata.read('listKmsKeys'))
    left += key.versions.filter((v) => v.masterKeyId !== ring.active.id).length;
  const { secrets } = await metadata.sealedUserSecrets();
  left += secrets.filter((s) => s.sealedSecret.masterKeyId !== ring.active.id).length;
  do {
    const page = await metadata.read('scanStripes', cursor, SCAN_PAGE_STRIPES);
    for (const { stripe } of page.stripes) {
      const enc = stripe.encryption;
      const underMaster = enc && enc.kms === undefined && !isCustomerKeyId(enc.keyId);
      if (underMaster && enc.keyId !== ring.active.id) left++;
    }
    cursor = page.next;
  } while (cursor !== undefined);
  if (left > 0) {
    process.stderr.write(
      `rotate-master-key: ${left} stripe references are still under a retired key ` +
        '(written by a process that has not restarted with the new key file?): keys kept\n',
    );
    return 1;
  }
  writeKeyFile(keyFile, [ring.active.key]);
  process.stdout.write(`rotate-master-key: retired keys removed from ${keyFile}\n`);
  return 0;
}
