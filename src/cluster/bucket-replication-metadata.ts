// Sends a metadata-only replication entry (src/metadata/bucket-replication-changes.ts): the
// version's tags, retention or legal hold as they are now at the source, through the S3 calls
// any client makes (PutObjectTagging / DeleteObjectTagging, PutObjectRetention,
// PutObjectLegalHold). The values sent are the current ones, not the change's, so sending an
// entry again (a crash before its outcome committed) or after a later change is harmless.
//
// To another Strata cluster the calls name the replica by the source's version id (it kept it).
// Any other S3 endpoint made its own ids, so only its current version can be named: that is this
// version's replica when the version was the key's current one at the change (one key's entries
// go in order, so every older write of the key has arrived and no newer one has). Otherwise the
// change is refused: the entry leaves the queue and the source version reads FAILED, with a log
// line and the failure counter, never a silent drop.
import assert from 'node:assert';
import type { S3Client } from '@aws-sdk/client-s3';
import type { ReplicationEntry } from '../metadata/bucket-replication-types.ts';
import type { ObjectVersion } from '../metadata/types.ts';

export const NONCURRENT_REFUSED =
  'the destination is not a Strata cluster (its version ids are its own) and the version was ' +
  'not the current one when it changed: its replica cannot be named';

// A send that hangs fails after this (the queue retries it).
const METADATA_SEND_TIMEOUT_MS = 60_000;

export async function sendMetadata(
  s3: S3Client,
  entry: ReplicationEntry,
  version: ObjectVersion,
  keepId: boolean,
): Promise<'completed' | 'refused'> {
  assert(entry.metadata !== undefined && entry.metadata.length > 0, 'a metadata entry');
  assert(!version.deleteMarker && version.inode !== undefined, 'an object version changed');
  if (!keepId && entry.current !== true) return 'refused';
  const sdk = await import('@aws-sdk/client-s3');
  const target = {
    Bucket: entry.destinationBucket,
    Key: entry.key,
    VersionId: keepId ? entry.versionId : undefined,
  };
  const options = { abortSignal: AbortSignal.timeout(METADATA_SEND_TIMEOUT_MS) };
  for (const what of new Set(entry.metadata)) {
    if (what === 'tags') {
      const tags = Object.entries(version.inode.object?.tags ?? {});
      const TagSet = tags.map(([Key, Value]) => ({ Key, Value }));
      if (TagSet.length === 0) await s3.send(new sdk.DeleteObjectTaggingCommand(target), options);
      else
        await s3.send(new sdk.PutObjectTaggingCommand({ ...target, Tagging: { TagSet } }), options);
    } else if (what === 'retention') {
      const retention = version.retention;
      // A retention already past protects nothing, and S3 refuses a date in the past: the
      // replica's own (the same date) has lapsed too.
      if (retention !== undefined && retention.untilMs <= Date.now()) continue;
      const Retention =
        retention === undefined
          ? {} // removed at the source (GOVERNANCE, with the bypass)
          : { Mode: retention.mode, RetainUntilDate: new Date(retention.untilMs) };
      const BypassGovernanceRetention = entry.bypassGovernance === true ? true : undefined;
      await s3.send(
        new sdk.PutObjectRetentionCommand({ ...target, Retention, BypassGovernanceRetention }),
        options,
      );
    } else {
      assert(what === 'legalHold', `a known metadata change: ${what}`);
      const Status = version.legalHold === true ? ('ON' as const) : ('OFF' as const);
      await s3.send(
        new sdk.PutObjectLegalHoldCommand({ ...target, LegalHold: { Status } }),
        options,
      );
    }
  }
  return 'completed';
}
