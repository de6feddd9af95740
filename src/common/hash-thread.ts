// The hashing thread of hash-offload.ts: keeps a session's hashes (one per algorithm the body is
// run through) and feeds them the segments the main thread fills, in the order they are posted
// (one port: messages arrive in order). Each segment is handed back once every hash of its
// session has it (hashed, or copied into a lane's buffer), so the main thread may fill it again.
import assert from 'node:assert';
import { parentPort } from 'node:worker_threads';
import { Md5Lanes } from './md5-lanes.ts';
import { type HashAlgorithm, type RunningHash, startHash } from './running-hash.ts';

export type { HashAlgorithm } from './running-hash.ts';

export type HashThreadRequest =
  | { op: 'open'; session: number; algorithms: HashAlgorithm[] }
  | { op: 'update'; session: number; segment: number; memory: SharedArrayBuffer; bytes: number }
  | { op: 'digest'; session: number }
  | { op: 'drop'; session: number };

export type HashThreadReply =
  | { op: 'free'; segment: number }
  | { op: 'digest'; session: number; digests: Uint8Array[] }
  | { op: 'failed'; session: number; message: string };

// One of a body's hashes: running-hash.ts's, or a lane of the SIMD MD5 (md5-lanes.ts). MD5
// bodies that overlap share the kernel's lanes (2.5 to 3.9 times OpenSSL's rate over 4 to 8
// bodies); a body that starts alone gets OpenSSL's, faster for one stream than a lane left to
// itself.
type BodyHash =
  | { algorithm: HashAlgorithm; hash: RunningHash }
  | { algorithm: 'md5'; lane: number };
const sessions = new Map<number, BodyHash[]>();
let md5Open = 0;
let lanes: Md5Lanes | undefined;
const port = parentPort;

function open(algorithm: HashAlgorithm): BodyHash {
  if (algorithm === 'md5') {
    md5Open++;
    if (md5Open > 1) {
      lanes ??= new Md5Lanes();
      const lane = lanes.open();
      if (lane !== undefined) return { algorithm, lane };
    }
  }
  return { algorithm, hash: startHash(algorithm) };
}

function close(session: number): BodyHash[] | undefined {
  const held = sessions.get(session);
  sessions.delete(session);
  for (const hash of held ?? []) if (hash.algorithm === 'md5') md5Open--;
  return held;
}

function digestOf(hash: BodyHash): Uint8Array {
  if (!('lane' in hash)) return hash.hash.digest();
  assert(lanes !== undefined, 'a lane session has its lanes');
  return lanes.digest(hash.lane);
}

port?.on('message', (request: HashThreadRequest) => {
  const reply = (message: HashThreadReply) => port.postMessage(message);
  switch (request.op) {
    case 'open':
      sessions.set(request.session, request.algorithms.map(open));
      return;
    case 'update': {
      // The segment is free again whatever happens to the session: the main thread counts them.
      try {
        const held = sessions.get(request.session);
        const bytes = new Uint8Array(request.memory, 0, request.bytes);
        for (const hash of held ?? []) {
          if ('lane' in hash) lanes?.update(hash.lane, bytes);
          else hash.hash.update(bytes);
        }
      } finally {
        reply({ op: 'free', segment: request.segment });
      }
      return;
    }
    case 'digest': {
      const held = close(request.session);
      if (held === undefined)
        reply({ op: 'failed', session: request.session, message: 'no such hash session' });
      else reply({ op: 'digest', session: request.session, digests: held.map(digestOf) });
      return;
    }
    case 'drop': {
      for (const hash of close(request.session) ?? []) if ('lane' in hash) lanes?.drop(hash.lane);
      return;
    }
  }
});
