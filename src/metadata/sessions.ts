// Client sessions expire by the log's time (Raft dissertation §6.3). The leader stamps every
// entry with its clock (Envelope.leaderTimeMs); the log's time is the highest stamp applied so
// far, so it never goes back when leadership moves to a member whose clock is behind. A session
// whose last command is older than SESSION_TIMEOUT_MS in log time is removed with its stored
// results. Every member applies the same entries, so every member expires the same sessions at
// the same index, and a snapshot carries them: expiry never reads a member's own clock.
//
// Exactly-once therefore holds for retries within SESSION_TIMEOUT_MS. Clients give up long before
// (MetadataClient's deadline is 30 s); a command from a session that is not known (new, or
// expired) is applied and starts the session again.
import type { Database } from 'lmdb';
import * as K from './keys.ts';

export const SESSION_TIMEOUT_MS = 60 * 60 * 1000;
// Sessions expired per applied entry at most, so one entry's transaction stays small; an idle
// backlog drains over the following entries.
export const SESSION_EXPIRY_BATCH = 16;

type Db = Database<any, Buffer>;

export function logTimeMs(db: Db): number {
  return (db.get(K.logTimeKey()) as number | undefined) ?? 0;
}

// Inside the entry's transaction: the log's time after this entry.
export function advanceLogTime(db: Db, leaderTimeMs: number | undefined): number {
  const current = logTimeMs(db);
  if (leaderTimeMs === undefined || leaderTimeMs <= current) return current;
  db.putSync(K.logTimeKey(), leaderTimeMs);
  return leaderTimeMs;
}

// The session sent a command at log time `nowMs`.
export function touchSession(db: Db, sessionId: string, nowMs: number): void {
  const previous = db.get(K.sessionActiveKey(sessionId)) as number | undefined;
  if (previous === nowMs) return;
  if (previous !== undefined) db.removeSync(K.sessionIdleKey(previous, sessionId));
  db.putSync(K.sessionActiveKey(sessionId), nowMs);
  db.putSync(K.sessionIdleKey(nowMs, sessionId), null);
}

// Removes up to SESSION_EXPIRY_BATCH sessions idle for longer than the timeout at `nowMs`, with
// their stored results. Returns how many were removed.
export function expireSessions(db: Db, nowMs: number): number {
  const idle = db.getRange({
    start: K.sessionIdlePrefix(),
    end: K.sessionIdleBefore(nowMs - SESSION_TIMEOUT_MS),
    limit: SESSION_EXPIRY_BATCH,
  });
  const expired: Buffer[] = [];
  for (const { key } of idle) expired.push(key as Buffer);
  for (const key of expired) {
    const sessionId = K.sessionIdFromIdleKey(key);
    const start = K.sessionPrefix(sessionId);
    const end = Buffer.concat([start.subarray(0, start.length - 1), Buffer.of(1)]);
    for (const result of [...db.getKeys({ start, end })]) db.removeSync(result as Buffer);
    db.removeSync(K.sessionActiveKey(sessionId));
    db.removeSync(key);
  }
  return expired.length;
}
