// Internal RPC never runs unauthenticated (src/rpc/security.ts). Every process a test starts
// (servers, CLI, mounts, dev clusters) inherits STRATA_TLS_TOKEN_FILE and presents this one
// token, and the test's own in-process clients and servers use it too, as an administrator.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setProcessRpcSecurity } from '../../src/rpc/security.ts';

function sharedTokenFile(): string {
  const inherited = process.env.STRATA_TLS_TOKEN_FILE;
  if (inherited) return inherited;
  const dir = mkdtempSync(join(tmpdir(), 'strata-token-'));
  const path = join(dir, 'cluster.token');
  writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  process.env.STRATA_TLS_TOKEN_FILE = path;
  return path;
}

export const CLUSTER_TOKEN_FILE = sharedTokenFile();
export const CLUSTER_TOKEN = Buffer.from(readFileSync(CLUSTER_TOKEN_FILE, 'utf8').trim(), 'hex');
setProcessRpcSecurity({ mode: 'token', token: CLUSTER_TOKEN, role: 'admin' });
