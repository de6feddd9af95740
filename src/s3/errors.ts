// One S3 error type, and the one place where internal error codes become S3 codes and statuses
// (as Garage's error.rs). Everything a handler throws goes through toS3Error.
import { S3AuthError } from '../auth/types.ts';
import { StrataError, type StrataErrorCode } from '../common/errors.ts';
import { SelectError } from './select/errors.ts';

export class S3Error extends Error {
  readonly s3Code: string;
  readonly httpStatus: number;
  // The internal message a generic one replaced: for the gateway's log, never for the client.
  readonly detail: string | undefined;
  // Response headers the error carries (x-amz-delete-marker and x-amz-version-id on a GET of a
  // delete marker).
  readonly headers: Record<string, string>;
  constructor(
    s3Code: string,
    httpStatus: number,
    message: string,
    detail?: string,
    headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'S3Error';
    this.s3Code = s3Code;
    this.httpStatus = httpStatus;
    this.detail = detail;
    this.headers = headers;
  }
}

// Every internal code has its row (the type makes the table exhaustive): a new code cannot reach
// a client as an accidental 500. Codes no S3 request can cause, or that are server faults, are
// InternalError on purpose and say why in a comment.
const INTERNAL: [string, number] = ['InternalError', 500];
const FROM_STRATA: Record<StrataErrorCode, [string, number]> = {
  ENOENT: ['NoSuchKey', 404],
  NO_SUCH_BUCKET: ['NoSuchBucket', 404],
  BUCKET_EXISTS: ['BucketAlreadyOwnedByYou', 409],
  BUCKET_NOT_EMPTY: ['BucketNotEmpty', 409],
  NO_SUCH_UPLOAD: ['NoSuchUpload', 404],
  NO_SUCH_VERSION: ['NoSuchVersion', 404],
  METHOD_NOT_ALLOWED: ['MethodNotAllowed', 405],
  OBJECT_LOCKED: ['AccessDenied', 403],
  INVALID_OBJECT_STATE: ['InvalidObjectState', 403],
  RESTORE_IN_PROGRESS: ['RestoreAlreadyInProgress', 409],
  INVALID_BUCKET_STATE: ['InvalidBucketState', 409],
  OBJECT_LOCK_MISSING: ['InvalidRequest', 400],
  INVALID_PART: ['InvalidPart', 400],
  INVALID_PART_ORDER: ['InvalidPartOrder', 400],
  ENTITY_TOO_SMALL: ['EntityTooSmall', 400],
  ENTITY_TOO_LARGE: ['EntityTooLarge', 400],
  PRECONDITION_FAILED: ['PreconditionFailed', 412],
  INVALID_KEY: ['InvalidArgument', 400],
  INLINE_LIMIT: ['InternalError', 500],
  // Not an AWS code: the key, or one of its parents, exists as the other kind (a file where a
  // directory is needed, or the reverse). See docs/architecture/overview.md, "Keys and paths".
  KEY_CONFLICT: ['KeyConflict', 409],
  ENAMETOOLONG: ['KeyTooLongError', 400],
  EINVAL: ['InvalidArgument', 400],
  EACCES: ['AccessDenied', 403],
  EPERM: ['AccessDenied', 403],
  ENOTSUP: ['NotImplemented', 501],
  // Something Strata does not do: the protocol's refusal, never a 500.
  ENOSYS: ['NotImplemented', 501],
  // Not an AWS code (AWS never runs out of space): the WebDAV status for a full store.
  ENOSPC: ['InsufficientStorage', 507],
  // Too few data servers answer right now: a client may retry later. Corrupt or missing shards
  // that could not be rebuilt (SHARD_*) and protocol faults (RPC_BAD_FRAME, ...) are not
  // transient and stay InternalError, logged by the gateway.
  NOT_ENOUGH_SHARDS: ['ServiceUnavailable', 503],
  // Lost, not unreachable: AWS has no code for it; the only one clients know that is not "retry
  // later" (503) is InternalError (docs/api/s3.md, "Damaged data").
  DATA_DAMAGED: INTERNAL,
  // Altered ciphertext or a missing master key: not transient, nothing is served.
  ENCRYPTION_AUTH_FAILED: INTERNAL,
  ENCRYPTION_KEY_UNAVAILABLE: INTERNAL,
  // SSE-KMS with a key that cannot be used: AWS answers with the KMS exception's name, 400.
  KMS_KEY_NOT_FOUND: ['KMS.NotFoundException', 400],
  KMS_KEY_DISABLED: ['KMS.DisabledException', 400],
  KMS_KEY_INVALID_STATE: ['KMS.KMSInvalidStateException', 400],
  // SSE-C, as AWS answers: an object read without its key is a bad request, with another key
  // access is denied.
  CUSTOMER_KEY_REQUIRED: ['InvalidRequest', 400],
  CUSTOMER_KEY_MISMATCH: ['AccessDenied', 403],
  NOT_ENOUGH_TARGETS: ['ServiceUnavailable', 503],
  // A mount kept the key's directory past the client library's wait: retry later.
  EDELEGATED: ['SlowDown', 503],
  // The metadata service refused the stripe's placement: a writer bug, not worth a retry.
  PLACEMENT_VIOLATION: INTERNAL,
  RPC_UNAVAILABLE: ['ServiceUnavailable', 503],
  RPC_TIMEOUT: ['ServiceUnavailable', 503],
  RPC_CONNECTION_LOST: ['ServiceUnavailable', 503],
  EISDIR: ['NoSuchKey', 404],
  ENOTDIR: ['NoSuchKey', 404],
  // Server faults: the detail goes to the gateway's log, the client gets the generic message.
  EIO: INTERNAL,
  EEXIST: INTERNAL, // the S3 paths turn an existing key into KEY_CONFLICT or an overwrite
  ENOTEMPTY: INTERNAL, // likewise (BUCKET_NOT_EMPTY for buckets)
  EXDEV: INTERNAL,
  ENODATA: INTERNAL,
  EBUSY: INTERNAL,
  ELOOP: INTERNAL,
  SHARD_CORRUPT: INTERNAL,
  SHARD_MISSING: INTERNAL,
  RPC_NO_METHOD: INTERNAL,
  RPC_BAD_FRAME: INTERNAL,
  RPC_REMOTE: INTERNAL,
  // A gateway refused by its own cluster is misconfigured, not the S3 caller's fault.
  RPC_UNAUTHENTICATED: INTERNAL,
  RPC_FORBIDDEN: INTERNAL,
  CONFIG_INVALID: INTERNAL,
  INTERNAL: INTERNAL,
  // Cluster administration and the FUSE mount only: no S3 request reaches them.
  SERVER_NOT_DRAINED: INTERNAL,
  SERVER_REMOVED: INTERNAL,
  NO_SUCH_USER: INTERNAL,
  USER_EXISTS: INTERNAL,
  ACCESS_KEY_IN_USE: INTERNAL,
  ACCESS_KEY_LIMIT: INTERNAL,
  USER_FROM_CONFIG: INTERNAL,
  EBADF: INTERNAL,
  EMFILE: INTERNAL,
  ENXIO: INTERNAL,
  EAGAIN: INTERNAL,
  EINTR: INTERNAL,
  ESTALE: INTERNAL,
  ENOLCK: INTERNAL,
  EROFS: INTERNAL,
  ERANGE: INTERNAL,
};

export function toS3Error(error: unknown): S3Error {
  if (error instanceof S3Error) return error;
  if (error instanceof S3AuthError)
    return new S3Error(error.s3Code, error.httpStatus, error.message);
  // S3 Select's codes are AWS's own (ParseUnexpectedToken, CastFailed, ...): 400, or 501 for
  // what Strata's engine does not do.
  if (error instanceof SelectError) return new S3Error(error.code, error.httpStatus, error.message);
  if (error instanceof StrataError) {
    const [s3Code, httpStatus] = FROM_STRATA[error.code];
    const message =
      error.code === 'DATA_DAMAGED'
        ? "The object's stored data is damaged and cannot be read; retrying will not help."
        : error.code === 'OBJECT_LOCKED'
          ? 'Access Denied because object protected by object lock.'
          : messageFor(s3Code, httpStatus, error.message);
    const detail = message === error.message ? undefined : error.message;
    return new S3Error(s3Code, httpStatus, message, detail);
  }
  return new S3Error('InternalError', 500, 'We encountered an internal error. Please try again.');
}

// Messages written for clients (a broken key rule, a part that does not fit) pass through. Server
// faults and refusals get a fixed message: their detail can name server paths (a full disk's shard
// file), addresses or other users' keys, and goes to the gateway's log instead.
function messageFor(s3Code: string, httpStatus: number, detail: string): string {
  switch (s3Code) {
    case 'NoSuchKey':
      return 'The specified key does not exist.';
    case 'NoSuchBucket':
      return 'The specified bucket does not exist';
    case 'NoSuchUpload':
      return 'The specified multipart upload does not exist.';
    case 'NoSuchVersion':
      return 'The specified version does not exist.';
    case 'MethodNotAllowed':
      return 'The specified method is not allowed against this resource.';
    case 'BucketAlreadyOwnedByYou':
      return 'Your previous request to create the named bucket succeeded and you already own it.';
    case 'BucketNotEmpty':
      return 'The bucket you tried to delete is not empty';
    case 'ServiceUnavailable':
      return 'Too few storage servers answered; please retry.';
    case 'InsufficientStorage':
      return 'There is not enough free space to store the object.';
    case 'AccessDenied':
      return 'Access Denied';
    case 'NotImplemented':
      return 'A header or operation you provided implies functionality that is not implemented.';
    default:
      return httpStatus >= 500 ? 'We encountered an internal error. Please try again.' : detail;
  }
}

export const isInternal = (error: S3Error) => error.httpStatus >= 500;
