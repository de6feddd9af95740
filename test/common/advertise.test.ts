import assert from 'node:assert/strict';
import { test } from 'node:test';
import { advertisedAddr, joinAddr, splitAddr } from '../../src/common/advertise.ts';

test('unset, the bound address is advertised, a wildcard host replaced by the hostname', () => {
  assert.equal(advertisedAddr('', { host: '127.0.0.1', port: 9000 }, 'node1'), '127.0.0.1:9000');
  assert.equal(advertisedAddr('', { host: '0.0.0.0', port: 9000 }, 'node1'), 'node1:9000');
  assert.equal(advertisedAddr('', { host: '::', port: 9001 }, 'node1'), 'node1:9001');
  assert.equal(advertisedAddr('', { host: '::1', port: 9001 }, 'node1'), '[::1]:9001');
});

test('set, it is used as given, port 0 meaning the port bound', () => {
  const bound = { host: '0.0.0.0', port: 41234 };
  assert.equal(advertisedAddr('meta1.example:9000', bound, 'h'), 'meta1.example:9000');
  assert.equal(advertisedAddr('meta1.example:0', bound, 'h'), 'meta1.example:41234');
  assert.equal(advertisedAddr('[fd00::1]:0', bound, 'h'), '[fd00::1]:41234');
});

test('addresses split and join back, IPv6 in brackets', () => {
  for (const addr of ['127.0.0.1:9000', 'node2:9000', '[fd00::1]:9002']) {
    const { host, port } = splitAddr(addr);
    assert.equal(joinAddr(host, port), addr);
  }
});
