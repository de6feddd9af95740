// Names from before the design's configuration became the contract. They still work, so that
// existing files, scripts and units keep starting, and each use logs a deprecation warning
// naming its replacement. An old name and its new name both set in one source is an error:
// which one was meant cannot be guessed.

// Old dotted key -> design key. `[erasure]` became `[erasure_coding]`.
export const KEY_ALIASES: Readonly<Record<string, string>> = {
  'node.data_dir': 'storage.data_dir',
  'metadata.addr': 'metadata.bind_addr',
  'data.addr': 'data.bind_addr',
  's3.addr': 's3.bind_addr',
  'erasure.data_shards': 'erasure_coding.data_shards',
  'erasure.parity_shards': 'erasure_coding.parity_shards',
  'erasure.shard_size_bytes': 'erasure_coding.shard_size_bytes',
};

// Old names inside an s3.auth.credentials entry.
export const CREDENTIAL_ALIASES: Readonly<Record<string, string>> = {
  access_key: 'access_key_id',
  user: 'user_id',
};

// The variables named after flags (STRATA_<FLAG>) before the STRATA_<SECTION>_<KEY> rule; the
// rule applied to an old key (STRATA_METADATA_ADDR, STRATA_S3_ADDR, ...) is deprecated as well.
export const ENV_ALIASES: Readonly<Record<string, string>> = {
  STRATA_ROLE: 'node.role',
  STRATA_DATA_DIR: 'storage.data_dir',
  STRATA_RAFT_PEERS: 'metadata.raft_peers',
  STRATA_RAFT_JOIN: 'metadata.raft_join',
  STRATA_DISKS: 'data.disks',
  STRATA_REGION: 's3.region',
  STRATA_METRICS_ADDR: 'observability.metrics_addr',
};
