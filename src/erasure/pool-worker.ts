// One worker of the erasure pool: codes stripes whose shards live in shared memory, so nothing is
// copied between threads; only a small message goes each way.
import { parentPort } from 'node:worker_threads';
import { ReedSolomon } from './reed-solomon.ts';

export interface PoolTask {
  id: number;
  op: 'encode' | 'reconstruct';
  k: number;
  m: number;
  shardBytes: number;
  memory: SharedArrayBuffer;
  present?: boolean[];
}

const codecs = new Map<string, ReedSolomon>();

parentPort?.on('message', (task: PoolTask) => {
  try {
    const key = `${task.k}+${task.m}`;
    let codec = codecs.get(key);
    if (!codec) {
      codec = new ReedSolomon(task.k, task.m);
      codecs.set(key, codec);
    }
    const shards = Array.from(
      { length: task.k + task.m },
      (_, i) => new Uint8Array(task.memory, i * task.shardBytes, task.shardBytes),
    );
    if (task.op === 'encode') codec.encode(shards);
    else codec.reconstruct(shards, task.present as boolean[]);
    parentPort?.postMessage({ id: task.id, ok: true });
  } catch (error) {
    parentPort?.postMessage({ id: task.id, ok: false, message: (error as Error).message });
  }
});
