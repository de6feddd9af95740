import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import {
  keyring,
  loadAtRest,
  loadOrCreateKeyFile,
  newDataKey,
  newMasterKey,
  readKeyFile,
  unwrapDataKey,
  wrapDataKey,
  writeKeyFile,
} from '../../src/crypto/index.ts';

describe('master keys and data keys', () => {
  test('a data key wraps and unwraps under its master key, and only under it', () => {
    const old = newMasterKey();
    const ring = keyring([old]);
    const dataKey = newDataKey();
    const wrapped = wrapDataKey(ring.active, dataKey);
    assert.equal(wrapped.keyId, ring.active.id);
    assert.equal(Buffer.from(wrapped.wrappedKey, 'base64').includes(dataKey), false);
    assert.deepEqual(unwrapDataKey(ring, wrapped), dataKey);
    // Re-wrapped under a new master key (a rotation): the data key is the same.
    const rotated = keyring([newMasterKey(), old]);
    const rewrapped = wrapDataKey(rotated.active, unwrapDataKey(rotated, wrapped));
    assert.notEqual(rewrapped.keyId, wrapped.keyId);
    assert.deepEqual(unwrapDataKey(keyring([rotated.active.key]), rewrapped), dataKey);
    // The old master alone cannot unwrap it.
    assert.throws(
      () => unwrapDataKey(keyring([old]), rewrapped),
      (e) => isStrataError(e, 'ENCRYPTION_KEY_UNAVAILABLE'),
    );
    const bytes = Buffer.from(wrapped.wrappedKey, 'base64');
    bytes[5] ^= 1;
    assert.throws(
      () => unwrapDataKey(ring, { ...wrapped, wrappedKey: bytes.toString('base64') }),
      (e) => isStrataError(e, 'ENCRYPTION_AUTH_FAILED'),
    );
  });

  test('a key file is created 0600, read back, and refused when others may read it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-keys-'));
    const path = join(dir, 'master.key');
    const first = loadOrCreateKeyFile(path);
    assert.equal(first.created, true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const again = loadOrCreateKeyFile(path);
    assert.equal(again.created, false);
    assert.equal(again.ring.active.id, first.ring.active.id);
    chmodSync(path, 0o644);
    assert.throws(
      () => readKeyFile(path),
      (e) => isStrataError(e, 'CONFIG_INVALID'),
    );
    writeFileSync(join(dir, 'bad.key'), 'not a key\n', { mode: 0o600 });
    assert.throws(
      () => readKeyFile(join(dir, 'bad.key')),
      (e) => isStrataError(e, 'CONFIG_INVALID'),
    );
    // Several keys: the first is active, all unwrap.
    const keys = [newMasterKey(), newMasterKey()];
    writeKeyFile(join(dir, 'two.key'), keys);
    const ring = readKeyFile(join(dir, 'two.key'));
    assert.equal(ring.byId.size, 2);
    assert.equal(ring.active.id, keyring([keys[0]]).active.id);
  });

  test('a gateway never makes its own key file; a single node does; off, an existing one still unwraps', () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-at-rest-'));
    const keyFile = join(dir, 'master.key');
    const settings = { cipher: 'aes-256-gcm' as const, keyFile };
    assert.deepEqual(loadAtRest({ ...settings, enabled: false, createKeyFile: true }), {
      atRest: undefined,
      createdKeyFile: false,
    });
    assert.throws(
      () => loadAtRest({ ...settings, enabled: true, createKeyFile: false }),
      (e) => isStrataError(e, 'CONFIG_INVALID'),
    );
    const made = loadAtRest({ ...settings, enabled: true, createKeyFile: true });
    assert.equal(made.createdKeyFile, true);
    assert.equal(made.atRest?.sealNew, true);
    const off = loadAtRest({ ...settings, enabled: false, createKeyFile: false });
    assert.equal(off.atRest?.sealNew, false, 'reads sealed stripes, seals nothing new');
    assert.equal(off.atRest?.ring.active.id, made.atRest?.ring.active.id);
  });
});
