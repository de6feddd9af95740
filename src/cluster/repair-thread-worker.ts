// The repair thread of a data server (repair-thread.ts): codes a rebuilt shard from the k shards
// read and checksums its blocks, and verifies the blocks of peers' repair reads, in shared memory
// (nothing copied between threads), at a lower CPU priority than the server's other threads, so
// that on a busy machine the kernel runs client work first and repair takes what is left.
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { codecFor } from '../client/stripe-codec.ts';
import { isStrataError } from '../common/errors.ts';
import { encodeShard, type ShardHeader, verifyBlocks } from '../data/shard-file.ts';

export type RepairThreadTask = CodeTask | VerifyTask;

// Shard `target` coded from k others into `output`, and its file's header and block checksums.
export interface CodeTask {
  op: 'code';
  id: number;
  k: number;
  m: number;
  stripeId: string;
  target: number;
  indices: number[];
  inputs: Uint8Array[]; // views of SharedArrayBuffers: the same memory as the caller's
  output: Uint8Array;
}

// A repair read's blocks checked against their checksums (verifyBlocks, from block 0).
export interface VerifyTask {
  op: 'verify';
  id: number;
  name: string;
  header: ShardHeader;
  data: Uint8Array; // views of SharedArrayBuffers, as above
  crcs: Uint8Array;
}

export type RepairThreadMessage =
  | { type: 'priority'; nice: number; tid: number }
  | { type: 'priority-failed'; message: string }
  | { type: 'coded'; id: number; head: Uint8Array; crcs: Uint8Array }
  | { type: 'verified'; id: number }
  | { type: 'failed'; id: number; code: string | undefined; message: string };

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

const view = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

function run(task: RepairThreadTask): RepairThreadMessage {
  if (task.op === 'verify') {
    verifyBlocks(task.name, task.header, 0, view(task.data), view(task.crcs));
    return { type: 'verified', id: task.id };
  }
  const output = view(task.output);
  codecFor(task.k, task.m).codeShard(task.target, task.indices, task.inputs.map(view), output);
  const { head, crcs } = encodeShard({ stripeId: task.stripeId, shardIndex: task.target }, output);
  return { type: 'coded', id: task.id, head, crcs };
}

const port = parentPort;
if (port !== null) {
  port.postMessage(lowerPriority((workerData as { nice: number }).nice));
  port.on('message', (task: RepairThreadTask) => {
    let reply: RepairThreadMessage;
    try {
      reply = run(task);
    } catch (error) {
      // The code crosses the thread (a checksum mismatch stays SHARD_CORRUPT for the reader).
      const code = isStrataError(error) ? error.code : undefined;
      reply = { type: 'failed', id: task.id, code, message: (error as Error).message };
    }
    port.postMessage(reply);
  });
}
