// Free TCP ports on 127.0.0.1 for processes about to start (a dev cluster, the tests' clusters).
// Each is listened on, then all are released together. Taken below the system's ephemeral range
// where it has one (Linux): a port the kernel hands out for listen(0) or an outgoing connection can
// be taken by anything on the machine between the release and the process's listen (a data server
// of a dev cluster, and a member of the scale test's cluster, failed so in CI, "address in use");
// below the range only a process naming that very port can. Ports handed out by this process are
// not handed out again for a while, so separate calls do not return the same port before its
// process has listened on it.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

// How many recently handed-out ports are kept from being handed out again.
const RECENT_PORTS_MAX = 4096;
const recent = new Set<number>(); // oldest first

export async function freePorts(n: number): Promise<number[]> {
  const low = ephemeralLow();
  const ports: number[] = [];
  const held: Server[] = [];
  if (low !== undefined && low - FIRST_UNPRIVILEGED_PORT > n * 4) {
    const span = low - FIRST_UNPRIVILEGED_PORT;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span && ports.length < n; i++) {
      const port = FIRST_UNPRIVILEGED_PORT + ((start + i) % span);
      if (recent.has(port)) continue;
      const server = await listening(port);
      if (server === undefined) continue;
      held.push(server);
      ports.push(port);
    }
  }
  while (ports.length < n) {
    const server = await listening(0);
    if (server === undefined) throw new Error('no free port on 127.0.0.1');
    held.push(server);
    ports.push((server.address() as { port: number }).port);
  }
  await Promise.all(held.map((s) => new Promise((done) => s.close(done))));
  for (const port of ports) {
    recent.add(port);
    if (recent.size > RECENT_PORTS_MAX) recent.delete(recent.values().next().value as number);
  }
  return ports;
}

const FIRST_UNPRIVILEGED_PORT = 1024;

// The first port of the system's ephemeral range, where it says (Linux).
function ephemeralLow(): number | undefined {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    const port = Number(low);
    return Number.isInteger(port) && port > FIRST_UNPRIVILEGED_PORT ? port : undefined;
  } catch {
    return undefined;
  }
}

// A server listening on 127.0.0.1:port (0: any), or undefined when that port is taken.
function listening(port: number): Promise<Server | undefined> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(undefined));
    server.listen(port, '127.0.0.1', () => done(server));
  });
}
