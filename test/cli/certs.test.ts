// `strata cluster certs init|issue`: the cluster CA and members' certificates, as an operator
// makes them.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runProcess } from '../helpers/process.ts';
import { STRATA_BIN, tempDir } from '../helpers/server.ts';

const strata = (...args: string[]) => runProcess(process.execPath, [STRATA_BIN, ...args]);
const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('strata cluster certs', () => {
  const dir = join(tempDir('strata-certs-'), 'certs');

  test('init creates the CA, its key readable by its owner only', async () => {
    const result = await strata('cluster', 'certs', 'init', '--dir', dir);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(modeOf(join(dir, 'ca.key')), 0o600);
    assert.equal(modeOf(dir), 0o700);
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    assert.ok(ca.ca, 'a CA certificate');
  });

  test('init refuses to replace an existing CA', async () => {
    const before = readFileSync(join(dir, 'ca.key'));
    const result = await strata('cluster', 'certs', 'init', '--dir', dir);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /holds a CA already/);
    assert.ok(readFileSync(join(dir, 'ca.key')).equals(before), 'the CA key is untouched');
  });

  test('issue signs a certificate that carries its role', async () => {
    const result = await strata(
      ...['cluster', 'certs', 'issue', 'mount-7', '--role', 'mount'],
      ...['--host', '10.0.0.7,fs7.example.com', '--dir', dir],
    );
    assert.equal(result.status, 0, result.stderr);
    assert.equal(modeOf(join(dir, 'mount-7.key')), 0o600);
    const cert = new X509Certificate(readFileSync(join(dir, 'mount-7.crt')));
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    assert.ok(cert.verify(ca.publicKey), 'signed by the cluster CA');
    assert.ok(cert.subject.split('\n').includes('OU=mount'), cert.subject);
    assert.match(cert.subjectAltName ?? '', /URI:strata:role:mount/);
    assert.match(cert.subjectAltName ?? '', /IP Address:10\.0\.0\.7/);
    assert.match(cert.subjectAltName ?? '', /DNS:fs7\.example\.com/);
    assert.ok(!cert.ca);
  });

  test('issue refuses an unknown role and an existing name', async () => {
    const badRole = await strata('cluster', 'certs', 'issue', 'x', '--role', 'root', '--dir', dir);
    assert.equal(badRole.status, 2);
    assert.match(badRole.stderr, /--role, one of metadata, data, gateway, mount, admin/);
    const again = await strata(
      'cluster',
      'certs',
      'issue',
      'mount-7',
      '--role',
      'mount',
      '--dir',
      dir,
    );
    assert.equal(again.status, 1);
    assert.match(again.stderr, /exists/);
  });

  test('issue without a CA says to run init first', async () => {
    const empty = tempDir('strata-no-ca-');
    const result = await strata(
      'cluster',
      'certs',
      'issue',
      'a',
      '--role',
      'admin',
      '--dir',
      empty,
    );
    assert.equal(result.status, 1);
    assert.match(result.stderr, /certs init first/);
  });
});
