// Test certificates: a cluster CA with one certificate per role, and a second, foreign CA.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCertificateAuthority, issueCertificate } from '../../src/rpc/certificates.ts';
import { PEER_ROLES, type PeerRole, type RpcSecurity } from '../../src/rpc/security.ts';
import { tempDir } from './server.ts';

export interface TestCa {
  dir: string;
  // The files of a role's certificate, as [tls] or STRATA_TLS_* take them.
  files(role: PeerRole): { ca: string; cert: string; key: string };
  env(role: PeerRole): Record<string, string>;
  security(role: PeerRole): RpcSecurity;
}

export function testCa(prefix = 'strata-ca-'): TestCa {
  const dir = tempDir(prefix);
  initCertificateAuthority(dir);
  for (const role of PEER_ROLES) issueCertificate(dir, `${role}-1`, role, ['127.0.0.1']);
  const files = (role: PeerRole) => ({
    ca: join(dir, 'ca.crt'),
    cert: join(dir, `${role}-1.crt`),
    key: join(dir, `${role}-1.key`),
  });
  return {
    dir,
    files,
    env(role) {
      const f = files(role);
      return { STRATA_TLS_CA: f.ca, STRATA_TLS_CERT: f.cert, STRATA_TLS_KEY: f.key };
    },
    security(role) {
      const f = files(role);
      const [ca, cert, key] = [f.ca, f.cert, f.key].map((p) => readFileSync(p));
      return { mode: 'tls', ca, cert, key, role };
    },
  };
}
