import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checksumBase64 } from '../../src/auth/checksums.ts';
import { Crc64Nvme } from '../../src/auth/crc64nvme.ts';

const hex = (data: Uint8Array) => new Crc64Nvme().update(data).digest().toString('hex');

test('CRC64NVME matches the published vectors (AWS checksums, SPDK, the NVMe spec)', () => {
  assert.equal(hex(new Uint8Array(32)), 'cf3473434d4ecf3b');
  assert.equal(hex(new Uint8Array(4096)), '6482d367eb22b64e');
  assert.equal(hex(new Uint8Array(4096).fill(0xff)), 'c0ddba7302eca3ac');
  assert.equal(hex(Buffer.from('123456789')), 'ae8b14860a799888');
  assert.equal(checksumBase64('CRC64NVME', Buffer.from('Hello, World!\n')), 'SoXXbx67KpE=');
});

test('CRC64NVME is the same however the input is split', () => {
  const data = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) & 0xff));
  const whole = hex(data);
  for (const cut of [0, 1, 7, 500, 999]) {
    const crc = new Crc64Nvme().update(data.subarray(0, cut)).update(data.subarray(cut));
    assert.equal(crc.digest().toString('hex'), whole, `cut ${cut}`);
  }
});
