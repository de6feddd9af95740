// The hashing thread of hash-offload.ts: keeps one hash per session and feeds it the segments
// the main thread fills, in the order they are posted (one port: messages arrive in order). Each
// segment is handed back once hashed (or copied into a lane's buffer), so the main thread may
// fill it again.
import assert from 'node:assert';
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { Md5Lanes } from './md5-lanes.ts';

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

// A body's hash: node:crypto's, or a lane of the SIMD MD5 (md5-lanes.ts). MD5 bodies that
// overlap share the kernel's lanes (2.5 to 3.9 times OpenSSL's rate over 4 to 8 bodies); a body
// that starts alone gets OpenSSL's, faster for one stream than a lane left to itself.
type Session = { algorithm: HashAlgorithm; hash: Hash } | { algorithm: 'md5'; lane: number };
const sessions = new Map<number, Session>();
let md5Open = 0;
let lanes: Md5Lanes | undefined;
const port = parentPort;

function open(algorithm: HashAlgorithm): Session {
  if (algorithm === 'md5') {
    md5Open++;
    if (md5Open > 1) {
      lanes ??= new Md5Lanes();
      const lane = lanes.open();
      if (lane !== undefined) return { algorithm, lane };
    }
  }
  return { algorithm, hash: createHash(algorithm) };
}

function close(session: number): Session | undefined {
  const held = sessions.get(session);
  sessions.delete(session);
  if (held?.algorithm === 'md5') md5Open--;
  return held;
}

port?.on('message', (request: HashThreadRequest) => {
  const reply = (message: HashThreadReply) => port.postMessage(message);
  switch (request.op) {
    case 'open':
      sessions.set(request.session, open(request.algorithm));
      return;
    case 'update': {
      // The segment is free again whatever happens to the session: the main thread counts them.
      try {
        const held = sessions.get(request.session);
        const bytes = new Uint8Array(request.memory, 0, request.bytes);
        if (held === undefined) return;
        if ('lane' in held) lanes?.update(held.lane, bytes);
        else held.hash.update(bytes);
      } finally {
        reply({ op: 'free', segment: request.segment });
      }
      return;
    }
    case 'digest': {
      const held = close(request.session);
      if (held === undefined)
        reply({ op: 'failed', session: request.session, message: 'no such hash session' });
      else if ('lane' in held) {
        assert(lanes !== undefined, 'a lane session has its lanes');
        reply({ op: 'digest', session: request.session, digest: lanes.digest(held.lane) });
      } else reply({ op: 'digest', session: request.session, digest: held.hash.digest() });
      return;
    }
    case 'drop': {
      const held = close(request.session);
      if (held !== undefined && 'lane' in held) lanes?.drop(held.lane);
      return;
    }
  }
});
