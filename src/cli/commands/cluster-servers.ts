// `strata cluster drain | undrain | remove-server SERVER`: the operator's states of a data server,
// proposed through Raft (setServerState). The state machine decides what is allowed (a drain from
// up, suspect or down; removal only of a draining server holding no shard), so these commands
// only propose and report; drain then follows the server's shard count down to zero.
import { setTimeout as sleep } from 'node:timers/promises';
import { MetadataClient } from '../../client/metadata-client.ts';
import type { ServerState } from '../../metadata/types.ts';
import { progressReporter } from '../progress.ts';
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

// Progress once a second (a bar rewritten in place on a terminal, a line each when piped) until
// the server holds no shard; exits 1 if the drain is stopped meanwhile (undrained, or the server
// removed by someone else).
async function followDrain(metadata: MetadataClient, serverId: string): Promise<number> {
  const first = await shardsOn(metadata, serverId);
  const progress = progressReporter({
    label: `draining ${serverId}`,
    unit: 'count',
    total: first,
    noun: 'moved',
    stream: process.stdout,
    lineIntervalMs: PROGRESS_INTERVAL_MS,
  });
  let left = first;
  // Shards may still arrive after the drain began (a write or a repair placed before it was
  // applied): the total grows with them, so progress never goes backwards.
  let total = first;
  while (left > 0) {
    total = Math.max(total, left);
    progress.update(total - left, { total, note: `${left} shards left` });
    await sleep(PROGRESS_INTERVAL_MS);
    const server = await metadata.read('dataServer', serverId);
    if (server?.state !== 'draining') {
      progress.finish();
      process.stderr.write(`${serverId} is ${server?.state ?? 'gone'}: the drain was stopped\n`);
      return 1;
    }
    left = await shardsOn(metadata, serverId);
  }
  progress.update(total, { note: '0 shards left' });
  progress.finish();
  process.stdout.write(
    `${serverId} drained: it holds no shard; remove it with strata cluster remove-server ${serverId}\n`,
  );
  return 0;
}
