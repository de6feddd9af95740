// Directories another client waits for (it met EDELEGATED), kept by the leader in memory until
// their mount gives them back: each dirBatch answer tells the mount which of its directories are
// wanted. A leader change forgets them; the waiting client's next try asks again. A mount that
// sends nothing more gives its directories back by itself once idle (src/fuse/write-behind.ts).
import type { MetadataReader } from './types.ts';

const RECALLS_MAX = 4096;

export class Recalls {
  private readonly wanted = new Set<number>();

  ask(dir: number): void {
    if (this.wanted.size >= RECALLS_MAX) this.wanted.clear(); // asked again by the next try
    this.wanted.add(dir);
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

  get size(): number {
    return this.wanted.size;
  }
}
