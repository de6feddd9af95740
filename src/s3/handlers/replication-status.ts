import type { ObjectVersion } from '../../metadata/types.ts';

// x-amz-replication-status on GET and HEAD of a source version a replication rule took:
// PENDING, COMPLETED or FAILED (src/metadata/bucket-replication.ts).
export function replicationHeaders(version: ObjectVersion): Record<string, string> {
  const status = version.replicationStatus;
  return status === undefined ? {} : { 'x-amz-replication-status': status };
}
