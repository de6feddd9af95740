// Console login sessions: an administrator's S3 key pair is checked once, and the browser keeps
// a random token in an HttpOnly, SameSite=Strict cookie. Pure apart from the token's randomness;
// time comes in as `nowMs`. Sessions live in this member's memory: a restart logs everyone out.
import assert from 'node:assert/strict';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export const SESSION_TTL_MS = 12 * 3600 * 1000; // a working day, then log in again
export const SESSIONS_MAX = 1_000; // the oldest session goes when a new one would pass this

export interface ConsoleCredential {
  accessKey: string;
  secretKey: string;
}

interface Session {
  accessKey: string;
  expiresMs: number;
}

// An administrator's pair by its access key (undefined: not an administrator's key).
export type ConsoleCredentials = (accessKey: string) => ConsoleCredential | undefined;

export class SessionStore {
  private readonly find: ConsoleCredentials;
  // Insertion order is creation order, so the first entry is the oldest.
  private readonly sessions = new Map<string, Session>();

  // A fixed list, or a lookup in the cluster's users (src/client/access-keys.ts).
  constructor(credentials: ConsoleCredential[] | ConsoleCredentials) {
    if (Array.isArray(credentials)) {
      assert.ok(credentials.length > 0, 'the console needs at least one administrator key pair');
      const list = credentials;
      this.find = (accessKey) => list.find((c) => c.accessKey === accessKey);
    } else this.find = credentials;
  }

  // A new session's token when the pair is an administrator's; undefined otherwise.
  login(accessKey: string, secretKey: string, nowMs: number): string | undefined {
    const match = this.find(accessKey);
    // Compared in constant time (as digests, so the lengths match), and a secret is compared
    // even for an unknown key so that timing does not tell which keys exist.
    const expected = match?.secretKey ?? randomBytes(32).toString('hex');
    const same = timingSafeEqual(digest(expected), digest(secretKey));
    if (!match || !same) return undefined;
    this.expire(nowMs);
    if (this.sessions.size >= SESSIONS_MAX) {
      const oldest = this.sessions.keys().next().value;
      if (oldest !== undefined) this.sessions.delete(oldest);
    }
    const token = randomBytes(32).toString('base64url');
    this.sessions.set(token, { accessKey, expiresMs: nowMs + SESSION_TTL_MS });
    assert.ok(this.sessions.size <= SESSIONS_MAX);
    return token;
  }

  // The access key of a live session, or undefined. A session ends with its key (deleted,
  // rotated away, or no longer an administrator's).
  check(token: string | undefined, nowMs: number): string | undefined {
    if (token === undefined) return undefined;
    const session = this.sessions.get(token);
    if (!session) return undefined;
    if (session.expiresMs <= nowMs || this.find(session.accessKey) === undefined) {
      this.sessions.delete(token);
      return undefined;
    }
    return session.accessKey;
  }

  logout(token: string | undefined): void {
    if (token !== undefined) this.sessions.delete(token);
  }

  get size(): number {
    return this.sessions.size;
  }

  private expire(nowMs: number): void {
    for (const [token, session] of this.sessions)
      if (session.expiresMs <= nowMs) this.sessions.delete(token);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

// The session token from a Cookie header, if there is one.
export const COOKIE_NAME = 'strata_console';
export function tokenFromCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === COOKIE_NAME) return value.join('=');
  }
  return undefined;
}

export function sessionCookie(token: string): string {
  const maxAge = Math.floor(SESSION_TTL_MS / 1000);
  return `${COOKIE_NAME}=${token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`;
}

export function clearedCookie(): string {
  return `${COOKIE_NAME}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
}
