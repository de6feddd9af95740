// Cluster shapes for placement tests: zones x racks x hosts x disks, one server per host.
import fc from 'fast-check';
import type { PlacementServer, ServerState } from '../../../src/metadata/placement/index.ts';

export interface Shape {
  zones: number;
  racksPerZone: number;
  hostsPerRack: number;
  disksPerHost: number;
}

export const diskBytes = 1 << 30;

export function serverOf(zone: number, rack: number, host: number, disks: number): PlacementServer {
  return {
    serverId: `s-${zone}-${rack}-${host}`,
    state: 'up',
    domain: { zone: `z${zone}`, rack: `r${rack}`, host: `h${zone}-${rack}-${host}` },
    disks: Array.from({ length: disks }, (_, disk) => ({
      disk,
      state: 'up' as const,
      capacityBytes: diskBytes,
      freeBytes: diskBytes,
    })),
  };
}

export function cluster(shape: Shape): PlacementServer[] {
  const servers: PlacementServer[] = [];
  for (let z = 0; z < shape.zones; z++) {
    for (let r = 0; r < shape.racksPerZone; r++) {
      for (let h = 0; h < shape.hostsPerRack; h++) {
        servers.push(serverOf(z, r, h, shape.disksPerHost));
      }
    }
  }
  return servers;
}

export const shapeArbitrary: fc.Arbitrary<Shape> = fc.record({
  zones: fc.integer({ min: 1, max: 3 }),
  racksPerZone: fc.integer({ min: 1, max: 3 }),
  hostsPerRack: fc.integer({ min: 1, max: 3 }),
  disksPerHost: fc.integer({ min: 1, max: 4 }),
});

export const profileArbitrary = fc
  .record({ k: fc.integer({ min: 1, max: 6 }), m: fc.integer({ min: 1, max: 3 }) })
  .map(({ k, m }) => ({ k, m, width: k + m }));

// Some servers not up and some disks failed or draining: placement must never choose them.
export const degradeArbitrary = fc.array(
  fc.record({
    server: fc.nat(),
    state: fc.constantFrom<ServerState>('up', 'suspect', 'down', 'draining', 'removed'),
    disk: fc.nat(),
    diskState: fc.constantFrom('up' as const, 'failed' as const, 'draining' as const),
  }),
  { maxLength: 4 },
);

export function degrade(
  servers: PlacementServer[],
  changes: ReadonlyArray<{
    server: number;
    state: ServerState;
    disk: number;
    diskState: 'up' | 'failed' | 'draining';
  }>,
): PlacementServer[] {
  const copy = structuredClone(servers);
  for (const change of changes) {
    const server = copy[change.server % copy.length];
    server.state = change.state;
    const disk = server.disks[change.disk % server.disks.length];
    disk.state = change.diskState;
  }
  return copy;
}

export function stripeIds(count: number, salt = ''): string[] {
  return Array.from({ length: count }, (_, i) => `${salt}${i.toString(16).padStart(32, '0')}`);
}
