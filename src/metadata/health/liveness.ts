// A data server's liveness as a pure function of its detector and the configured delays:
// - up: phi below the threshold.
// - suspect: phi at or above it. Readers and placement skip the server; nothing is rebuilt yet.
// - down: suspect and silent for at least `downAfterMs` since its last heartbeat. Only now does
//   repair rebuild its shards elsewhere, so a reboot shorter than the delay costs no rebuild
//   (Ceph waits mon_osd_down_out_interval, 10 minutes, before it marks an OSD out).
// draining and removed are operator decisions kept in replicated state, not detector outputs.
import assert from 'node:assert/strict';
import type { PhiAccrualDetector } from './phi-accrual.ts';

export type Liveness = 'up' | 'suspect' | 'down';

export interface LivenessOptions {
  downAfterMs: number; // silence after which a suspected server's shards are rebuilt
}

export const defaultLivenessOptions: LivenessOptions = { downAfterMs: 60_000 };

export interface LivenessInput {
  phi: number;
  threshold: number;
  silentForMs: number; // since the last heartbeat
}

export function livenessOf(input: LivenessInput, options: LivenessOptions): Liveness {
  assert.ok(input.phi >= 0 && input.silentForMs >= 0, 'phi and silence are never negative');
  assert.ok(options.downAfterMs >= 0, 'downAfterMs must be >= 0');
  if (input.phi < input.threshold) return 'up';
  return input.silentForMs >= options.downAfterMs ? 'down' : 'suspect';
}

// The liveness of a monitored server at `nowMs`. A server never heard from is up (phi 0): the
// registration that created it is its first heartbeat.
export function livenessAt(
  detector: PhiAccrualDetector,
  nowMs: number,
  options: LivenessOptions = defaultLivenessOptions,
): Liveness {
  const last = detector.lastHeartbeatMs;
  const silentForMs = last === undefined ? 0 : nowMs - last;
  return livenessOf(
    { phi: detector.phi(nowMs), threshold: detector.options.threshold, silentForMs },
    options,
  );
}
