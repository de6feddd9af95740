// The repair thread of a data server (repair-thread.ts): codes a rebuilt shard from the k shards
// read and checksums its blocks, in shared memory (nothing copied between threads), at a lower
// CPU priority than the server's other threads, so that on a busy machine the kernel runs client
// work first and repair takes what is left.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { codecFor } from '../client/stripe-codec.ts';
import { encodeShard } from '../data/shard-file.ts';

export interface RepairThreadTask {
  id: number;
  k: number;
  m: number;
  stripeId: string;
  target: number;
  indices: number[];
  inputs: Uint8Array[]; // views of SharedArrayBuffers: the same memory as the caller's
  output: Uint8Array;
}

export type RepairThreadMessage =
  | { type: 'priority'; nice: number; tid: number }
  | { type: 'priority-failed'; message: string }
  | { type: 'done'; id: number; head: Uint8Array; crcs: Uint8Array }
  | { type: 'failed'; id: number; message: string };

// Linux sets a nice value per thread (setpriority on a thread id), and /proc/thread-self names
// this thread's id. Elsewhere the thread keeps the process's priority, and the parent says so.
function lowerPriority(nice: number): RepairThreadMessage {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isSafeInteger(tid) || tid <= 0)
      throw new Error('no thread id in /proc/thread-self');
    setPriority(tid, nice);
    return { type: 'priority', nice: getPriority(tid), tid };
  } catch (error) {
    return { type: 'priority-failed', message: (error as Error).message };
  }
}

const port = parentPort;
if (port !== null) {
  port.postMessage(lowerPriority((workerData as { nice: number }).nice));
  port.on('message', (task: RepairThreadTask) => {
    try {
      const inputs = task.inputs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      const output = Buffer.from(
        task.output.buffer,
        task.output.byteOffset,
        task.output.byteLength,
      );
      codecFor(task.k, task.m).codeShard(task.target, task.indices, inputs, output);
      const { head, crcs } = encodeShard(
        { stripeId: task.stripeId, shardIndex: task.target },
        output,
      );
      port.postMessage({ type: 'done', id: task.id, head, crcs } satisfies RepairThreadMessage);
    } catch (error) {
      const message = (error as Error).message;
      port.postMessage({ type: 'failed', id: task.id, message } satisfies RepairThreadMessage);
    }
  });
}
