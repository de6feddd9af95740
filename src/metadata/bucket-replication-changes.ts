// Replication of metadata changes made after a version was sent (issue 16): a change of a
// replicated version's tags (PutObjectTagging, DeleteObjectTagging), retention
// (PutObjectRetention) or legal hold (PutObjectLegalHold) joins the replication queue in the
// change's own command, as a metadata-only entry after the version's own, so it is durable and
// reaches the destination after the version it changes. The runner
// (src/cluster/bucket-replication-runner.ts) sends the properties' values as they are then.
//
// Which versions: those a rule took when they were written (replication status PENDING,
// COMPLETED or FAILED), as AWS replicates metadata changes of the versions it replicated. A tag
// change that makes such a version stop matching a rule's tag filter is still sent (the replica
// exists, and keeping its old tags would make it lie; AWS does not delete a replica either); one
// that makes a version never sent match a tag filter does not send it (AWS replicates a version
// when it is written; older ones need S3 Batch Replication, which Strata does not have). A
// replica (REPLICA) is not sent on, as for versions. ACL changes are not replicated: grants name
// this cluster's users (docs/guides/replication.md).
import assert from 'node:assert';
import { enqueue, matchingRule } from './bucket-replication.ts';
import type {
  ReplicationConfig,
  ReplicationMetadataChange,
  ReplicationRule,
  ReplicationStatusRecord,
} from './bucket-replication-types.ts';
import * as K from './keys.ts';
import type { Store } from './store.ts';
import type { CommandResult } from './types.ts';
import { objectVersion } from './version-reads.ts';

export interface MetadataChange {
  bucket: string;
  key: string;
  nowMs: number;
  what: ReplicationMetadataChange;
  bypassGovernance?: boolean;
}

// After a command that changed a version's tags, retention or legal hold, in its transaction.
export function queueMetadataChange(
  store: Store,
  change: MetadataChange,
  result: CommandResult,
): void {
  if (!result.ok || result.versionId === undefined) return;
  const info = store.bucket(change.bucket);
  if (info?.replication === undefined) return;
  const record = store.db.get(K.replicationStatusKey(info.ino, change.key, result.versionId)) as
    | ReplicationStatusRecord
    | undefined;
  if (record === undefined || record.status === 'REPLICA') return;
  const version = objectVersion(store, change.bucket, change.key, result.versionId);
  assert(version !== undefined && !version.deleteMarker, 'a changed version is an object');
  // The rule that takes the version now, else (its tags changed) the one its key's prefix names:
  // the version was replicated, so its replica follows it.
  const rule =
    matchingRule(info.replication, change.key, version.inode?.object?.tags) ??
    ruleByPrefix(info.replication, change.key);
  if (rule === undefined) return; // no enabled rule names the key any more: replication stopped
  enqueue(store, {
    bucket: change.bucket,
    bucketIno: info.ino,
    key: change.key,
    versionId: result.versionId,
    deleteMarker: false,
    ruleId: rule.id,
    destinationBucket: rule.destinationBucket,
    enqueuedAtMs: change.nowMs,
    attempts: 0,
    nextAttemptAtMs: change.nowMs,
    status: 'PENDING',
    metadata: [change.what],
    current: version.isLatest,
    ...(change.bypassGovernance === true ? { bypassGovernance: true } : {}),
  });
}

// The enabled rule with the highest priority whose prefix takes the key, its tags aside.
function ruleByPrefix(config: ReplicationConfig, key: string): ReplicationRule | undefined {
  let best: ReplicationRule | undefined;
  for (const rule of config.rules) {
    if (!rule.enabled || !key.startsWith(rule.prefix)) continue;
    if (best === undefined || rule.priority > best.priority) best = rule;
  }
  return best;
}
