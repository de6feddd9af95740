import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { freePorts } from '../../src/common/free-ports.ts';

const ephemeralLow = Number(
  readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0],
);

const listenable = (port: number) =>
  new Promise<boolean>((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });

test('free ports lie below the ephemeral range, are free, and are not handed out twice', async () => {
  const first = await freePorts(20);
  const second = await freePorts(20);
  const singles = [...(await freePorts(1)), ...(await freePorts(1)), ...(await freePorts(1))];
  const all = [...first, ...second, ...singles];
  assert.equal(new Set(all).size, all.length, 'no port twice');
  for (const port of all) {
    assert.ok(port >= 1024 && port < ephemeralLow, `${port} below ${ephemeralLow}`);
    assert.ok(await listenable(port), `${port} free`);
  }
});
