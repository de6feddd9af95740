// One worker of the open pool (open-pool.ts): opens the chunks of a sealed window that lives in
// shared memory and writes the plaintext of the range asked for beside it, so only a small
// message goes each way. The data key comes in the message and is zeroed after use.
import { parentPort } from 'node:worker_threads';
import { ChunkAuthError, type DataCipher } from './shard-seal.ts';
import { openWindow, type SealedWindow } from './stripe-seal.ts';

export interface OpenTask {
  id: number;
  memory: SharedArrayBuffer; // the sealed window, then room for the plaintext
  sealedBytes: number;
  window: SealedWindow;
  stripeId: string;
  cipher: DataCipher;
  key: Uint8Array;
}

export type OpenReply =
  | { id: number; ok: true }
  | { id: number; ok: false; place?: ChunkAuthError['place']; message: string };

parentPort?.on('message', (task: OpenTask) => {
  const key = Buffer.from(task.key);
  try {
    const sealed = Buffer.from(task.memory, 0, task.sealedBytes);
    const sk = { stripeId: task.stripeId, key, cipher: task.cipher };
    const plain = openWindow(sk, task.window, sealed);
    plain.copy(Buffer.from(task.memory, task.sealedBytes, task.window.lengthBytes));
    parentPort?.postMessage({ id: task.id, ok: true } satisfies OpenReply);
  } catch (error) {
    const place = error instanceof ChunkAuthError ? error.place : undefined;
    const message = (error as Error).message;
    parentPort?.postMessage({ id: task.id, ok: false, place, message } satisfies OpenReply);
  } finally {
    key.fill(0);
    task.key.fill(0);
  }
});
