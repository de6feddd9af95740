// The built-in KMS as a client uses it (docs/guides/security.md, "SSE-KMS"): a key named by id,
// ARN or alias is read from the metadata, its state checked, its material unwrapped under this
// process's master keys, and the key that wraps (or unwraps) a stripe's data key derived from it
// (src/crypto/kms-key.ts). The state is read afresh at each use, so a key disabled by
// `strata kms disable-key` refuses the next read or write on every gateway and mount; only the
// unwrapped material is cached, in this process's memory, never logged.
import assert from 'node:assert';
import { randomUUID } from 'node:crypto';
import { StrataError } from '../common/errors.ts';
import {
  type Keyring,
  type KmsKeySource,
  type KmsSealKey,
  type KmsWrapPlace,
  kmsWrappingKey,
  type MasterKey,
  newKmsMaterial,
  unwrapKmsMaterial,
  wrapKmsMaterial,
} from '../crypto/index.ts';
import { DEFAULT_KMS_ALIAS } from '../metadata/ops-kms.ts';
import type { KmsKeyRecord } from '../metadata/types.ts';
import type { MetadataClient } from './metadata-client.ts';

// Unwrapped material kept per (key, version, master key): bounded, cleared when full.
const MATERIAL_CACHE_MAX = 256;
// A KMS key ARN (AWS's form; any region and account are accepted) or an alias ARN.
const KEY_ARN = /^arn:aws:kms:[^:]*:[^:]*:(key\/[^:]+|alias\/[^:]+)$/;
// AWS's account id field of the ARNs Strata answers with: Strata has no accounts.
const ACCOUNT_ID = '000000000000';

// The key id or alias an id, ARN or alias names, as the metadata looks keys up.
export function kmsKeyRef(value: string): string {
  const arn = KEY_ARN.exec(value);
  if (arn === null) return value;
  return arn[1].startsWith('key/') ? arn[1].slice('key/'.length) : arn[1];
}

export function kmsKeyArn(region: string, keyId: string): string {
  return `arn:aws:kms:${region}:${ACCOUNT_ID}:key/${keyId}`;
}

export class KmsKeys implements KmsKeySource {
  private readonly metadata: MetadataClient;
  private readonly ring: Keyring;
  private readonly materials = new Map<string, Buffer>();

  constructor(metadata: MetadataClient, ring: Keyring) {
    this.metadata = metadata;
    this.ring = ring;
  }

  // KMS_KEY_NOT_FOUND when no key has that id, ARN or alias.
  async record(value: string): Promise<KmsKeyRecord> {
    const ref = kmsKeyRef(value);
    const key = await this.metadata.read('kmsKey', ref);
    if (key === undefined || key === null)
      throw new StrataError('KMS_KEY_NOT_FOUND', `Invalid keyId ${value}`);
    return key;
  }

  // The key new stripes of an object are sealed under: the newest version of the named key, or
  // of the cluster's default key (made here on its first use) when none is named.
  async sealKey(value: string | undefined, context: string | undefined): Promise<KmsSealKey> {
    const key = value === undefined ? await this.defaultKey() : await this.record(value);
    usable(key);
    const latest = key.versions[key.versions.length - 1];
    const place = { keyId: key.id, version: latest.version, context };
    const wrapping = kmsWrappingKey(this.material(key, latest.version), place);
    return context === undefined
      ? { keyId: key.id, version: latest.version, wrapping }
      : { ...place, wrapping };
  }

  async wrappingKey(place: KmsWrapPlace): Promise<MasterKey> {
    const key = await this.record(place.keyId);
    usable(key);
    return kmsWrappingKey(this.material(key, place.version), place);
  }

  // alias/aws/s3, created with new material on first use; two gateways racing make one key (the
  // state machine answers the second with the first's).
  private async defaultKey(): Promise<KmsKeyRecord> {
    const found = await this.metadata.read('kmsKey', DEFAULT_KMS_ALIAS);
    if (found !== undefined && found !== null) return found;
    const material = newKmsMaterial();
    const wrapped = wrapKmsMaterial(this.ring.active, material);
    material.fill(0);
    await this.metadata.apply({
      op: 'createDefaultKmsKey',
      nowMs: Date.now(),
      id: randomUUID(),
      ...wrapped,
    });
    return this.record(DEFAULT_KMS_ALIAS);
  }

  private material(key: KmsKeyRecord, version: number): Buffer {
    const v = key.versions.find((x) => x.version === version);
    if (v === undefined)
      throw new StrataError('KMS_KEY_NOT_FOUND', `KMS key ${key.id} has no version ${version}`);
    const cacheKey = `${key.id}/${version}/${v.masterKeyId}/${v.wrappedMaterial}`;
    const cached = this.materials.get(cacheKey);
    if (cached !== undefined) return cached;
    const material = unwrapKmsMaterial(this.ring, v);
    if (this.materials.size >= MATERIAL_CACHE_MAX) {
      for (const m of this.materials.values()) m.fill(0);
      this.materials.clear();
    }
    this.materials.set(cacheKey, material);
    assert(this.materials.size <= MATERIAL_CACHE_MAX, 'a bounded cache');
    return material;
  }
}

// KMS_KEY_DISABLED or KMS_KEY_INVALID_STATE (pending deletion): AWS's KMS.DisabledException and
// KMS.KMSInvalidStateException.
export function usable(key: KmsKeyRecord): void {
  if (key.state === 'Disabled') throw new StrataError('KMS_KEY_DISABLED', `${key.id} is disabled.`);
  if (key.state === 'PendingDeletion')
    throw new StrataError('KMS_KEY_INVALID_STATE', `${key.id} is pending deletion.`);
  assert.equal(key.state, 'Enabled', 'a KMS key is Enabled, Disabled or PendingDeletion');
}
