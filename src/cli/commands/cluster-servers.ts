// `strata cluster drain | undrain | remove-server SERVER`: the operator's states of a data server,
// proposed through Raft (setServerState). The state machine decides what is allowed (a drain from
// up, suspect or down; removal only of a draining server holding no shard), so these commands
// only propose and report; drain then follows the server's shard count down to zero.
import { setTimeout as sleep } from 'node:timers/promises';
import { MetadataClient } from '../../client/metadata-client.ts';
import type { ServerState } from '../../metadata/types.ts';
import { UsageError } from '../usage.ts';

const PROGRESS_INTERVAL_MS = 1_000;

export const SERVER_COMMANDS = ['drain', 'undrain', 'remove-server'] as const;
export type ServerCommand = (typeof SERVER_COMMANDS)[number];

export function isServerCommand(name: string | undefined): name is ServerCommand {
  return SERVER_COMMANDS.includes(name as ServerCommand);
}

export async function runServerCommand(
  command: ServerCommand,
  serverId: string | undefined,
  options: { addrs: string[]; wait: boolean },
): Promise<number> {
  if (serverId === undefined || serverId === '')
    throw new UsageError(`${command} needs a data server id (see strata cluster status)`);
  const metadata = new MetadataClient(options.addrs);
  try {
    const to: ServerState =
      command === 'drain' ? 'draining' : command === 'undrain' ? 'up' : 'removed';
    await metadata.apply({
      op: 'setServerState',
      nowMs: Date.now(),
      serverId,
      state: to,
      ...(command === 'undrain' ? { ifState: 'draining' as const } : {}),
    });
    if (command === 'undrain') process.stdout.write(`${serverId} is up; its drain is stopped\n`);
    if (command === 'remove-server') process.stdout.write(`${serverId} removed\n`);
    if (command !== 'drain') return 0;
    if (!options.wait) {
      const left = await shardsOn(metadata, serverId);
      process.stdout.write(`${serverId} is draining: ${left} shards to move\n`);
      return 0;
    }
    return await followDrain(metadata, serverId);
  } finally {
    await metadata.close();
  }
}

async function shardsOn(metadata: MetadataClient, serverId: string): Promise<number> {
  const counts = await metadata.read('shardCounts', serverId);
  return counts.reduce((sum, c) => sum + c.shards, 0);
}

// One progress line a second (rewritten in place on a terminal) until the server holds no shard;
// exits 1 if the drain is stopped meanwhile (undrained, or the server removed by someone else).
async function followDrain(metadata: MetadataClient, serverId: string): Promise<number> {
  const tty = process.stdout.isTTY === true;
  const startedMs = Date.now();
  const first = await shardsOn(metadata, serverId);
  let left = first;
  while (left > 0) {
    const moved = first - left;
    const seconds = Math.max(1, (Date.now() - startedMs) / 1000);
    const line =
      `draining ${serverId}: ${left} shards left, ${moved} of ${first} moved ` +
      `(${(moved / seconds).toFixed(1)}/s)`;
    process.stdout.write(tty ? `\r${line}\u001b[K` : `${line}\n`);
    await sleep(PROGRESS_INTERVAL_MS);
    const server = await metadata.read('dataServer', serverId);
    if (server?.state !== 'draining') {
      if (tty) process.stdout.write('\n');
      process.stderr.write(`${serverId} is ${server?.state ?? 'gone'}: the drain was stopped\n`);
      return 1;
    }
    left = await shardsOn(metadata, serverId);
  }
  if (tty) process.stdout.write('\n');
  process.stdout.write(
    `${serverId} drained: it holds no shard; remove it with strata cluster remove-server ${serverId}\n`,
  );
  return 0;
}
