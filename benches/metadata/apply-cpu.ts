// CPU per applied create on one state machine, without Raft or sockets: the apply's own cost
// (dispatch, LMDB puts, index upkeep, session record), as every member pays it per create.
//   node benches/metadata/apply-cpu.ts [--creates 20000] [--rounds 5]
import { parseArgs } from 'node:util';
import { MetadataStateMachine } from '../../src/metadata/state-machine.ts';
import { tempDir } from '../../test/helpers/server.ts';

const { values: opts } = parseArgs({
  options: {
    creates: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '5' },
  },
});
const caller = { uid: 0, gid: 0 };
const sm = MetadataStateMachine.open(`${tempDir('strata-apply-cpu-')}/metadata`, {
  durable: false,
});
let index = 0;
let seq = 0;
const bucket = sm.apply(
  { op: 'createBucket', nowMs: 1, name: 'b', owner: 'b', caller },
  ++index,
  { id: 'bench', seq: ++seq, ackBelow: seq },
  1,
);
const parent = bucket.ok ? (bucket.inode?.ino as number) : 0;
const perRound: number[] = [];
for (let round = 0; round < Number(opts.rounds); round++) {
  const started = process.cpuUsage();
  for (let n = 0; n < Number(opts.creates); n++) {
    const result = sm.apply(
      {
        op: 'create',
        nowMs: 2,
        parent,
        name: `r${round}-${n}`,
        mode: 0o644,
        caller,
        exclusive: true,
      },
      ++index,
      { id: 'bench', seq: ++seq, ackBelow: seq },
      2 + index,
    );
    if (!result.ok) throw new Error(JSON.stringify(result));
  }
  const used = process.cpuUsage(started);
  perRound.push((used.user + used.system) / Number(opts.creates));
}
await sm.close();
const sorted = [...perRound].sort((a, b) => a - b);
console.log(
  `apply create: CPU us per op by round ${perRound.map((u) => u.toFixed(1)).join(' ')}; median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)}`,
);
