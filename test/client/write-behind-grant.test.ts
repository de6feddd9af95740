// A directory grant whose answer never reaches the mount (the service applied it, and its answers
// were lost until the client library's deadline passed): the mount asks again until answered, learns that it holds the directory, and gives
// it back once idle, so another client's change there goes through. Before, the mount took the
// lost answer for a refusal, never sent a batch for the directory, so never heard that others
// wanted it, and the cluster kept it for the mount for as long as the mount lived.
// The mount's write-behind (src/client/write-behind.ts) runs here over a real server, its
// metadata connection through a TCP relay that loses the service's answers for a while from the
// grant's on.
import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/index.ts';
import { MetadataClient } from '../../src/client/metadata-client.ts';
import { WriteBehind } from '../../src/client/write-behind.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';
import { until } from '../helpers/wait.ts';

// Forwards to `target`; once armed, from the first answer after a request naming `marker` on,
// the answers are lost for `lostMs`.
function relay(target: string, marker: string, lostMs: number) {
  const state = { armed: false, sawMarker: false, losingUntilMs: 0, lost: 0 };
  const at = target.lastIndexOf(':');
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(Number(target.slice(at + 1)), target.slice(0, at));
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('data', (chunk: Buffer) => {
      if (state.armed && chunk.includes(marker)) state.sawMarker = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (state.armed && state.sawMarker) {
        state.armed = false;
        state.losingUntilMs = Date.now() + lostMs;
      }
      if (Date.now() < state.losingUntilMs) {
        state.lost += 1;
        return;
      }
      client.write(chunk);
    });
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  return {
    state,
    async listen(): Promise<string> {
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const address = server.address();
      assert(address !== null && typeof address === 'object');
      return `127.0.0.1:${address.port}`;
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

const HOLDER_DEADLINE_MS = 1_000;

// In a describe: its hooks run before the server helper's file-level one, which kills what is
// left running.
describe('write-behind and a lost directory grant', () => {
  let server: StrataProcess;
  let holder: MetadataClient;
  let other: StrataClient;
  let lossy: ReturnType<typeof relay>;
  before(async () => {
    server = await startStrata();
    // The holder's answers are lost for longer than its client library waits for one.
    lossy = relay(server.metadataAddr, 'delegateDir', 3 * HOLDER_DEADLINE_MS);
    holder = new MetadataClient([await lossy.listen()], { timeoutMs: HOLDER_DEADLINE_MS });
    other = new StrataClient({ metadataAddrs: [server.metadataAddr] });
    await other.mkdir('/grant');
    await other.mkdir('/grant/d');
    await other.mountOpen('holder', 30_000, 'test');
  });
  after(async () => {
    await holder?.close();
    await other?.close();
    lossy?.close();
    await server?.stop();
  });

  const granted = async () => {
    const metrics = await (await fetch(server.metricsUrl)).text();
    const line = /strata_metadata_commands_total\{op="delegateDir",code="ok"\} (\d+)/.exec(metrics);
    return Number(line?.[1] ?? 0);
  };

  test('a grant whose answer is lost is asked again, held, and given back when idle', async () => {
    const events: string[] = [];
    const writeBehind = new WriteBehind(holder, 'holder', {
      lost: () => events.push('lost'),
      released: (dir) => events.push(`released ${dir}`),
      acquired: (dir) => events.push(`acquired ${dir}`),
    });
    try {
      const dir = (await other.stat('/grant/d')).ino;
      const before = await granted();
      lossy.state.armed = true;
      // Changes made the ordinary way (here: none at all) in a row: the directory is asked for.
      for (let i = 0; i < 8; i++) await writeBehind.ordinary(dir, async () => {});
      await until(
        'the directory held and given back',
        async () => (events.includes(`released ${dir}`) ? true : undefined),
        { limitMs: 15_000, intervalMs: 50 },
      ).catch((error) => {
        throw new Error(`${error.message}; events: ${events.join(', ')}`);
      });
      assert.ok(lossy.state.lost >= 1, 'the grant answer was lost');
      // Applied twice: the grant whose answer was lost, and the one asked again.
      assert.ok((await granted()) - before >= 2, 'the lost grant was applied');
      assert.deepEqual(events, [`acquired ${dir}`, `released ${dir}`]);
      // Nothing holds the directory now: another client changes it at once.
      const made = await Promise.race([
        other.create('/grant/d/after').then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 5_000).unref()),
      ]);
      assert.ok(made, 'a create by another client went through');
    } finally {
      await writeBehind.close();
    }
  });
});
