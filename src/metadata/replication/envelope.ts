// What a Raft entry of the metadata log carries: one command, and the client session that sent it
// (for exactly-once application). Encoded with msgpack; the decoder checks the shape, since a log
// entry is data from the network.
import { Packr } from 'msgpackr';
import { StrataError } from '../../common/errors.ts';
import type { ClientSession } from '../state-machine.ts';
import type { Command } from '../types.ts';

export interface Envelope {
  command: Command;
  session?: ClientSession;
  // The leader's clock when it appended the entry: the log's time, by which client sessions
  // expire identically on every member (Raft dissertation §6.3; sessions.ts).
  leaderTimeMs?: number;
}

const packr = new Packr({ useRecords: false, moreTypes: true });

// A copy of exactly the entry's bytes: pack() returns a view of the packer's shared buffer, and a
// log entry held in memory would keep that whole buffer alive.
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  return Uint8Array.prototype.slice.call(packr.pack(envelope));
}

export function decodeEnvelope(data: Uint8Array): Envelope {
  const value = packr.unpack(data) as Envelope;
  if (typeof value !== 'object' || value === null || typeof value.command !== 'object')
    throw new StrataError('EIO', 'a metadata log entry does not hold a command');
  const s = value.session;
  if (
    s !== undefined &&
    (typeof s.id !== 'string' || !Number.isSafeInteger(s.seq) || !Number.isSafeInteger(s.ackBelow))
  ) {
    throw new StrataError('EIO', 'a metadata log entry has a malformed session');
  }
  const t = value.leaderTimeMs;
  if (t !== undefined && (!Number.isSafeInteger(t) || t < 0))
    throw new StrataError('EIO', 'a metadata log entry has a malformed leader time');
  return value;
}
