// The process's RPC identity from its configuration: TLS when `[tls]` names a certificate, else
// the cluster token file (docs/guides/security.md).
import assert from 'node:assert';
import { randomBytes, X509Certificate } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { StrataError } from '../common/errors.ts';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../common/private-dir.ts';
import type { StrataConfig } from '../config/schema.ts';
import { isPeerRole, type PeerRole, type RpcSecurity, TOKEN_BYTES } from './security.ts';

export const TOKEN_FILE = 'cluster.token';

export interface SecurityOptions {
  // The role claimed with the token; with TLS the certificate's own role is used.
  role: PeerRole;
  // A server makes the token file at its first start; a client only reads it.
  createToken: boolean;
}

export function rpcSecurityFromConfig(config: StrataConfig, options: SecurityOptions): RpcSecurity {
  const { ca, cert, key } = config.tls;
  if (ca !== '' || cert !== '' || key !== '') return tlsSecurity(ca, cert, key);
  const path = tokenPath(config);
  return { mode: 'token', token: readToken(path, options.createToken), role: options.role };
}

export function tokenPath(config: StrataConfig): string {
  return resolve(config.tls.token_file || join(config.storage.data_dir, TOKEN_FILE));
}

function tlsSecurity(caPath: string, certPath: string, keyPath: string): RpcSecurity {
  if (caPath === '' || certPath === '' || keyPath === '') {
    throw new StrataError('CONFIG_INVALID', 'tls.ca, tls.cert and tls.key are set together');
  }
  const ca = readConfigured(caPath, 'tls.ca');
  const cert = readConfigured(certPath, 'tls.cert');
  const key = readConfigured(keyPath, 'tls.key', true);
  let certificate: X509Certificate;
  let authorities: X509Certificate[];
  try {
    certificate = new X509Certificate(cert);
    // A bundle of CAs is how the CA is rotated (docs/guides/security.md, "Rotation").
    authorities = pemBlocks(ca).map((block) => new X509Certificate(block));
  } catch (error) {
    throw new StrataError('CONFIG_INVALID', `tls: not a PEM certificate: ${error}`);
  }
  // Said at start-up rather than as refused connections later.
  if (!authorities.some((authority) => certificate.verify(authority.publicKey)))
    throw new StrataError('CONFIG_INVALID', `${certPath} is not signed by a CA in ${caPath}`);
  const ou = certificate.subject.split('\n').find((line) => line.startsWith('OU='));
  const role = ou?.slice(3);
  if (!isPeerRole(role))
    throw new StrataError('CONFIG_INVALID', `${certPath} carries no Strata role (subject OU)`);
  if (Date.parse(certificate.validTo) < Date.now())
    throw new StrataError('CONFIG_INVALID', `${certPath} expired on ${certificate.validTo}`);
  return { mode: 'tls', ca, cert, key, role };
}

function pemBlocks(pem: Buffer): string[] {
  const blocks = pem
    .toString()
    .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw new StrataError('CONFIG_INVALID', 'tls.ca holds no PEM certificate');
  return blocks;
}

function readConfigured(path: string, key: string, secret = false): Buffer {
  try {
    if (secret && (statSync(path).mode & 0o077) !== 0) {
      throw new StrataError(
        'CONFIG_INVALID',
        `${key}: ${path} is readable by other users; chmod 600 it`,
      );
    }
    return readFileSync(path);
  } catch (error) {
    if (error instanceof StrataError) throw error;
    throw new StrataError('CONFIG_INVALID', `${key}: cannot read ${path}: ${error}`);
  }
}

function readToken(path: string, create: boolean): Buffer {
  let text: string;
  try {
    // Made 0600; an administrator may share it with a group (non-root mounts), never with all.
    if ((statSync(path).mode & 0o007) !== 0)
      throw new StrataError('CONFIG_INVALID', `${path} is readable by all users; chmod 600 it`);
    text = readFileSync(path, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    if (!create) {
      throw new StrataError(
        'RPC_UNAUTHENTICATED',
        `no cluster credentials: ${path} does not exist. Run this from the server's directory, ` +
          'point tls.token_file (STRATA_TLS_TOKEN_FILE) at its token, or configure [tls] ' +
          '(docs/guides/security.md)',
      );
    }
    return createToken(path);
  }
  const token = Buffer.from(text, 'hex');
  if (token.length !== TOKEN_BYTES || token.toString('hex') !== text.toLowerCase())
    throw new StrataError(
      'CONFIG_INVALID',
      `${path} is not a cluster token (${TOKEN_BYTES} bytes, hex)`,
    );
  return token;
}

// Written whole to a temporary file, then linked into place: a process starting beside this one
// sees no file or the whole token, never half of it.
function createToken(path: string): Buffer {
  mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_DIR_MODE });
  const token = randomBytes(TOKEN_BYTES);
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${token.toString('hex')}\n`, { mode: PRIVATE_FILE_MODE, flag: 'w' });
  try {
    linkSync(temp, path);
  } catch (error) {
    // Another process of the cluster made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return readToken(path, false);
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
  assert(token.length === TOKEN_BYTES);
  return token;
}
