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
    server.once('error', reject);
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
