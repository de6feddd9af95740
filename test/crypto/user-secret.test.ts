// A user's secret sealed by the master key (src/crypto/user-secret.ts): it unseals under the
// same master key and access key id only; another key id (a sealed secret moved to another
// access key), an altered byte or a missing master key are refused, and sealing is deterministic
// (the leader compares a configured secret with the stored one without unsealing it).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { isStrataError } from '../../src/common/errors.ts';
import { keyring, sealUserSecret, unsealUserSecret } from '../../src/crypto/index.ts';

const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 'none';
  } catch (error) {
    assert.ok(isStrataError(error), String(error));
    return error.code;
  }
};

test('a sealed secret unseals under its master key and access key id only', () => {
  const ring = keyring([randomBytes(32), randomBytes(32)]);
  for (const secret of ['12345678', 'a'.repeat(256), 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']) {
    const sealed = sealUserSecret(ring.active, 'AKIDEXAMPLE', secret);
    assert.equal(sealed.masterKeyId, ring.active.id);
    assert.ok(!Buffer.from(sealed.wrappedSecret, 'base64').includes(Buffer.from(secret)));
    assert.equal(unsealUserSecret(ring, 'AKIDEXAMPLE', sealed), secret);
    assert.deepEqual(sealUserSecret(ring.active, 'AKIDEXAMPLE', secret), sealed, 'deterministic');
    assert.equal(
      codeOf(() => unsealUserSecret(ring, 'AKIDOTHER', sealed)),
      'ENCRYPTION_AUTH_FAILED',
    );
    const bytes = Buffer.from(sealed.wrappedSecret, 'base64');
    bytes[3] ^= 1;
    const altered = { ...sealed, wrappedSecret: bytes.toString('base64') };
    assert.equal(
      codeOf(() => unsealUserSecret(ring, 'AKIDEXAMPLE', altered)),
      'ENCRYPTION_AUTH_FAILED',
    );
    const other = keyring([randomBytes(32)]);
    assert.equal(
      codeOf(() => unsealUserSecret(other, 'AKIDEXAMPLE', sealed)),
      'ENCRYPTION_KEY_UNAVAILABLE',
    );
  }
});
