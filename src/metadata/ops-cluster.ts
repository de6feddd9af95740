// Commands about the cluster itself: data servers (registration, state, disks) and the one
// cluster configuration. Deterministic like every command: the leader's clock comes in nowMs.
import assert from 'node:assert/strict';
import * as K from './keys.ts';
import { placementStrategies } from './placement/types.ts';
import { serverShardCount, shardCounts } from './shard-counts.ts';
import { fail, type Store } from './store.ts';
import { notePlacementChange } from './stripe-placement.ts';
import {
  type ClusterConfig,
  type Command,
  type DataServerDisk,
  type DataServerInfo,
  type DiskState,
  type FailureDomain,
  INLINE_MAX_BYTES_LIMIT,
  type ServerState,
  type StoragePolicy,
} from './types.ts';

type Op<T extends Command['op']> = Extract<Command, { op: T }>;

export const SERVER_STATES: readonly ServerState[] = [
  'up',
  'suspect',
  'down',
  'draining',
  'removed',
];
const DISK_STATES: readonly DiskState[] = ['up', 'failed', 'draining'];
const DISKS_PER_SERVER_MAX = 256; // as data.disk_count allows
const DISK_ID = /^[0-9a-f]{32}$/; // src/data/shard-store.ts makes them
const LABEL_CHARS_MAX = 128;
// Labels are joined with '\n' into domain keys (placement/domains.ts): no control characters.
const LABEL = /^[^\p{Cc}]+$/u;
const SERVER_ID = /^[^\p{Cc}/]{1,128}$/u;
// The label a server of an older version, which sends none, gets at a level: one domain for
// all such servers at zone and rack, its own id as host (each server is its own machine).
export const DEFAULT_LABEL = 'default';

// A record as the reader returns it: records written before heartbeats existed lack the state,
// the labels and the disks' status; they read as up, labelled by their id, disks up.
export function normaliseServer(raw: DataServerInfo): DataServerInfo {
  return {
    ...raw,
    domain: raw.domain ?? defaultDomain(raw.serverId),
    state: raw.state ?? 'up',
    stateSinceMs: raw.stateSinceMs ?? raw.registeredAtMs,
    disks: raw.disks.map((d) => ({
      ...d,
      state: d.state ?? 'up',
      capacityBytes: d.capacityBytes ?? 0,
      freeBytes: d.freeBytes ?? 0,
    })),
  };
}

function defaultDomain(serverId: string): FailureDomain {
  return { zone: DEFAULT_LABEL, rack: DEFAULT_LABEL, host: serverId };
}

export function server(store: Store, serverId: string): DataServerInfo | undefined {
  const raw = store.db.get(K.serverKey(serverId)) as DataServerInfo | undefined;
  return raw === undefined ? undefined : normaliseServer(raw);
}

function mustServer(store: Store, serverId: unknown): DataServerInfo {
  if (typeof serverId !== 'string' || !SERVER_ID.test(serverId))
    return fail('EINVAL', `bad data server id ${JSON.stringify(serverId)}`);
  return server(store, serverId) ?? fail('ENOENT', `data server ${serverId} is not registered`);
}

function checkDomain(domain: unknown): FailureDomain {
  if (typeof domain !== 'object' || domain === null) fail('EINVAL', 'a domain is an object');
  const d = domain as Record<string, unknown>;
  for (const level of ['zone', 'rack', 'host']) {
    const label = d[level];
    if (typeof label !== 'string' || label.length > LABEL_CHARS_MAX || !LABEL.test(label))
      fail(
        'EINVAL',
        `bad ${level} label ${JSON.stringify(label)}: 1-${LABEL_CHARS_MAX} characters`,
      );
  }
  const checked: FailureDomain = {
    zone: d.zone as string,
    rack: d.rack as string,
    host: d.host as string,
  };
  if (d.pool !== undefined && d.pool !== '') {
    const pool = d.pool as string;
    if (typeof pool !== 'string' || pool.length > LABEL_CHARS_MAX || !LABEL.test(pool))
      fail('EINVAL', `bad pool label ${JSON.stringify(pool)}: 1-${LABEL_CHARS_MAX} characters`);
    checked.pool = pool;
  }
  return checked;
}

// A server registering again (a restart, new address or disks) keeps its state: a server marked
// down comes back up only when the leader's detector hears its heartbeats. A disk still at the
// same number and path keeps its recorded status.
export function registerDataServer(store: Store, c: Op<'registerDataServer'>) {
  const s = c.server;
  if (typeof s !== 'object' || s === null) fail('EINVAL', 'registerDataServer needs a server');
  const id = s.serverId;
  if (typeof id !== 'string' || !SERVER_ID.test(id)) fail('EINVAL', 'a data server needs an id');
  if (typeof s.addr !== 'string' || s.addr.length === 0) fail('EINVAL', 'a data server needs addr');
  if (!Array.isArray(s.disks) || s.disks.length > DISKS_PER_SERVER_MAX)
    fail('EINVAL', `a data server has at most ${DISKS_PER_SERVER_MAX} disks`);
  const previous = server(store, id);
  if (previous?.state === 'removed')
    fail('SERVER_REMOVED', `data server ${id} was removed from the cluster; use a new id`);
  const disks: DataServerDisk[] = s.disks.map((d) => {
    if (!Number.isSafeInteger(d?.disk) || d.disk < 0 || typeof d.path !== 'string')
      fail('EINVAL', `bad disk ${JSON.stringify(d)}`);
    const kept = previous?.disks.find((p) => p.disk === d.disk && p.path === d.path);
    return kept ?? { disk: d.disk, path: d.path, state: 'up', capacityBytes: 0, freeBytes: 0 };
  });
  if (new Set(disks.map((d) => d.disk)).size !== disks.length)
    fail('EINVAL', `data server ${id} lists a disk number twice`);
  const record: DataServerInfo = {
    serverId: id,
    addr: s.addr,
    disks,
    registeredAtMs: c.nowMs,
    domain:
      s.domain === undefined ? (previous?.domain ?? defaultDomain(id)) : checkDomain(s.domain),
    state: previous?.state ?? 'up',
    stateSinceMs: previous?.stateSinceMs ?? c.nowMs,
  };
  putServer(store, previous, record);
  return { ok: true as const };
}

// removed is for good: a removed server's id is never brought back by a late verdict.
export function setServerState(store: Store, c: Op<'setServerState'>) {
  const current = mustServer(store, c.serverId);
  if (!SERVER_STATES.includes(c.state)) fail('EINVAL', `bad server state ${String(c.state)}`);
  if (c.ifState !== undefined && c.ifState !== current.state)
    fail(
      'PRECONDITION_FAILED',
      `data server ${c.serverId} is ${current.state}, not ${String(c.ifState)}`,
    );
  if (current.state === 'removed' && c.state !== 'removed')
    fail('SERVER_REMOVED', `data server ${c.serverId} was removed; it cannot become ${c.state}`);
  if (current.state === c.state) return { ok: true as const };
  checkOperatorTransition(store, current, c.state);
  const next: DataServerInfo = { ...current, state: c.state, stateSinceMs: c.nowMs };
  putServer(store, current, next);
  return { ok: true as const };
}

// The operator's states: a drain starts from up, suspect or down (a dead server's shards are
// rebuilt from the others all the same); removal only ends a finished drain, so every path that
// proposes it (the CLI, a script, a replayed entry) is refused while a shard is left.
function checkOperatorTransition(store: Store, current: DataServerInfo, next: ServerState) {
  const id = current.serverId;
  if (next === 'removed') {
    if (current.state !== 'draining')
      fail('SERVER_NOT_DRAINED', `data server ${id} is ${current.state}; drain it first`);
    const shards = serverShardCount(store, id);
    if (shards > 0)
      fail(
        'SERVER_NOT_DRAINED',
        `data server ${id} still holds ${shards} shards; wait for its drain to finish`,
      );
  }
  // From draining only back to up (undrain): the detector leaves operator states alone.
  if (current.state === 'draining' && next !== 'up' && next !== 'removed')
    fail('PRECONDITION_FAILED', `data server ${id} is draining; undrain it first`);
}

export function setDiskStatus(store: Store, c: Op<'setDiskStatus'>) {
  const current = mustServer(store, c.serverId);
  if (!Array.isArray(c.disks) || c.disks.length > DISKS_PER_SERVER_MAX)
    fail('EINVAL', `at most ${DISKS_PER_SERVER_MAX} disks per command`);
  const disks = current.disks.map((d) => ({ ...d }));
  for (const update of c.disks) {
    const disk = disks.find((d) => d.disk === update?.disk);
    if (!disk) return fail('EINVAL', `data server ${c.serverId} has no disk ${update?.disk}`);
    if (!DISK_STATES.includes(update.state)) fail('EINVAL', `bad disk state ${update.state}`);
    const { capacityBytes, freeBytes } = update;
    if (!Number.isSafeInteger(capacityBytes) || !Number.isSafeInteger(freeBytes))
      fail('EINVAL', 'disk sizes are integers');
    if (capacityBytes < 0 || freeBytes < 0 || freeBytes > capacityBytes)
      fail('EINVAL', `disk ${update.disk}: need 0 <= freeBytes <= capacityBytes`);
    if (update.diskId !== undefined && update.diskId !== disk.diskId) {
      if (typeof update.diskId !== 'string' || !DISK_ID.test(update.diskId))
        fail('EINVAL', `disk ${update.disk}: bad disk identity`);
      // The shards recorded on the disk were written to the one it replaced: only an empty
      // record takes the new identity (the leader's verdict may be overtaken by a write).
      const held = shardCounts(store, c.serverId).find((d) => d.disk === update.disk)?.shards ?? 0;
      if (disk.diskId !== undefined && held > 0)
        fail('PRECONDITION_FAILED', `disk ${update.disk} still records ${held} shards`);
      disk.diskId = update.diskId;
    }
    disk.state = update.state;
    disk.capacityBytes = capacityBytes;
    disk.freeBytes = freeBytes;
  }
  putServer(store, current, { ...current, disks });
  return { ok: true as const };
}

// Every change of a server record goes through here: one that may widen the live view moves
// the placement epoch (src/metadata/stripe-placement.ts).
function putServer(store: Store, before: DataServerInfo | undefined, after: DataServerInfo) {
  store.db.putSync(K.serverKey(after.serverId), after);
  notePlacementChange(store, before, after);
}

export function clusterConfig(store: Store): ClusterConfig | undefined {
  return store.db.get(K.clusterConfigKey()) as ClusterConfig | undefined;
}

export function initClusterConfig(store: Store, c: Op<'initClusterConfig'>) {
  const existing = clusterConfig(store);
  if (existing) return { ok: true as const, clusterConfig: existing };
  const config = checkClusterConfig(c.config);
  store.db.putSync(K.clusterConfigKey(), config);
  return { ok: true as const, clusterConfig: config };
}

function checkClusterConfig(config: unknown): ClusterConfig {
  const c = config as Partial<ClusterConfig> | null;
  const e = c?.erasure;
  const int = (v: unknown, min: number, max: number) =>
    Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max;
  if (!e || !int(e.k, 1, 255) || !int(e.m, 1, 255) || e.k + e.m > 256)
    return fail('EINVAL', 'erasure: k and m are integers >= 1 with k + m <= 256');
  if (!int(e.shardSizeBytes, 1, 2 ** 30)) fail('EINVAL', 'erasure: bad shardSizeBytes');
  const inline = e.inlineMaxBytes ?? 0;
  if (!int(inline, 0, INLINE_MAX_BYTES_LIMIT))
    fail('EINVAL', `erasure: inlineMaxBytes is 0..${INLINE_MAX_BYTES_LIMIT}`);
  const strategy = c?.placement?.strategy;
  if (strategy === undefined || !placementStrategies.includes(strategy))
    return fail('EINVAL', `placement: strategy is one of ${placementStrategies.join(', ')}`);
  const checked: ClusterConfig = {
    erasure: { k: e.k, m: e.m, shardSizeBytes: e.shardSizeBytes },
    placement: { strategy },
  };
  // Absent stays absent (0): a configuration recorded by an older leader compares equal.
  if (e.inlineMaxBytes !== undefined) checked.erasure.inlineMaxBytes = inline;
  assert.ok(checked.erasure.k + checked.erasure.m <= 256);
  if (c?.storageClasses !== undefined) {
    const policy = (p: StoragePolicy | undefined, name: string): StoragePolicy => {
      if (!p || !int(p.k, 1, 255) || !int(p.m, 1, 255) || p.k + p.m > 256)
        return fail('EINVAL', `storage class ${name}: k and m are integers >= 1, k + m <= 256`);
      if (p.pool !== undefined && (typeof p.pool !== 'string' || !LABEL.test(p.pool)))
        return fail('EINVAL', `storage class ${name}: a pool is a label`);
      return { k: p.k, m: p.m, ...(p.pool !== undefined ? { pool: p.pool } : {}) };
    };
    const classes = c.storageClasses;
    checked.storageClasses = {
      GLACIER: policy(classes.GLACIER, 'GLACIER'),
      DEEP_ARCHIVE: policy(classes.DEEP_ARCHIVE, 'DEEP_ARCHIVE'),
    };
  }
  return checked;
}
