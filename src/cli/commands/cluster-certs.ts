// `strata cluster certs init|issue`: the cluster CA and the members' certificates for TLS on
// internal RPC (docs/guides/security.md).
import { resolve } from 'node:path';
import { initCertificateAuthority, issueCertificate, MEMBER_DAYS } from '../../rpc/certificates.ts';
import { isPeerRole, PEER_ROLES } from '../../rpc/security.ts';
import { parse, UsageError } from '../usage.ts';

export const CERTS_HELP = `Usage: strata cluster certs init [--dir DIR]
       strata cluster certs issue NAME --role ROLE [--host H[,H...]] [--dir DIR]

init creates the cluster CA in DIR (default ./strata-certs): ca.key (mode 0600; keep it offline
once the members' certificates are issued) and ca.crt (every member's tls.ca).
issue creates NAME.crt and NAME.key (0600) signed by that CA, for one process, valid
${MEMBER_DAYS} days. ROLE decides which internal calls it may make: ${PEER_ROLES.join(', ')}
(metadata for a combined node). --host adds DNS names or IP addresses it is reached at.
Point the process's [tls] ca, cert and key (STRATA_TLS_CA, STRATA_TLS_CERT, STRATA_TLS_KEY) at
the files. Needs the openssl command.`;

export async function runCerts(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    dir: { type: 'string' },
    role: { type: 'string' },
    host: { type: 'string' },
  });
  if (values.help || positionals.length === 0) {
    process.stdout.write(`${CERTS_HELP}\n`);
    return values.help ? 0 : 2;
  }
  const dir = resolve(values.dir ?? 'strata-certs');
  if (positionals[0] === 'init') {
    if (positionals.length !== 1) throw new UsageError('certs init takes no argument');
    const { cert, key } = initCertificateAuthority(dir);
    process.stdout.write(`created the cluster CA: ${cert}\n  its key: ${key} (0600)\n`);
    return 0;
  }
  if (positionals[0] !== 'issue') throw new UsageError(`unknown certs command: ${positionals[0]}`);
  const name = positionals[1];
  if (name === undefined || positionals.length !== 2)
    throw new UsageError('certs issue takes one NAME');
  if (!isPeerRole(values.role))
    throw new UsageError(`certs issue needs --role, one of ${PEER_ROLES.join(', ')}`);
  const hosts = values.host ? values.host.split(',').map((h) => h.trim()) : [];
  const { cert, key } = issueCertificate(dir, name, values.role, hosts);
  process.stdout.write(
    `issued ${name} (role ${values.role}): ${cert}\n  its key: ${key} (0600)\n` +
      `  [tls] ca = "${resolve(dir, 'ca.crt')}", cert = "${cert}", key = "${key}"\n`,
  );
  return 0;
}
