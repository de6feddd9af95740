// Rendezvous (highest-random-weight) hashing: each (stripe, item) pair gets a pseudo-random score
// and a stripe goes to the items with the highest scores. Adding or removing an item changes only
// the rankings that involve it, which is what keeps movement minimal (Thaler and Ravishankar, 1998).
import assert from 'node:assert/strict';

// A uniform number in (0, 1] from "stripe|key": two 32-bit FNV-1a hashes with murmur3 finalisers,
// combined to 52 bits so that ties between items practically never happen.
export function rendezvousUnit(stripeId: string, key: string): number {
  const text = `${stripeId}|${key}`;
  const high = mix(fnv1a(text, 0x811c9dc5)) >>> 12; // 20 bits
  const low = mix(fnv1a(text, 0x01000193 ^ 0x5bd1e995)); // 32 bits
  const unit = (high * 0x100000000 + low + 1) / 2 ** 52;
  // Messages are built only on failure: this runs for every candidate disk of every stripe.
  if (!(unit > 0 && unit <= 1)) assert.fail(`rendezvous unit out of range: ${unit}`);
  return unit;
}

// CRUSH's straw2 draw (Weil et al. 2006, straw2 in Ceph since Hammer): ln(u) / weight. The item with
// the highest draw wins with probability proportional to its weight, and an item's draw depends on
// its own weight only, so reweighting one item moves data only to or from that item.
export function straw2Score(stripeId: string, key: string, weight: number): number {
  if (!(weight > 0 && Number.isFinite(weight))) assert.fail(`straw2 weight must be > 0: ${weight}`);
  return Math.log(rendezvousUnit(stripeId, key)) / weight;
}

function fnv1a(text: string, seed: number): number {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function mix(value: number): number {
  let hash = value;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
