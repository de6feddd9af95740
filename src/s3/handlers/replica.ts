// Writes of replicas: bucket replication from another Strata cluster sends each version with
// its source's version id in x-strata-replica-version-id, on PutObject (a version) and
// DeleteObject (a delete marker), so the destination keeps the source's ids and order
// (docs/guides/replication.md, "Strata to Strata"). The state machine places the version
// (src/metadata/versions.ts, replicaPlace); here the caller's permission is checked: the
// header needs s3:ReplicateObject or s3:ReplicateDelete besides the write's own action, as a
// destination grants the replication user on AWS, so a plain writer cannot choose version ids.
import { isStrataError } from '../../common/errors.ts';
import { authorize } from '../access.ts';
import type { RequestContext } from '../context.ts';

export const REPLICA_VERSION_HEADER = 'x-strata-replica-version-id';

// The source version id the request carries, once the caller may write replicas; undefined for
// an ordinary write.
export async function replicaVersionOf(
  ctx: RequestContext,
  check: { bucket: string; key: string; action: 's3:ReplicateObject' | 's3:ReplicateDelete' },
): Promise<string | undefined> {
  const value = ctx.req.headers[REPLICA_VERSION_HEADER];
  if (typeof value !== 'string') return undefined;
  await authorize(ctx, check);
  return value.trim();
}

// A replica the destination holds already (EEXIST from the state machine): the sender's retry
// after an answer it never got, which is done.
export function isReplicaHeld(error: unknown, replicaVersionId: string | undefined): boolean {
  return replicaVersionId !== undefined && isStrataError(error, 'EEXIST');
}
