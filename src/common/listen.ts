import type { Server } from 'node:net';
import { StrataError } from './errors.ts';

// Starts a TCP (or HTTP) server listening and resolves with the address it got, so that port 0
// works everywhere and a bind error (EADDRINUSE) rejects instead of being thrown later.
export async function listen(
  server: Server,
  host: string,
  port: number,
): Promise<{ host: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(explain(error, host, port)));
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (!address || typeof address === 'string')
    throw new StrataError('INTERNAL', 'the server has no TCP address');
  return { host: address.address, port: address.port };
}

// Bind failures are the operator's to fix: say which address and what to do.
function explain(error: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host}:${port}`;
  if (error.code === 'EADDRINUSE') {
    return new StrataError(
      'EBUSY',
      `cannot listen on ${where}: the address is in use (another server? pick another port)`,
    );
  }
  if (error.code === 'EACCES') {
    return new StrataError(
      'EACCES',
      `cannot listen on ${where}: permission denied (ports below 1024 need privileges)`,
    );
  }
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
    return new StrataError('EINVAL', `cannot listen on ${where}: no such local address`);
  }
  return error;
}
