// Long kernel caching with the bound of short caching. Every FEED_POLL_MS the mount asks the
// metadata leader what other clients changed since the last answer (namespaceChanges, served after
// ReadIndex, from src/metadata/change-journal.ts) and drops what its kernel holds of it
// (FUSE_NOTIFY_INVAL_ENTRY for a name, FUSE_NOTIFY_INVAL_INODE for attributes). While those answers
// keep coming, a name or attributes the mount answers from the service's state, or from its own
// change, may be kept by the kernel for LONG_VALID_MS instead of CACHE_VALID_MS: another client's
// change still reaches it within about FEED_POLL_MS. When answers stop (the service unreachable,
// a member partitioned), the mount drops everything it let the kernel keep long once
// FEED_STALE_MS has passed since the last answered question was sent, and grants long times
// again only after an answer: the same bound as CACHE_VALID_MS.
//
// A grant is recorded before the reply carrying it is written, and not for a reply that an
// answer naming what it shows overtook (`position`, taken when the request began): such an answer
// may name a change the reply does not show, and drops only what was recorded before it. An answer
// that names none of it leaves the reply as current as a reply read after it.
import type { ChangesAnswer } from '../metadata/change-journal.ts';
import type { Logger } from '../observability/logger.ts';
import {
  fuseFeedDrops,
  fuseFeedFailures,
  fuseFeedInvalidations,
  reportFeedHeld,
} from '../observability/metrics.ts';
import { encodeInvalEntry, encodeInvalInode, NOTIFY } from './protocol.ts';

export const FEED_POLL_MS = 200;
// The bound on how long the kernel may show what another client changed (CACHE_VALID_MS).
export const FEED_STALE_MS = 1000;
export const LONG_VALID_MS = 30_000;
// Names and attributes held long, each; past it, replies get the short time.
const HELD_MAX = 100_000;
// Answers whose changes are kept for the grants of requests they overtook (a request older than
// that gets the short time).
const RECENT_ANSWERS = 64;

type Notice = [code: number, body: Buffer];

// A grant held: the kernel's copy expires at `untilMs`. The maps keep grants in the order of
// `placedUntilMs`, the untilMs a grant had when it was put at the map's end (renew, expireHeld).
interface Held {
  untilMs: number;
  placedUntilMs: number;
}
interface HeldEntry extends Held {
  parent: number;
  name: string;
}

export interface FeedTarget {
  notify(code: number, body: Buffer): Promise<void>;
  // What the mount itself holds (directory leases) of a changed inode or directory.
  inodeChanged(ino: number): void;
  directoryChanged(dir: number): void;
  everythingChanged(): void; // changes were missed (a reset)
}

export class ChangeFeed {
  private readonly ask: (since: number) => Promise<ChangesAnswer>;
  private readonly target: FeedTarget;
  private readonly log: Logger;
  private readonly now: () => number;
  private answers = 0; // applied so far, and drops
  private cursor: number | undefined;
  private freshAtMs = Number.NEGATIVE_INFINITY; // when the last applied answer's question was sent
  // Held long, oldest grant first (about: see expireHeld), with the time the kernel's copy expires.
  private readonly entries = new Map<string, HeldEntry>();
  private readonly attrs = new Map<number, Held>();
  // What each of the last RECENT_ANSWERS answers named, by the position it made.
  private readonly recent = new Map<number, Set<string> | 'all'>();
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private failing = false;

  constructor(
    ask: (since: number) => Promise<ChangesAnswer>,
    target: FeedTarget,
    log: Logger,
    now: () => number = Date.now,
  ) {
    this.ask = ask;
    this.target = target;
    this.log = log;
    this.now = now;
    reportFeedHeld(() => ({ entry: this.entries.size, attr: this.attrs.size }));
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), FEED_POLL_MS);
    this.timer.unref();
    void this.tick();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  // Taken when a request starts; given back to the grants of its reply.
  get position(): number {
    return this.answers;
  }

  // How long the kernel may keep `parent`/`name` → `ino` and the inode's attributes, in a reply to
  // a request begun at `position`.
  entryValidMs(position: number, parent: number, name: string, ino: number): number | undefined {
    const key = entryKey(parent, name);
    if (!this.grantable(position, [key, inoKey(ino)])) return undefined;
    const untilMs = this.now() + LONG_VALID_MS;
    renew(this.entries, key, untilMs, () => ({ parent, name, untilMs, placedUntilMs: untilMs }));
    renewAttrs(this.attrs, ino, untilMs);
    return LONG_VALID_MS;
  }

  attrValidMs(position: number, ino: number): number | undefined {
    if (!this.grantable(position, [inoKey(ino)])) return undefined;
    renewAttrs(this.attrs, ino, this.now() + LONG_VALID_MS);
    return LONG_VALID_MS;
  }

  // This mount renamed a name: the kernel moved its entry, with the time left on it.
  renamed(parent: number, name: string, newParent: number, newName: string): void {
    const from = this.entries.get(entryKey(parent, name));
    const to = this.entries.get(entryKey(newParent, newName));
    const untilMs = Math.max(from?.untilMs ?? 0, to?.untilMs ?? 0);
    if (untilMs === 0) return;
    // Both held (an exchange swaps them): more held than the kernel has only costs a notification.
    renew(this.entries, entryKey(parent, name), untilMs, () => ({
      parent,
      name,
      untilMs,
      placedUntilMs: untilMs,
    }));
    renew(this.entries, entryKey(newParent, newName), untilMs, () => ({
      parent: newParent,
      name: newName,
      untilMs,
      placedUntilMs: untilMs,
    }));
  }

  // `keys`: what the reply shows (entryKey, inoKey). An answer applied since the request began
  // that names none of them changes nothing the reply says; one that does, or a drop, may have
  // come after the state the reply was read from.
  private grantable(position: number, keys: string[]): boolean {
    for (let p = position + 1; p <= this.answers; p++) {
      const named = this.recent.get(p);
      if (named === undefined || named === 'all' || keys.some((k) => named.has(k))) return false;
    }
    return (
      this.cursor !== undefined &&
      this.now() - this.freshAtMs < FEED_STALE_MS - FEED_POLL_MS &&
      this.entries.size < HELD_MAX &&
      this.attrs.size < HELD_MAX
    );
  }

  async tick(): Promise<void> {
    this.expire();
    if (this.busy) {
      if (this.now() - this.freshAtMs >= FEED_STALE_MS - FEED_POLL_MS) await this.dropAll('stale');
      return;
    }
    this.busy = true;
    const sentAtMs = this.now();
    try {
      const answer = await this.ask(this.cursor ?? -1);
      if (this.failing) this.log.info('the change feed answers again');
      this.failing = false;
      await this.apply(answer, sentAtMs);
    } catch (error) {
      // Every failure counted; logged once per run of them (one every 200 ms while cut off).
      fuseFeedFailures.inc();
      if (!this.failing) this.log.warn("asking for other clients' changes failed", { error });
      this.failing = true;
      if (this.now() - this.freshAtMs >= FEED_STALE_MS - FEED_POLL_MS) await this.dropAll('stale');
    } finally {
      this.busy = false;
    }
  }

  private async apply(answer: ChangesAnswer, sentAtMs: number): Promise<void> {
    this.answers += 1;
    this.remember('all'); // until the changes are known below
    const first = this.cursor === undefined;
    this.cursor = answer.index;
    if ('reset' in answer) {
      this.target.everythingChanged();
      if (!first) await this.dropAll('reset');
      this.freshAtMs = sentAtMs;
      return;
    }
    this.freshAtMs = sentAtMs;
    this.remember(
      new Set([
        ...answer.entries.map(([parent, name]) => entryKey(parent, name)),
        ...answer.inos.map(inoKey),
      ]),
    );
    const notices: Notice[] = [];
    for (const [parent, name] of answer.entries) {
      this.target.directoryChanged(parent);
      const key = entryKey(parent, name);
      if (!this.entries.delete(key)) continue;
      fuseFeedInvalidations.inc({ kind: 'entry' });
      notices.push([NOTIFY.INVAL_ENTRY, encodeInvalEntry(parent, name)]);
    }
    for (const ino of answer.inos) {
      this.target.inodeChanged(ino);
      if (!this.attrs.delete(ino)) continue;
      fuseFeedInvalidations.inc({ kind: 'attr' });
      notices.push([NOTIFY.INVAL_INODE, encodeInvalInode(ino, -1, 0)]);
    }
    await this.send(notices);
  }

  // Changes this mount answered were refused after all (write-behind): what the kernel holds of
  // them is wrong, and the mount cannot tell which of the held names they are.
  async ownChangesLost(): Promise<void> {
    await this.dropAll('lost');
  }

  // Everything held long goes: the kernel asks again, and gets short times until an answer.
  private async dropAll(reason: 'stale' | 'reset' | 'lost'): Promise<void> {
    this.answers += 1;
    this.remember('all');
    if (this.entries.size === 0 && this.attrs.size === 0) return;
    fuseFeedDrops.inc({ reason });
    this.log.info('dropping what the kernel holds long', {
      reason,
      entries: this.entries.size,
      attrs: this.attrs.size,
    });
    const notices: Notice[] = [];
    for (const { parent, name } of this.entries.values())
      notices.push([NOTIFY.INVAL_ENTRY, encodeInvalEntry(parent, name)]);
    for (const ino of this.attrs.keys())
      notices.push([NOTIFY.INVAL_INODE, encodeInvalInode(ino, -1, 0)]);
    this.entries.clear();
    this.attrs.clear();
    await this.send(notices);
  }

  // One at a time: a notification may wait on the kernel's lock of the directory it names.
  private async send(notices: Notice[]): Promise<void> {
    for (const [code, body] of notices) await this.target.notify(code, body);
  }

  // What the answer (or drop) at the current position named, for grants of requests it overtook.
  private remember(named: Set<string> | 'all'): void {
    this.recent.set(this.answers, named);
    this.recent.delete(this.answers - RECENT_ANSWERS);
  }

  // Grants the kernel has let go of by now.
  private expire(): void {
    const now = this.now();
    expireHeld(this.entries, now);
    expireHeld(this.attrs, now);
  }
}

// A grant renewed keeps its place in the map (expireHeld moves it to the end once it gets there).
// Moving it at every grant, as a delete and a set, left a deleted entry per move in the key's
// bucket chain of V8's Map until the table was rebuilt: a directory's attributes, granted again
// after every create in it (the kernel asks for them after each change), made a chain thousands
// long that every lookup walked, 6% of a mount's busy time under bench:fuse's creates (a move of
// one key in a 20,000-entry Map took 54 µs, of keys in turn 74 ns).
function renew<K, V extends Held>(map: Map<K, V>, key: K, untilMs: number, make: () => V): void {
  const held = map.get(key);
  if (held === undefined) map.set(key, make());
  else held.untilMs = Math.max(held.untilMs, untilMs);
}

function renewAttrs(attrs: Map<number, Held>, ino: number, untilMs: number): void {
  renew(attrs, ino, untilMs, () => ({ untilMs, placedUntilMs: untilMs }));
}

// Lets go of the grants expired by `now`, from the oldest placed, and moves those renewed since
// they were placed to the end (one move per key per LONG_VALID_MS at most). The order is then
// only about that of placedUntilMs: a moved grant may sit behind one placed later, and is let go
// of when that one is, up to LONG_VALID_MS late. Late only costs a notification the kernel no
// longer needs; a grant is never let go of before its untilMs.
function expireHeld<K, V extends Held>(map: Map<K, V>, now: number): void {
  const moved: Array<[K, V]> = [];
  for (const [key, held] of map) {
    if (held.placedUntilMs > now) break;
    map.delete(key);
    if (held.untilMs <= now) continue;
    held.placedUntilMs = held.untilMs;
    moved.push([key, held]);
  }
  for (const [key, held] of moved) map.set(key, held);
}

function entryKey(parent: number, name: string): string {
  return `${parent}/${name}`; // a name has no slash
}

function inoKey(ino: number): string {
  return `${ino}`;
}
