// A real 3-node metadata cluster (separate processes on loopback) plus a data node, driven through
// the client library: concurrent creates and renames while the leader is killed with SIGKILL three
// times in a row and restarted; the history must be linearizable and every acknowledged create
// must exist exactly once. Then: a request whose answer was lost is retried and applied once; a
// leader paused with SIGSTOP is replaced, and on SIGCONT does not disrupt the new leader.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { StrataClient } from '../../src/client/strata-client.ts';
import { METADATA_RPC } from '../../src/metadata/types.ts';
import { RpcClient } from '../../src/rpc/index.ts';
import { checkLinearizability, type Model, type Operation } from '../helpers/linearizability.ts';
import { freePort, MetadataCluster, raftStatusOf } from '../helpers/metadata-cluster.ts';
import { runStrata, type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

// A file-name namespace: create (exclusive), rename, and existence checks.
type NsInput =
  | { op: 'create'; name: string; group: string }
  | { op: 'rename'; from: string; to: string; group: string }
  | { op: 'exists'; name: string; group: string };
type NsOutput = 'ok' | 'EEXIST' | 'ENOENT' | boolean;

const namespaceModel: Model<string[], NsInput, NsOutput> = {
  init: () => [],
  step(state, input, output) {
    const has = (n: string) => state.includes(n);
    switch (input.op) {
      case 'create':
        if (output === undefined) return has(input.name) ? state : [...state, input.name].sort();
        if (output === 'ok') return has(input.name) ? undefined : [...state, input.name].sort();
        return output === 'EEXIST' && has(input.name) ? state : undefined;
      case 'rename': {
        const moved = () => [...state.filter((n) => n !== input.from), input.to].sort();
        if (output === undefined) return has(input.from) ? moved() : state;
        if (output === 'ok') return has(input.from) ? moved() : undefined;
        return output === 'ENOENT' && !has(input.from) ? state : undefined;
      }
      case 'exists':
        return output === undefined || output === has(input.name) ? state : undefined;
    }
  },
  stateKey: (state) => state.join('\n'),
  partition(history) {
    const groups = new Map<string, Operation<NsInput, NsOutput>[]>();
    for (const operation of history) {
      const list = groups.get(operation.input.group) ?? [];
      list.push(operation);
      groups.set(operation.input.group, list);
    }
    return [...groups.values()];
  },
  describe: (o) => `${JSON.stringify(o.input)} -> ${JSON.stringify(o.output)}`,
};

describe('a 3-node metadata cluster', () => {
  let cluster: MetadataCluster;
  let nodes: MetadataCluster['nodes'];
  let data: StrataProcess;
  let client: StrataClient;
  let addrs: string[];
  const startNode = (id: number) => cluster.startNode(id);
  const statusOf = raftStatusOf;
  const leader = (exclude?: number) => cluster.leader(exclude);

  before(async () => {
    cluster = await MetadataCluster.start(3);
    nodes = cluster.nodes;
    addrs = cluster.addrs;
    data = await startStrata({
      args: [
        '--role',
        'data',
        '--node-id',
        '9',
        '--metadata-addr',
        addrs[0],
        '--raft-peers',
        addrs.slice(1).join(','),
      ],
      ready: [],
    });
    client = new StrataClient({ metadataAddrs: addrs });
    await client.mkdir('/raft');
  });
  after(async () => {
    await client?.close();
    await data?.stop();
    await cluster?.stop();
  });

  test('creates and renames stay linearizable and exactly-once while the leader is killed three times', async () => {
    const history: Operation<NsInput, NsOutput>[] = [];
    const started = performance.now();
    const now = () => performance.now() - started;
    let stop = false;
    const record = async (clientId: number, input: NsInput, run: () => Promise<NsOutput>) => {
      const operation: Operation<NsInput, NsOutput> = { clientId, input, callTime: now() };
      history.push(operation);
      try {
        operation.output = await run();
        operation.returnTime = now();
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === 'EEXIST' || code === 'ENOENT') {
          operation.output = code;
          operation.returnTime = now();
        }
        // Anything else (timeouts, no leader): the outcome is unknown.
      }
    };
    // renameTried: a rename whose outcome is unknown (its answer lost to a leader's death): it
    // may have been applied, so the name is at one of the two places (the checker above decides
    // whether the history allows it).
    const acknowledged: Array<{ name: string; renamedTo?: string; renameTried?: string }> = [];
    const worker = async (w: number) => {
      const group = `w${w}`;
      for (let n = 0; !stop; n++) {
        const name = `/raft/${group}-${n}`;
        const to = `/raft/${group}-${n}-renamed`;
        await record(w, { op: 'create', name, group }, async () => {
          await client.create(name, { exclusive: true });
          acknowledged.push({ name });
          return 'ok';
        });
        if (n % 2 === 0) {
          await record(w, { op: 'rename', from: name, to, group }, async () => {
            const entry = acknowledged.find((a) => a.name === name);
            if (entry) entry.renameTried = to;
            await client.rename(name, to);
            if (entry) entry.renamedTo = to;
            return 'ok';
          });
        }
        // Another client's view of a neighbour's names.
        const peer = `/raft/w${(w + 1) % 4}-${Math.max(0, n - 1)}`;
        await record(w + 100, { op: 'exists', name: peer, group: `w${(w + 1) % 4}` }, async () =>
          client.stat(peer).then(
            () => true,
            (error) => {
              if ((error as { code?: string }).code === 'ENOENT') return false;
              throw error;
            },
          ),
        );
      }
    };
    const workers = [0, 1, 2, 3].map(worker);
    const terms: number[] = [];
    for (let round = 0; round < 3; round++) {
      await new Promise((r) => setTimeout(r, 1_500));
      const current = await leader();
      terms.push(current.term);
      await nodes.get(current.id)?.process.kill();
      const next = await leader(current.id);
      assert.ok(next.term > current.term, 'a new leader in a later term');
      await startNode(current.id);
    }
    await new Promise((r) => setTimeout(r, 1_500));
    stop = true;
    await Promise.all(workers);

    const answered = history.filter((o) => o.output !== undefined).length;
    assert.ok(answered > 50, `the workload made progress (${answered} answered operations)`);
    const verdict = checkLinearizability(namespaceModel, history);
    assert.equal(verdict.result, 'ok', JSON.stringify(verdict).slice(0, 2000));

    const listed = (await client.readdir('/raft')).map((e) => `/raft/${e.name}`);
    assert.equal(new Set(listed).size, listed.length, 'no name listed twice');
    for (const { name, renamedTo, renameTried } of acknowledged) {
      if (renamedTo === undefined && renameTried !== undefined) {
        const at = [name, renameTried].filter((where) => listed.includes(where));
        assert.equal(at.length, 1, `acknowledged ${name}, renamed or not, exists once: ${at}`);
        continue;
      }
      const where = renamedTo ?? name;
      assert.ok(listed.includes(where), `acknowledged ${name} exists as ${where}`);
      if (renamedTo) assert.ok(!listed.includes(name), `${name} was renamed away exactly once`);
    }
  });

  test('a command whose answer was lost is retried with the same session and applied once', async () => {
    await client.create('/raft/retry-src', { exclusive: true });
    const current = await leader();
    const dir = await client.stat('/raft');
    const envelope = {
      command: {
        op: 'rename',
        nowMs: Date.now(),
        srcParent: dir.ino,
        srcName: 'retry-src',
        dstParent: dir.ino,
        dstName: 'retry-dst',
      },
      session: { id: 'retry-test-session', seq: 1, ackBelow: 1 },
    };
    const leaderRpc = new RpcClient(nodes.get(current.id)?.addr as string, { defaultTimeoutMs: 1 });
    await leaderRpc.call(METADATA_RPC.apply, envelope).catch(() => undefined); // answer lost
    await leaderRpc.close();
    await new Promise((r) => setTimeout(r, 300)); // the entry commits meanwhile
    await nodes.get(current.id)?.process.kill();
    const others = addrs.filter((a) => a !== nodes.get(current.id)?.addr);
    const retry = new RpcClient(others[0], { defaultTimeoutMs: 15_000 });
    let result: { ok: boolean; code?: string } | undefined;
    for (let attempt = 0; attempt < 50 && result === undefined; attempt++) {
      result = await retry
        .call<{ ok: boolean; code?: string }>(METADATA_RPC.apply, envelope)
        .then((r) => r.header)
        .catch(() => undefined);
      if (result === undefined) await new Promise((r) => setTimeout(r, 200));
    }
    await retry.close();
    assert.deepEqual(
      result?.ok,
      true,
      `the retry answers the first result: ${JSON.stringify(result)}`,
    );
    const names = (await client.readdir('/raft')).map((e) => e.name);
    assert.ok(names.includes('retry-dst') && !names.includes('retry-src'), 'renamed exactly once');
    await startNode(current.id);
  });

  test('a leader paused with SIGSTOP is replaced; on SIGCONT it does not disrupt the new leader', async () => {
    const old = await leader();
    const paused = nodes.get(old.id)?.process.process;
    assert.ok(paused?.pid);
    process.kill(paused.pid, 'SIGSTOP');
    try {
      const startedMs = Date.now();
      await client.create('/raft/during-pause', { exclusive: true });
      const elected = await leader(old.id);
      assert.ok(elected.term > old.term);
      assert.ok(Date.now() - startedMs < 15_000, 'writes resumed within seconds');
      process.kill(paused.pid, 'SIGCONT');
      await new Promise((r) => setTimeout(r, 3_000));
      const after = await leader();
      assert.equal(after.id, elected.id, 'the new leader still leads');
      assert.equal(after.term, elected.term, 'the returning node forced no new election');
      const back = await statusOf(nodes.get(old.id)?.addr as string);
      assert.equal(back?.role, 'follower');
      assert.equal(back?.term, elected.term);
    } finally {
      process.kill(paused.pid, 'SIGCONT');
    }
  });

  test('cluster add-node brings in a fourth member and remove-node takes one out, writes going on', async () => {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    const args = ['--role', 'metadata', '--node-id', '4', '--metadata-addr', addr, '--raft-join'];
    nodes.set(4, {
      process: undefined as unknown as StrataProcess,
      addr,
      dataDir: tempDir(),
      args,
    });
    await startNode(4);
    let stop = false;
    let written = 0;
    const writer = (async () => {
      for (let n = 0; !stop; n++) {
        await client.create(`/raft/member-${n}`, { exclusive: true });
        written++;
      }
    })();
    const added = await runStrata([
      'cluster',
      'add-node',
      '--node-id',
      '4',
      addr,
      '--metadata-addr',
      addrs[1],
    ]);
    assert.equal(added.code, 0, added.stderr);
    const four = await statusOf(addr);
    assert.ok(four?.confState.voters.includes(4), 'node 4 votes');
    assert.deepEqual([...(four?.confState.voters ?? [])].sort(), [1, 2, 3, 4]);

    // Remove the leader itself, the hard case: it commits its own removal, then steps down.
    const gone = (await leader()).id;
    const asked = addrs.find((a) => a !== nodes.get(gone)?.addr) as string;
    const removed = await runStrata([
      'cluster',
      'remove-node',
      String(gone),
      '--metadata-addr',
      asked,
    ]);
    assert.equal(removed.code, 0, removed.stderr);
    const after = await statusOf(addr);
    assert.deepEqual(
      [...(after?.confState.voters ?? [])].sort(),
      [1, 2, 3, 4].filter((id) => id !== gone),
    );
    const status = await runStrata(['cluster', 'status', '--metadata-addr', asked]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout.toString(), /metadata cluster: 3 member\(s\)/);
    assert.match(status.stdout.toString(), /node 4 +127\.0\.0\.1:\d+ +(leader|follower) +term \d+/);
    stop = true;
    await writer;
    assert.ok(written > 0, 'writes went on during the changes');
    await nodes.get(gone)?.process.stop();
    nodes.delete(gone);
    await client.create('/raft/after-removal', { exclusive: true });
  });
});
