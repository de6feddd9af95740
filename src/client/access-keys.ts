// A gateway's (or a console's) copy of the users' access keys, so that verifying a request's
// signature needs no metadata read. It asks the metadata leader every REFRESH_INTERVAL_MS whether
// the users version moved, and fetches the keys when it did. A copy is trusted for TRUST_MS after
// the refresh that made it started: a key deleted or rotated away stops working within that
// bound (docs/guides/security.md, "Users"). A request that finds the copy past the bound waits
// for a refresh (refreshIfStale: a late timer on a busy gateway is not an outage); only while the
// metadata cannot be reached do requests get RPC_UNAVAILABLE (S3 503) rather than an answer from
// an old copy.
import assert from 'node:assert';
import { setTimeout as sleep } from 'node:timers/promises';
import { StrataError } from '../common/errors.ts';
import type { ResolvedAccessKey } from '../metadata/types.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';

export const REFRESH_INTERVAL_MS = 1_000;
export const TRUST_MS = 2_000;
// An unknown key makes a refresh at most this often (a key created a moment ago works at once;
// requests with made-up keys cost the metadata at most a version check per interval).
export const UNKNOWN_KEY_REFRESH_MS = 250;
// A refresh that takes longer than this is given up (the next one starts at the next tick).
// Requests that found the copy past its bound wait for it: a leader slowed by a repair or a
// loaded machine costs them latency, and only a cluster this slow or unreachable costs a 503.
const REFRESH_TIMEOUT_MS = 5_000;

// What request authentication (src/auth/) looks a key up as: the shape of its Credential.
export interface KnownAccessKey {
  accessKey: string;
  secretKey: string;
  user: string;
  admin: boolean;
}

export interface AccessKeySource {
  accessKeys(sinceVersion?: number): Promise<{ version: number; keys?: ResolvedAccessKey[] }>;
}

export class AccessKeyDirectory {
  private readonly source: AccessKeySource;
  private readonly log: Logger;
  private readonly nowMs: () => number;
  private byKey = new Map<string, KnownAccessKey>();
  private users: ReadonlySet<string> = new Set();
  private version: number | undefined;
  private trustedFromMs = Number.NEGATIVE_INFINITY; // when the refresh behind the copy started
  private lastStartedMs = Number.NEGATIVE_INFINITY; // when the last refresh started
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private failing = false;
  private readonly onRefresh: (ok: boolean) => void;

  // onRefresh: told each refresh's outcome (a gateway counts them in a metric).
  constructor(
    source: AccessKeySource,
    options: { log?: Logger; nowMs?: () => number; onRefresh?: (ok: boolean) => void } = {},
  ) {
    this.source = source;
    this.log = options.log ?? silentLogger;
    this.nowMs = options.nowMs ?? Date.now;
    this.onRefresh = options.onRefresh ?? (() => undefined);
  }

  // The first copy (awaited, so a gateway that starts with its cluster answers at once), then a
  // refresh at every interval. A first refresh that fails is logged, and retried by the timer.
  async start(): Promise<void> {
    assert(this.timer === undefined, 'started once');
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_INTERVAL_MS);
    this.timer.unref();
  }

  // The key's user, or undefined for a key no user holds. Throws RPC_UNAVAILABLE when the copy
  // is older than the bound: it might still hold a key that was deleted since.
  find(accessKey: string): KnownAccessKey | undefined {
    if (this.nowMs() - this.trustedFromMs > TRUST_MS)
      throw new StrataError(
        'RPC_UNAVAILABLE',
        'the access keys could not be refreshed from the metadata cluster',
      );
    return this.byKey.get(accessKey);
  }

  // Every user name (bucket policies may name only these).
  userNames(): ReadonlySet<string> {
    return this.users;
  }

  refreshIfStale(): Promise<void> {
    if (this.nowMs() - this.trustedFromMs <= TRUST_MS) return Promise.resolve();
    return this.refresh();
  }

  // After a lookup found no such key: resolves once a refresh that started after the lookup has
  // ended, so a key created before the request is in the copy it is judged by again. A refresh
  // that started before the lookup (in flight, or the last one) may predate the key: it does not
  // count. Refreshes for unknown keys start at most once per UNKNOWN_KEY_REFRESH_MS and are
  // shared, so made-up keys cost the metadata a version check per interval. (Returning at once
  // when the last refresh was recent, as before, refused a key created a moment before its first
  // request whenever the periodic refresh had just started: test/e2e/user-secrets-at-rest.)
  async refreshForUnknownKey(): Promise<void> {
    const lookupMs = this.nowMs();
    const startedSince = () => this.lastStartedMs > lookupMs;
    if (startedSince()) return this.refreshing;
    if (this.refreshing !== undefined) await this.refreshing;
    if (startedSince()) return this.refreshing;
    const waitMs = this.lastStartedMs + UNKNOWN_KEY_REFRESH_MS - this.nowMs();
    if (waitMs > 0) await sleep(waitMs);
    if (startedSince()) return this.refreshing;
    return this.refresh();
  }

  refresh(): Promise<void> {
    this.refreshing ??= this.fetch().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async fetch(): Promise<void> {
    const startedMs = this.nowMs();
    this.lastStartedMs = startedMs;
    try {
      const answer = await withTimeout(this.source.accessKeys(this.version), REFRESH_TIMEOUT_MS);
      if (answer.keys !== undefined) this.replace(answer.keys);
      else assert.equal(answer.version, this.version, 'no keys only when the version is ours');
      this.version = answer.version;
      this.trustedFromMs = startedMs;
      if (this.failing) this.log.info('access keys refreshed again');
      this.failing = false;
      this.onRefresh(true);
    } catch (error) {
      this.onRefresh(false);
      // Once per outage: the message, never the keys.
      if (!this.failing) this.log.warn('cannot refresh the access keys', { error });
      this.failing = true;
    }
  }

  private replace(keys: ResolvedAccessKey[]): void {
    const byKey = new Map<string, KnownAccessKey>();
    for (const k of keys) {
      assert(!byKey.has(k.accessKeyId), `access key ${k.accessKeyId} has one user`);
      byKey.set(k.accessKeyId, {
        accessKey: k.accessKeyId,
        secretKey: k.secretKey,
        user: k.user,
        admin: k.admin,
      });
    }
    this.byKey = byKey;
    this.users = new Set(keys.map((k) => k.user));
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StrataError('RPC_TIMEOUT', `no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
