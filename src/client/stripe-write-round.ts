import assert from 'node:assert';
import type { ShardLocation } from '../metadata/types.ts';
import type { DataPool } from './data-pool.ts';
import type { SendTracker } from './send-tracker.ts';

// A shard write gives up well before the RPC default (30 s): the stripe commits at its quorum
// without a silent server, and a pending write holds a shard's buffer.
const SHARD_WRITE_TIMEOUT_MS = 10_000;
// Once the quorum is durable, the remaining shards get this long to land before the stripe is
// returned without them: a healthy server answers well within it, a hung one never does.
const STRAGGLER_GRACE_MS = 1_000;

export interface ShardAssignment {
  index: number;
  target: ShardLocation;
}

export type ShardWriteOutcome =
  | (ShardAssignment & { state: 'ok'; version: number })
  | (ShardAssignment & { state: 'failed'; error: unknown })
  | (ShardAssignment & { state: 'pending' }); // unanswered when the round ended; may yet land

// Writes buffers[a.index] to a.target for each assignment, in parallel. Resolves when every
// write has settled, or STRAGGLER_GRACE_MS after `okNeeded` of them succeeded, whichever comes
// first; a write still pending then is reported to the health view as abandoned and left to
// finish or time out on its own.
export function writeShards(
  pool: DataPool,
  stripeId: string,
  assignments: ShardAssignment[],
  buffers: Buffer[],
  okNeeded: number,
  sends?: SendTracker, // each write's send is counted here until the socket is done with it
): Promise<ShardWriteOutcome[]> {
  const outcomes: ShardWriteOutcome[] = assignments.map((a) => ({ ...a, state: 'pending' }));
  if (assignments.length === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    let done = false;
    let grace: NodeJS.Timeout | undefined;
    const end = () => {
      if (done) return;
      done = true;
      clearTimeout(grace);
      for (const o of outcomes) if (o.state === 'pending') pool.reportAbandoned(o.target.serverId);
      resolve(outcomes.map((o) => ({ ...o })));
    };
    const check = () => {
      if (done) return;
      if (outcomes.every((o) => o.state !== 'pending')) return end();
      const ok = outcomes.filter((o) => o.state === 'ok').length;
      if (ok >= okNeeded && grace === undefined) grace = setTimeout(end, STRAGGLER_GRACE_MS);
    };
    assignments.forEach((a, at) => {
      assert(a.index >= 0 && a.index < buffers.length, 'a shard of the stripe');
      putShard(pool, stripeId, a, buffers[a.index], sends?.begin()).then(
        (version) => {
          outcomes[at] = { ...a, state: 'ok', version };
          check();
        },
        (error) => {
          outcomes[at] = { ...a, state: 'failed', error };
          check();
        },
      );
    });
    check();
  });
}

async function putShard(
  pool: DataPool,
  stripeId: string,
  { index, target }: ShardAssignment,
  body: Buffer,
  bodySent?: () => void, // begun by the caller before this awaits anything
): Promise<number> {
  try {
    let client: Awaited<ReturnType<DataPool['client']>>;
    try {
      client = await pool.client(target.serverId);
    } catch (error) {
      bodySent?.(); // never sent
      throw error;
    }
    const reply = await client.putShard({ stripeId, shardIndex: index, disk: target.disk }, body, {
      timeoutMs: SHARD_WRITE_TIMEOUT_MS,
      bodySent,
    });
    pool.report(target.serverId, undefined);
    return reply.version ?? 1; // servers before format 2 do not say
  } catch (error) {
    pool.report(target.serverId, undefined, error);
    throw error;
  }
}
