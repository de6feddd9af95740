// Errors crossing a module boundary carry a stable `code`. File-system errors use errno names
// (ENOENT, EEXIST, ...) so the FUSE layer maps them to errno numbers and the S3 layer maps them to
// S3 error codes, each in one place. Callers branch on `code`, never on `message`.

export type ErrnoCode =
  | 'ENOENT'
  | 'EEXIST'
  | 'ENOTDIR'
  | 'EISDIR'
  | 'ENOTEMPTY'
  | 'EINVAL'
  | 'EIO'
  | 'ENOSPC'
  | 'EACCES'
  | 'EPERM'
  | 'EXDEV'
  | 'ENAMETOOLONG'
  | 'ENOTSUP'
  | 'ENODATA'
  | 'EBUSY'
  | 'ELOOP'
  // Mostly for the FUSE mount.
  | 'EBADF'
  | 'EMFILE'
  | 'ENXIO'
  | 'EAGAIN' // a lock conflicts with another owner's
  | 'EINTR'
  | 'ESTALE' // the mount session is gone (expired or closed): its locks and orphans are lost
  | 'ENOLCK'
  | 'EROFS'
  | 'ERANGE'
  | 'ENOSYS';

export type StrataErrorCode =
  | ErrnoCode
  // A metadata precondition (If-Match / If-None-Match on a write) did not hold.
  | 'PRECONDITION_FAILED'
  | 'NO_SUCH_BUCKET'
  | 'BUCKET_EXISTS'
  | 'BUCKET_NOT_EMPTY'
  | 'NO_SUCH_UPLOAD'
  // A versionId that names no version of the key (S3 NoSuchVersion).
  | 'NO_SUCH_VERSION'
  // GET, HEAD or tagging of a version that is a delete marker (S3 405 MethodNotAllowed).
  | 'METHOD_NOT_ALLOWED'
  // Object Lock: the version is under retention or legal hold, so it cannot be removed or
  // changed (S3 403 AccessDenied, EPERM on the mount).
  | 'OBJECT_LOCKED'
  // A read (or copy) of an archived version (GLACIER, DEEP_ARCHIVE) that is not restored, or a
  // restore of a version that is not archived (S3 403 InvalidObjectState, EACCES on the mount).
  | 'INVALID_OBJECT_STATE'
  // A restore asked while the version's previous one is still in progress (S3 409
  // RestoreAlreadyInProgress).
  | 'RESTORE_IN_PROGRESS'
  // Object Lock needs versioning Enabled, and a bucket with it cannot suspend versioning
  // (S3 409 InvalidBucketState).
  | 'INVALID_BUCKET_STATE'
  // A retention or legal hold asked of a bucket without Object Lock (S3 400 InvalidRequest).
  | 'OBJECT_LOCK_MISSING'
  | 'INVALID_PART'
  | 'INVALID_PART_ORDER'
  | 'ENTITY_TOO_SMALL'
  | 'ENTITY_TOO_LARGE'
  // A key that cannot be represented as a path (see docs/architecture/overview.md, "Keys and paths").
  | 'INVALID_KEY'
  // A write would leave inline bytes (metadata/types.ts, InlineExtent) in a file larger than the
  // cluster's erasure.inlineMaxBytes, or past it: the client writes stripes instead.
  | 'INLINE_LIMIT'
  | 'KEY_CONFLICT'
  | 'SHARD_CORRUPT'
  | 'SHARD_MISSING'
  // Too few shards of a stripe answered to rebuild it, but not because they are lost: servers
  // did not answer (transient: retry). Contrast DATA_DAMAGED.
  | 'NOT_ENOUGH_SHARDS'
  // The data is lost, not merely unreachable: more shards of a stripe are missing or corrupt
  // (answered as such by their servers) than parity can rebuild, or a whole-object read does not
  // match the object's MD5. Retrying cannot help.
  | 'DATA_DAMAGED'
  // An encrypted stripe's chunk or wrapped data key failed authentication (altered, or moved to
  // another stripe, shard or offset): never served, never retried.
  | 'ENCRYPTION_AUTH_FAILED'
  // An encrypted stripe whose master key is not in this process's key file.
  | 'ENCRYPTION_KEY_UNAVAILABLE'
  // An object sealed under a customer-provided key (SSE-C) read without that key: only an S3
  // request carrying it can read the object (S3 400 InvalidRequest, EACCES on the mount).
  | 'CUSTOMER_KEY_REQUIRED'
  // A customer-provided key (SSE-C) that is not the one the object was written with (S3 403
  // AccessDenied).
  | 'CUSTOMER_KEY_MISMATCH'
  | 'NOT_ENOUGH_TARGETS'
  // The directory is delegated to a mount, which alone changes it until it gives it back
  // (docs/architecture/overview.md, "Write-behind namespace changes"). The metadata service has
  // asked the mount for it: the client retries until it is given back (transient).
  | 'EDELEGATED'
  // A stripe's locations break the placement invariant (duplicate or unknown disks, a failure
  // domain holding more than m shards): the metadata service refuses to commit it. A writer bug.
  | 'PLACEMENT_VIOLATION'
  // remove-server asked for a data server that is not draining or still holds shards.
  | 'SERVER_NOT_DRAINED'
  // A data server removed from the cluster registered or sent a heartbeat: removal is final.
  | 'SERVER_REMOVED'
  // Users (src/metadata/ops-users.ts): no user of that name; one of that name exists already;
  // the access key id belongs to a user already; a user holds at most two keys (AWS IAM); the
  // user comes from the configuration's credentials and is removed there.
  | 'NO_SUCH_USER'
  | 'USER_EXISTS'
  | 'ACCESS_KEY_IN_USE'
  | 'ACCESS_KEY_LIMIT'
  | 'USER_FROM_CONFIG'
  // The built-in KMS (src/metadata/ops-kms.ts): no key of that id, alias or ARN; the key is
  // disabled; the key is pending deletion (AWS's KMSInvalidStateException).
  | 'KMS_KEY_NOT_FOUND'
  | 'KMS_KEY_DISABLED'
  | 'KMS_KEY_INVALID_STATE'
  | 'RPC_TIMEOUT'
  | 'RPC_UNAVAILABLE'
  | 'RPC_CONNECTION_LOST'
  | 'RPC_NO_METHOD'
  | 'RPC_BAD_FRAME'
  | 'RPC_REMOTE'
  // The peer could not prove it belongs to the cluster (no or a foreign certificate, a wrong
  // cluster token): the connection is closed before any call reaches a handler.
  | 'RPC_UNAUTHENTICATED'
  // The caller is a cluster member, but its role may not call this method (src/rpc/permissions.ts).
  | 'RPC_FORBIDDEN'
  | 'CONFIG_INVALID'
  | 'INTERNAL';

export class StrataError extends Error {
  readonly code: StrataErrorCode;
  constructor(code: StrataErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StrataError';
    this.code = code;
  }
}

export function isStrataError(error: unknown, code?: StrataErrorCode): error is StrataError {
  return error instanceof StrataError && (code === undefined || error.code === code);
}
