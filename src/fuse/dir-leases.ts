// Names and attributes the mount answers without asking the metadata service, each for a lease of
// LEASE_MS from the moment it was read (docs/architecture/overview.md, "FUSE mount", leases).
// A directory looked up often (HOT_LOOKUPS in a lease period) has its listing fetched, with its
// entries' attributes when lookups in it found names (a directory being filled by creates only
// misses: its listing alone is read, which is most of the cost saved; attributes are fetched at
// once when HOT_LOOKUPS lookups find names in a listing read without them). While that lease
// runs, a LOOKUP of a name it lacks is answered "absent"
// (a negative entry the kernel keeps for the rest of the lease, so the LOOKUP before a CREATE
// costs no round trip) and one it has from the attributes fetched with it. This mount's own
// changes update what it holds (a create adds the name, the new inode and the changed directory,
// which answers the GETATTR the kernel sends after it); a failure that shows the lease wrong (EEXIST
// for a name it said absent) drops it. Another client's change is seen once the lease ends: the
// same bound as the kernel's own entry and attribute timeouts (CACHE_VALID_MS).
import assert from 'node:assert';
import type { NewEntry, StrataClient } from '../client/strata-client.ts';
import { trimOldest } from '../common/map-trim.ts';
import type { Inode } from '../metadata/types.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import { fuseLeaseListings } from '../observability/metrics.ts';

export const LEASE_MS = 1000;
// Lookups of one directory within a lease period before its listing is worth fetching.
const HOT_LOOKUPS = 8;
// Larger directories are not leased: fetching them every second would cost more than it saves.
const LISTING_ENTRIES_MAX = 16_384;
const TOO_BIG_RETRY_MS = 30_000;
const LISTING_PAGE_ENTRIES = 1000;
const GETATTR_MANY_MAX = 1000; // the metadata reader's limit per call
const LEASED_DIRECTORIES_MAX = 64;
const ATTRS_MAX = 4 * LISTING_ENTRIES_MAX;

export type LeaseAnswer = { inode: Inode; validMs: number } | { absent: true; validMs: number };

interface Listing {
  names: Map<string, number>; // name → inode number
  untilMs: number;
  withAttrs: boolean; // the entries' attributes were read with it
}

interface Fetch {
  startedSeq: number;
  // False once this mount changed an inode it could not name: no attributes from this fetch.
  attrsUsable: boolean;
  // This mount's name changes in the directory while the listing was read, replayed over it
  // (idempotent: the listing may or may not have seen them).
  ops: Array<[string, number | undefined]>;
}

export class DirectoryLeases {
  private readonly client: StrataClient;
  private readonly listings = new Map<number, Listing>(); // oldest first
  private readonly fetches = new Map<number, Fetch>();
  private readonly attrs = new Map<number, { inode: Inode; untilMs: number }>();
  // Lookups per directory in the current lease period, and how many of them found a name.
  private readonly lookups = new Map<number, { count: number; found: number; sinceMs: number }>();
  private readonly tooBig = new Map<number, number>(); // directory → retry after (ms)
  // Own changes, numbered, so a fetch does not install attributes older than one of them.
  private seq = 0;
  private readonly changedAt = new Map<number, number>(); // ino → seq, while fetches run
  private readonly log: Logger;

  constructor(client: StrataClient, log: Logger = silentLogger) {
    this.client = client;
    this.log = log;
  }

  // LOOKUP from the lease, or undefined: ask the service.
  answer(parent: number, name: string): LeaseAnswer | undefined {
    const now = Date.now();
    const listing = this.listings.get(parent);
    if (listing === undefined || listing.untilMs <= now) {
      this.noteLookup(parent, now, false);
      return undefined;
    }
    const validMs = listing.untilMs - now;
    const ino = listing.names.get(name);
    this.noteLookup(parent, now, ino !== undefined);
    if (ino === undefined) return { absent: true, validMs };
    const attr = this.attrs.get(ino);
    if (attr === undefined || attr.untilMs <= now) return undefined;
    return { inode: attr.inode, validMs: Math.min(validMs, attr.untilMs - now) };
  }

  // GETATTR from the lease, or undefined.
  attributes(ino: number): { inode: Inode; validMs: number } | undefined {
    const attr = this.attrs.get(ino);
    const now = Date.now();
    if (attr === undefined || attr.untilMs <= now) return undefined;
    return { inode: attr.inode, validMs: attr.untilMs - now };
  }

  // A name this mount made or linked, with the inode and directory the service returned.
  added(parent: number, name: string, entry: NewEntry): void {
    this.updated(entry.inode);
    if (entry.parent) this.updated(entry.parent);
    else this.changed(parent);
    this.nameChanged(parent, name, entry.inode.ino);
  }

  // A name this mount removed; `changedDir`: the directory as the service returned it. The inode
  // it named changed (link count, ctime): without a listing to say which it is, no attributes
  // held are trusted.
  removed(parent: number, name: string, changedDir: Inode | undefined): void {
    const ino = this.listings.get(parent)?.names.get(name);
    if (ino !== undefined) this.changed(ino);
    else this.forgetAttributes();
    if (changedDir) this.updated(changedDir);
    else this.changed(parent);
    this.nameChanged(parent, name, undefined);
  }

  // New attributes of an inode, from a change this mount made.
  updated(inode: Inode): void {
    this.noteChange(inode.ino);
    // Replaced in place, not deleted and added again: a busy directory changes with every create
    // in it, and V8 keeps each deleted entry of a key in that key's hash chain until the table is
    // rebuilt, so a key re-added over and over makes every lookup of it walk all the earlier ones
    // (72 µs per change in a 65,536-entry map on the test machine). Eviction is then by first
    // insertion, not last use; entries expire after LEASE_MS anyway.
    this.attrs.set(inode.ino, { inode, untilMs: Date.now() + LEASE_MS });
    trimOldest(this.attrs, ATTRS_MAX);
  }

  // An inode this mount changed without its new attributes at hand.
  changed(ino: number): void {
    this.noteChange(ino);
    this.attrs.delete(ino);
  }

  // A rename here: the inodes it moved or replaced changed (ctime, nlink) and the service does not
  // say which they are, so no attributes held are trusted, and both directories are read again.
  renamed(parent: number, newParent: number): void {
    this.forgetAttributes();
    this.drop(parent);
    this.drop(newParent);
  }

  // A LOOKUP the service answered with a name found (no lease answered it): the directory's
  // next listing is worth reading with its attributes.
  found(parent: number): void {
    const count = this.lookups.get(parent);
    if (count !== undefined) count.found += 1;
  }

  // Attributes just read from the service replace those held, unless this mount changed anything
  // while they were read (`seqBefore`: seq() when the read was sent).
  refreshed(inode: Inode, seqBefore: number): void {
    if (seqBefore !== this.seq || !this.attrs.has(inode.ino)) return;
    this.attrs.set(inode.ino, { inode, untilMs: Date.now() + LEASE_MS });
  }

  currentSeq(): number {
    return this.seq;
  }

  private forgetAttributes(): void {
    this.seq += 1;
    this.attrs.clear();
    for (const fetch of this.fetches.values()) fetch.attrsUsable = false;
  }

  // Nothing held can be trusted (the change feed missed changes): all is read again.
  forgetAll(): void {
    for (const fetch of this.fetches.values()) fetch.startedSeq = Number.POSITIVE_INFINITY;
    this.listings.clear();
    this.forgetAttributes();
  }

  // What this mount held of the directory proved wrong, or cannot be kept up to date.
  drop(dir: number): void {
    this.listings.delete(dir);
    this.changed(dir);
    const fetch = this.fetches.get(dir);
    // A listing being read now may predate what made it wrong: it is not installed.
    if (fetch) fetch.startedSeq = Number.POSITIVE_INFINITY;
  }

  private noteChange(ino: number): void {
    this.seq += 1;
    if (this.fetches.size > 0) this.changedAt.set(ino, this.seq);
  }

  private nameChanged(parent: number, name: string, ino: number | undefined): void {
    const listing = this.listings.get(parent);
    if (listing) {
      if (ino === undefined) listing.names.delete(name);
      else listing.names.set(name, ino);
    }
    this.fetches.get(parent)?.ops.push([name, ino]);
  }

  // Counts lookups per lease period; a hot directory's listing is (re)fetched before its lease
  // runs out, so lookups keep being answered here.
  // `found`: the lookup found a name in the listing. A listing read without attributes is read
  // again with them, at once, when lookups keep finding names in it.
  private noteLookup(dir: number, now: number, found: boolean): void {
    let count = this.lookups.get(dir);
    if (count === undefined || now - count.sinceMs >= LEASE_MS) {
      if (this.lookups.size >= LEASED_DIRECTORIES_MAX * 4) this.lookups.clear();
      count = { count: 0, found: 0, sinceMs: now };
      this.lookups.set(dir, count);
    }
    count.count += 1;
    if (found) count.found += 1;
    if (count.count < HOT_LOOKUPS || this.fetches.has(dir)) return;
    const listing = this.listings.get(dir);
    const attrsWanted = listing !== undefined && !listing.withAttrs && count.found >= HOT_LOOKUPS;
    if (listing !== undefined && listing.untilMs - now > LEASE_MS / 2 && !attrsWanted) return;
    if ((this.tooBig.get(dir) ?? 0) > now) return;
    void this.fetch(dir, now, count.found > 0);
  }

  private async fetch(dir: number, startedMs: number, withAttrs: boolean): Promise<void> {
    const fetch: Fetch = { startedSeq: this.seq, attrsUsable: withAttrs, ops: [] };
    this.fetches.set(dir, fetch);
    const attributes = withAttrs ? 'with' : 'without';
    try {
      const entries = await this.readListing(dir);
      if (entries === undefined) {
        this.tooBig.set(dir, Date.now() + TOO_BIG_RETRY_MS);
        fuseLeaseListings.inc({ attributes, outcome: 'too_big' });
        return;
      }
      const inodes: Array<Inode | null> = [];
      for (let i = 0; withAttrs && i < entries.length; i += GETATTR_MANY_MAX) {
        const inos = entries.slice(i, i + GETATTR_MANY_MAX).map((e) => e.ino);
        inodes.push(...(await this.client.getattrMany(inos)));
      }
      fuseLeaseListings.inc({ attributes, outcome: 'ok' });
      if (fetch.startedSeq === Number.POSITIVE_INFINITY) return; // dropped meanwhile
      const names = new Map(entries.map((e) => [e.name, e.ino]));
      for (const [name, ino] of fetch.ops) {
        if (ino === undefined) names.delete(name);
        else names.set(name, ino);
      }
      const untilMs = startedMs + LEASE_MS;
      this.listings.delete(dir);
      this.listings.set(dir, { names, untilMs, withAttrs });
      while (this.listings.size > LEASED_DIRECTORIES_MAX)
        this.listings.delete(this.listings.keys().next().value as number);
      for (const inode of inodes) {
        if (inode === null || !fetch.attrsUsable) continue; // null: removed meanwhile
        if ((this.changedAt.get(inode.ino) ?? -1) > fetch.startedSeq) continue;
        if ((this.attrs.get(inode.ino)?.untilMs ?? 0) >= untilMs) continue;
        this.attrs.delete(inode.ino);
        this.attrs.set(inode.ino, { inode, untilMs });
      }
      trimOldest(this.attrs, ATTRS_MAX);
    } catch (error) {
      // Lookups keep asking the service; the next hot period tries again.
      fuseLeaseListings.inc({ attributes, outcome: 'error' });
      this.log.warn('reading a directory listing for its lease failed', { dir, error });
    } finally {
      this.fetches.delete(dir);
      if (this.fetches.size === 0) this.changedAt.clear();
    }
  }

  // The whole listing, or undefined when it has more than LISTING_ENTRIES_MAX entries.
  private async readListing(dir: number) {
    const entries: Array<{ name: string; ino: number }> = [];
    let after: string | undefined;
    for (;;) {
      const page = await this.client.metadata.read('readdir', dir, after, LISTING_PAGE_ENTRIES);
      for (const e of page) entries.push({ name: e.name, ino: e.ino });
      if (entries.length > LISTING_ENTRIES_MAX) return undefined;
      if (page.length < LISTING_PAGE_ENTRIES) return entries;
      after = page[page.length - 1].name;
      assert(after !== undefined);
    }
  }
}
