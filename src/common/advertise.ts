// The address a service tells others to reach it at. A listener bound to a wildcard host
// (0.0.0.0, ::) accepts on every interface, but "0.0.0.0:9000" means nothing to another machine:
// unless an advertise address is configured, the machine's hostname stands in for the wildcard.

export function splitAddr(addr: string): { host: string; port: number } {
  const at = addr.lastIndexOf(':');
  return { host: addr.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(addr.slice(at + 1)) };
}

export function joinAddr(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function isWildcardHost(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::' || host === '[::]';
}

// `configured` is the advertise_addr key ("" when unset); port 0 there means the bound port.
export function advertisedAddr(
  configured: string,
  bound: { host: string; port: number },
  hostname: string,
): string {
  if (configured !== '') {
    const { host, port } = splitAddr(configured);
    return joinAddr(host, port === 0 ? bound.port : port);
  }
  return joinAddr(isWildcardHost(bound.host) ? hostname : bound.host, bound.port);
}
