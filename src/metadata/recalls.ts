// Directories another client waits for (it met EDELEGATED), kept by the leader in memory until
// their mount gives them back: each dirBatch answer tells the mount which of its directories are
// wanted. A leader change forgets them; the waiting client's next try asks again. A mount that
// sends nothing more gives its directories back by itself once idle (src/fuse/write-behind.ts).
//
// A directory asked for is not granted again (delegateDir answers "not delegated") for
// HOLD_OFF_MS after the last ask: a mount that keeps changing it would otherwise take it back
// between the give-back and the waiting client's next try (its retries are up to 50 ms apart),
// and that client could wait as long as the mount stays busy. Refused, the mount asks again no
// sooner than its own refusal delay (5 s) and commits its changes there one by one meanwhile.
import type { MetadataReader } from './types.ts';

const RECALLS_MAX = 4096;
export const RECALL_HOLD_OFF_MS = 1000;

export class Recalls {
  private readonly wanted = new Set<number>();
  private readonly askedMs = new Map<number, number>(); // dir -> when it was last asked for

  ask(dir: number, nowMs: number): void {
    if (this.wanted.size >= RECALLS_MAX) this.wanted.clear(); // asked again by the next try
    this.wanted.add(dir);
    if (this.askedMs.size >= RECALLS_MAX) this.forgetOld(nowMs);
    this.askedMs.delete(dir); // re-inserted last: the map stays in the order of the asks
    this.askedMs.set(dir, nowMs);
  }

  // The directories wanted that `mountId` holds; those no longer delegated are forgotten.
  of(reader: MetadataReader, mountId: string): number[] {
    const out: number[] = [];
    for (const dir of this.wanted) {
      const held = reader.delegation(dir);
      if (held === undefined) this.wanted.delete(dir);
      else if (held.mountId === mountId) out.push(dir);
    }
    return out;
  }

  // True while a grant of `dir` waits: someone asked for it within RECALL_HOLD_OFF_MS.
  heldOff(dir: number, nowMs: number): boolean {
    const asked = this.askedMs.get(dir);
    return asked !== undefined && nowMs - asked < RECALL_HOLD_OFF_MS;
  }

  private forgetOld(nowMs: number): void {
    for (const [dir, asked] of this.askedMs) {
      if (nowMs - asked < RECALL_HOLD_OFF_MS) break; // the rest are newer
      this.askedMs.delete(dir);
    }
    // Every ask this recent (a flood): the oldest half goes, so that the map stays bounded.
    if (this.askedMs.size >= RECALLS_MAX)
      for (const dir of [...this.askedMs.keys()].slice(0, RECALLS_MAX / 2))
        this.askedMs.delete(dir);
  }

  get size(): number {
    return this.wanted.size;
  }
}
