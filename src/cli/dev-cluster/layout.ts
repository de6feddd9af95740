// DIR/cluster.json: the options (and the ports picked, with --base-port 0) a dev cluster's
// directory was made with. A second start on the directory restarts the same cluster on the same
// addresses (Raft members know each other by address); other counts are refused rather than
// joining new processes to an old cluster.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../usage.ts';
import type { DevClusterOptions } from './plan.ts';

interface Layout {
  metadata: number;
  data: number;
  gateways: number;
  basePort: number;
  ports: number[];
}

export function layoutPath(dir: string): string {
  return join(dir, 'cluster.json');
}

// The ports of an earlier start on this directory, or undefined for a new one.
export function recordedPorts(o: DevClusterOptions): number[] | undefined {
  const path = layoutPath(o.dir);
  if (!existsSync(path)) return undefined;
  const before = JSON.parse(readFileSync(path, 'utf8')) as Layout;
  const same =
    before.metadata === o.metadata &&
    before.data === o.data &&
    before.gateways === o.gateways &&
    before.basePort === o.basePort;
  if (!same)
    throw new UsageError(
      `${o.dir} holds a dev cluster made with --metadata ${before.metadata} --data ${before.data} ` +
        `--gateways ${before.gateways} --base-port ${before.basePort}: start it with those, or ` +
        'remove the directory (or pick another with --dir)',
    );
  return before.ports;
}

export function recordLayout(o: DevClusterOptions, ports: number[]): void {
  const layout: Layout = {
    metadata: o.metadata,
    data: o.data,
    gateways: o.gateways,
    basePort: o.basePort,
    ports,
  };
  writeFileSync(layoutPath(o.dir), `${JSON.stringify(layout)}\n`);
}
