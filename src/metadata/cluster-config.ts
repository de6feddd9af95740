// The one cluster configuration (erasure profile, placement strategy) in replicated state. The
// first leader records its own configuration (initClusterConfig: the first one recorded wins);
// from then on every member hands out the recorded one, and a member whose configuration file
// says otherwise logs the differences as a warning once (they are not used).
import type { Logger } from '../observability/logger.ts';
import type { LeaderAccess } from './liveness-monitor.ts';
import type { ClusterConfig } from './types.ts';

const CHECK_INTERVAL_MS = 1_000;

// "key: here X, cluster Y" for each setting that differs.
export function configDifferences(local: ClusterConfig, cluster: ClusterConfig): string[] {
  const rows: Array<[string, unknown, unknown]> = [
    ['erasure_coding.data_shards', local.erasure.k, cluster.erasure.k],
    ['erasure_coding.parity_shards', local.erasure.m, cluster.erasure.m],
    [
      'erasure_coding.shard_size_bytes',
      local.erasure.shardSizeBytes,
      cluster.erasure.shardSizeBytes,
    ],
    [
      'erasure_coding.inline_max_bytes',
      local.erasure.inlineMaxBytes ?? 0,
      cluster.erasure.inlineMaxBytes ?? 0,
    ],
    ['placement.strategy', local.placement.strategy, cluster.placement.strategy],
  ];
  const policy = (c: ClusterConfig, name: 'GLACIER' | 'DEEP_ARCHIVE') => {
    const p = c.storageClasses?.[name];
    return p === undefined ? 'none' : `${p.k}+${p.m} pool ${p.pool ?? '(all)'}`;
  };
  for (const name of ['GLACIER', 'DEEP_ARCHIVE'] as const)
    rows.push([`storage_classes (${name})`, policy(local, name), policy(cluster, name)]);
  return rows
    .filter(([, here, there]) => here !== there)
    .map(([key, here, there]) => `${key}: ${String(here)} here, ${String(there)} in the cluster`);
}

export class ClusterConfigKeeper {
  readonly #leader: LeaderAccess;
  readonly #local: ClusterConfig;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #bootstrapping: Promise<ClusterConfig> | undefined;
  #compared: string | undefined; // the recorded configuration last compared with this file's

  constructor(leader: LeaderAccess, local: ClusterConfig, log: Logger) {
    this.#leader = leader;
    this.#local = local;
    this.#log = log;
    this.#timer = setInterval(() => this.#check(), CHECK_INTERVAL_MS);
    this.#timer.unref();
  }

  recorded(): ClusterConfig | undefined {
    return this.#leader.reader.clusterConfig();
  }

  // On the leader: the recorded configuration, recording this member's own first if there is
  // none (after applying every earlier entry, so an older record is never missed).
  bootstrap(): Promise<ClusterConfig> {
    this.#bootstrapping ??= this.#record().finally(() => {
      this.#bootstrapping = undefined;
    });
    return this.#bootstrapping;
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  async #record(): Promise<ClusterConfig> {
    await this.#leader.readBarrier();
    const existing = this.recorded();
    if (existing) return existing;
    const result = await this.#leader.apply({
      op: 'initClusterConfig',
      nowMs: Date.now(),
      config: this.#local,
    });
    if (!result.ok || !result.clusterConfig)
      throw new Error(`cannot record the cluster configuration: ${JSON.stringify(result)}`);
    this.#log.info('cluster configuration recorded', { config: result.clusterConfig });
    return result.clusterConfig;
  }

  #check(): void {
    const recorded = this.recorded();
    if (!recorded) {
      if (this.#leader.isLeader())
        this.bootstrap().catch((error) =>
          this.#log.warn('cannot record the cluster configuration yet', { error }),
        );
      return;
    }
    const key = JSON.stringify(recorded);
    if (key === this.#compared) return;
    this.#compared = key;
    const differences = configDifferences(this.#local, recorded);
    if (differences.length > 0)
      this.#log.warn(
        'this configuration differs from the cluster configuration, which is set once and used instead',
        { differences },
      );
  }
}
