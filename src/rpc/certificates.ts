// The cluster CA and the members' certificates (`strata cluster certs init|issue`).
//
// Keys come from Node (generateKeyPairSync, ECDSA P-256). Node parses X.509 but cannot write
// it, so the certificates are signed by the `openssl` command (OpenSSL 1.1.1 or 3.x, installed
// on every Linux distribution Strata runs on) with a configuration file we write, rather than by
// an npm dependency: it is the tool operators already trust and audit for this, and only these
// two commands need it, never a running server.
import assert from 'node:assert';
import { execFileSync } from 'node:child_process';
import {
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StrataError } from '../common/errors.ts';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../common/private-dir.ts';
import { isPeerRole, type PeerRole } from './security.ts';

export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
const CA_DAYS = 3650;
// Members' certificates are short-lived beside the CA's: rotation is re-issuing (docs/guides/
// security.md, "Rotation"). 825 days is the longest lifetime browsers' rules ever allowed.
export const MEMBER_DAYS = 825;
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HOST_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

export interface IssuedFiles {
  cert: string;
  key: string;
}

// Creates the CA in `dir` (0700): ca.key (0600) and ca.crt. Refuses to replace an existing one:
// every member's certificate hangs on it.
export function initCertificateAuthority(dir: string): { cert: string; key: string } {
  ensurePrivateDir(dir);
  const cert = join(dir, CA_CERT_FILE);
  const key = join(dir, CA_KEY_FILE);
  if (existsSync(key) || existsSync(cert))
    throw new StrataError('EEXIST', `${dir} holds a CA already (${CA_KEY_FILE}); not replaced`);
  writePrivateKey(key);
  withOpenSslConfig(caConfig(), (config) =>
    openssl(
      ['req', '-x509', '-new', '-config', config, '-extensions', 'v3_ca', '-key', key].concat([
        '-sha256',
        '-days',
        String(CA_DAYS),
        '-set_serial',
        serial(),
        '-out',
        cert,
      ]),
    ),
  );
  const ca = new X509Certificate(readFileSync(cert));
  assert(ca.ca && ca.checkPrivateKey(privateKeyOf(key)), 'the CA certificate matches its key');
  return { cert, key };
}

// Issues `<dir>/<name>.crt` and `<name>.key` (0600) for a member with `role`, signed by the CA in
// `dir`. `hosts` become subject alternative names (DNS or IP) beside the name.
export function issueCertificate(
  dir: string,
  name: string,
  role: PeerRole,
  hosts: string[] = [],
): IssuedFiles {
  if (!NAME_PATTERN.test(name))
    throw new StrataError('EINVAL', `a node name is letters, digits, . _ -: got "${name}"`);
  if (!isPeerRole(role)) throw new StrataError('EINVAL', `unknown role ${role}`);
  for (const host of hosts) {
    if (!isIP(host) && !HOST_PATTERN.test(host))
      throw new StrataError('EINVAL', `not a host name or IP address: "${host}"`);
  }
  const caCert = join(dir, CA_CERT_FILE);
  const caKey = join(dir, CA_KEY_FILE);
  if (!existsSync(caKey))
    throw new StrataError('ENOENT', `no CA in ${dir} (run strata cluster certs init first)`);
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  if (existsSync(key) || existsSync(cert))
    throw new StrataError('EEXIST', `${cert} exists; remove it to issue a new one`);
  writePrivateKey(key);
  withOpenSslConfig(memberConfig(name, role, hosts), (config) => {
    const csr = openssl(['req', '-new', '-config', config, '-key', key]);
    openssl(
      ['x509', '-req', '-CA', caCert, '-CAkey', caKey, '-set_serial', serial()].concat(
        ['-days', String(MEMBER_DAYS), '-sha256', '-extfile', config, '-extensions', 'v3_member'],
        ['-out', cert],
      ),
      csr,
    );
  });
  const issued = new X509Certificate(readFileSync(cert));
  assert(issued.verify(new X509Certificate(readFileSync(caCert)).publicKey), 'the CA signed it');
  assert(issued.subject.split('\n').includes(`OU=${role}`), 'the certificate carries its role');
  return { cert, key };
}

function writePrivateKey(path: string): void {
  const { privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  // 'wx': never over an existing key; the mode is set at creation, before any byte is written.
  writeFileSync(path, privateKey, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
}

function privateKeyOf(path: string): KeyObject {
  return createPrivateKey(readFileSync(path));
}

function serial(): string {
  // Positive 127-bit serial numbers (RFC 5280 4.1.2.2: unique per CA, at most 20 bytes).
  const bytes = randomBytes(16);
  bytes[0] &= 0x7f;
  return `0x${bytes.toString('hex')}`;
}

function caConfig(): string {
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'O = Strata',
    'CN = Strata cluster CA',
    '[v3_ca]',
    'basicConstraints = critical,CA:TRUE,pathlen:0',
    'keyUsage = critical,keyCertSign,cRLSign',
    'subjectKeyIdentifier = hash',
    '',
  ].join('\n');
}

function memberConfig(name: string, role: PeerRole, hosts: string[]): string {
  const names = [`URI:strata:role:${role}`, `DNS:${name}`].concat(
    hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)),
  );
  return [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'O = Strata',
    `OU = ${role}`,
    `CN = ${name}`,
    '[v3_member]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature',
    // Members are servers to some and clients to others, on the same certificate.
    'extendedKeyUsage = serverAuth,clientAuth',
    `subjectAltName = ${names.join(',')}`,
    'authorityKeyIdentifier = keyid',
    '',
  ].join('\n');
}

function withOpenSslConfig<T>(text: string, use: (path: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'strata-certs-'));
  try {
    const path = join(dir, 'openssl.cnf');
    writeFileSync(path, text, { mode: PRIVATE_FILE_MODE });
    return use(path);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function openssl(args: string[], input?: Buffer): Buffer {
  try {
    return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT')
      throw new StrataError('ENOENT', 'the openssl command is needed to sign certificates');
    throw new StrataError('EIO', `openssl ${args[0]} failed: ${e.stderr?.toString().trim()}`);
  }
}
