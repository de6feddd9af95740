// SSE-C in the client: the key a request carries, checked against the record of the object or
// upload it names. The key itself stays in this process for the one request: it is never part
// of a command (the Raft log would keep it), a log line or an error.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import { CUSTOMER_KEY_BYTES, customerKeyMatches, newCustomerKeyId } from '../crypto/index.ts';
import type { SseCustomer } from '../metadata/types.ts';
import type { CustomerKey } from './stripe-crypt.ts';

// A new object's (or upload's) record for `key`, with a fresh salt, and what seals its stripes.
export function newCustomerRecord(key: Buffer): { record: SseCustomer; seal: CustomerKey } {
  assert.equal(key.length, CUSTOMER_KEY_BYTES, 'a 256-bit customer key');
  const keyId = newCustomerKeyId(key);
  return { record: { algorithm: 'AES256', keyId }, seal: { key, keyId } };
}

// What a read or a part write of an object or upload recorded with `record` seals or opens with:
// CUSTOMER_KEY_REQUIRED without a key, CUSTOMER_KEY_MISMATCH with another one, EINVAL for a key
// sent for what has none.
export function checkCustomerKey(
  record: SseCustomer | undefined,
  key: Buffer | undefined,
  what: string,
): CustomerKey | undefined {
  if (record === undefined) {
    if (key !== undefined)
      throw new StrataError('EINVAL', `${what} is not encrypted with a customer-provided key`);
    return undefined;
  }
  if (key === undefined) {
    throw new StrataError(
      'CUSTOMER_KEY_REQUIRED',
      `${what} is encrypted with a customer-provided key (SSE-C): the request must carry it`,
    );
  }
  if (key.length !== CUSTOMER_KEY_BYTES || !customerKeyMatches(key, record.keyId)) {
    throw new StrataError(
      'CUSTOMER_KEY_MISMATCH',
      `the customer-provided key is not the one ${what} was written with`,
    );
  }
  return { key, keyId: record.keyId };
}

// Whether `key` is the one `record` was made from (a copy with the same key shares stripes).
export function sameCustomerKey(record: SseCustomer | undefined, key: Buffer | undefined): boolean {
  if (record === undefined || key === undefined || key.length !== CUSTOMER_KEY_BYTES) return false;
  return customerKeyMatches(key, record.keyId);
}
