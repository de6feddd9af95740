// Which stripes of a page the repair driver plans again while its throttle holds tasks back.
// The page's first plan judges every stripe and orders their needs (fewest spare shards first);
// the throttle then admits from the head of that order a few at a time, as slots free up. Planning
// the whole page again at each turn cost the metadata leader O(page) each time, some 30 times a
// second: in benches/repair the calls blocked its event loop for 6 ms on average and up to 30 ms
// (a foreground GET's read barrier waited behind them), 18% of its time in the repair window.
// So the next plans look at a window of the head of the order (the stripes the throttle held
// back, in their order, then the stripes deferred earlier), the stripes waiting for another
// reason (no target yet, too few sources: few, and planned each time as before), and whatever
// the driver adds (stripes whose task ended since, replanned as before). A stripe beyond the
// window keeps its place in the order and comes into the window as the head is admitted.
// Pure: the driver feeds it each plan and reads the next candidates.
import assert from 'node:assert/strict';
import type { RepairPlan } from './types.ts';

interface Deferred {
  stripeId: string;
  needs: number; // its shards waiting in the plan that deferred it
}

export class PlanWindow {
  readonly size: number;
  private deferred: Deferred[] = []; // beyond the window, in the order of the plan
  // The shards of the stripes the last plan did not look at (deferred before it, now in the
  // window or still beyond it): the plan's own waiting list has the rest.
  private unplannedNeeds = 0;
  private unplannedCount = 0; // stripes of the window that came in from the deferred ones

  constructor(size: number) {
    assert.ok(Number.isInteger(size) && size >= 1, 'a window holds at least one stripe');
    this.size = size;
  }

  // After `plan` (over the last candidates and the stripes the driver added): the stripes the
  // next plan takes. `gone` says which stripes left the page (failed, or repaired whole): they
  // are dropped from the deferred ones.
  next(plan: RepairPlan, gone: (stripeId: string) => boolean): Set<string> {
    const held = new Map<string, number>(); // throttled needs by stripe, in the plan's order
    const other = new Set<string>();
    for (const w of plan.waiting) {
      if (w.why === 'throttled') held.set(w.stripeId, (held.get(w.stripeId) ?? 0) + 1);
      else other.add(w.stripeId);
    }
    const planned = new Set([...held.keys(), ...other, ...plan.tasks.map((t) => t.stripeId)]);
    const order: Deferred[] = [...held].map(([stripeId, needs]) => ({ stripeId, needs }));
    for (const d of this.deferred) if (!planned.has(d.stripeId) && !gone(d.stripeId)) order.push(d);
    this.deferred = order.slice(this.size);
    this.unplannedNeeds = order.slice(held.size).reduce((sum, d) => sum + d.needs, 0);
    this.unplannedCount = Math.max(0, Math.min(this.size, order.length) - held.size);
    return new Set([...order.slice(0, this.size).map((d) => d.stripeId), ...other]);
  }

  // Stripes of the next window that no plan has looked at since they were deferred: when the
  // last plan held nothing back, the caller plans them at once (the window may hold all that
  // was left, and nothing beyond it).
  get unplanned(): number {
    return this.unplannedCount;
  }

  // Stripes beyond the window.
  get deferredStripes(): number {
    return this.deferred.length;
  }

  // Shards waiting that the last plan did not list (its stripes were deferred before it): with
  // the plan's tasks and waiting list, the repair queue.
  get unplannedShards(): number {
    return this.unplannedNeeds;
  }
}
