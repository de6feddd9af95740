// The hashing thread of hash-offload.ts: keeps one node:crypto Hash per session and feeds it the
// segments the main thread fills, in the order they are posted (one port: messages arrive in
// order). Each segment is handed back once hashed, so the main thread may fill it again.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

export type HashAlgorithm = 'md5' | 'sha256';

export type HashThreadRequest =
  | { op: 'open'; session: number; algorithm: HashAlgorithm }
  | { op: 'update'; session: number; segment: number; memory: SharedArrayBuffer; bytes: number }
  | { op: 'digest'; session: number }
  | { op: 'drop'; session: number };

export type HashThreadReply =
  | { op: 'free'; segment: number }
  | { op: 'digest'; session: number; digest: Uint8Array }
  | { op: 'failed'; session: number; message: string };

const sessions = new Map<number, Hash>();
const port = parentPort;

port?.on('message', (request: HashThreadRequest) => {
  const reply = (message: HashThreadReply) => port.postMessage(message);
  switch (request.op) {
    case 'open':
      sessions.set(request.session, createHash(request.algorithm));
      return;
    case 'update': {
      // The segment is free again whatever happens to the session: the main thread counts them.
      try {
        sessions.get(request.session)?.update(new Uint8Array(request.memory, 0, request.bytes));
      } finally {
        reply({ op: 'free', segment: request.segment });
      }
      return;
    }
    case 'digest': {
      const hash = sessions.get(request.session);
      sessions.delete(request.session);
      if (hash === undefined)
        reply({ op: 'failed', session: request.session, message: 'no such hash session' });
      else reply({ op: 'digest', session: request.session, digest: hash.digest() });
      return;
    }
    case 'drop':
      sessions.delete(request.session);
      return;
  }
});
