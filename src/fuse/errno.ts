// StrataError codes to errno numbers (Linux), in one place.
import { type ErrnoCode, isStrataError, type StrataErrorCode } from '../common/errors.ts';

// Linux errno numbers of the codes Strata raises by their errno name.
const ERRNO_NUMBER: Record<ErrnoCode, number> = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  EROFS: 30,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOLCK: 37,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  ENOTSUP: 95,
  ESTALE: 116,
};
const { EIO, ENOENT, EEXIST, ENOTEMPTY, EINVAL, ENOSPC, EBUSY, ENOSYS, EACCES, EPERM } =
  ERRNO_NUMBER;
const EFBIG = 27;
const ETIMEDOUT = 110;

// Every other code (the type makes the table exhaustive): what a program on the mount sees.
const ERRNO_OF_CODE: Record<Exclude<StrataErrorCode, ErrnoCode>, number> = {
  PRECONDITION_FAILED: EIO, // S3 conditional writes only
  NO_SUCH_BUCKET: ENOENT,
  BUCKET_EXISTS: EEXIST,
  BUCKET_NOT_EMPTY: ENOTEMPTY,
  NO_SUCH_UPLOAD: ENOENT,
  NO_SUCH_VERSION: ENOENT,
  METHOD_NOT_ALLOWED: ENOENT, // a delete marker: the file is gone
  OBJECT_LOCKED: ERRNO_NUMBER.EPERM, // a WORM file: write, truncate, unlink, rename
  // A read of an archived file (GLACIER, DEEP_ARCHIVE) not restored: its bytes may not be read
  // until a RestoreObject completes, a permission of the data rather than a missing attribute.
  INVALID_OBJECT_STATE: EACCES,
  RESTORE_IN_PROGRESS: EBUSY, // S3 RestoreObject only
  INVALID_BUCKET_STATE: EINVAL, // S3 bucket configuration only
  OBJECT_LOCK_MISSING: EINVAL,
  INVALID_PART: EIO, // multipart uploads are S3 only
  INVALID_PART_ORDER: EIO,
  ENTITY_TOO_SMALL: EIO,
  ENTITY_TOO_LARGE: EFBIG,
  INVALID_KEY: EINVAL,
  INLINE_LIMIT: EIO, // the client retries with stripes; only a repeated race surfaces
  KEY_CONFLICT: EEXIST,
  SHARD_CORRUPT: EIO,
  SHARD_MISSING: EIO,
  NOT_ENOUGH_SHARDS: EIO,
  DATA_DAMAGED: EIO,
  ENCRYPTION_AUTH_FAILED: EIO,
  ENCRYPTION_KEY_UNAVAILABLE: EIO,
  // A file sealed under a KMS key that is missing, disabled or pending deletion: not readable.
  KMS_KEY_NOT_FOUND: EACCES,
  KMS_KEY_DISABLED: EACCES,
  KMS_KEY_INVALID_STATE: EACCES,
  // SSE-C: the key comes with each S3 request and the mount never has it (file-system.ts open).
  CUSTOMER_KEY_REQUIRED: EACCES,
  CUSTOMER_KEY_MISMATCH: EACCES,
  NOT_ENOUGH_TARGETS: ENOSPC,
  // Another mount kept the directory past the client's wait (it retries for its whole deadline).
  EDELEGATED: ERRNO_NUMBER.EAGAIN,
  PLACEMENT_VIOLATION: EIO,
  SERVER_NOT_DRAINED: EBUSY,
  SERVER_REMOVED: EIO,
  // Users are the CLI's: `strata user` prints these codes; no mount operation causes them.
  NO_SUCH_USER: ENOENT,
  USER_EXISTS: EEXIST,
  ACCESS_KEY_IN_USE: EEXIST,
  ACCESS_KEY_LIMIT: EINVAL,
  USER_FROM_CONFIG: EPERM,
  RPC_TIMEOUT: ETIMEDOUT,
  RPC_UNAVAILABLE: EIO,
  RPC_CONNECTION_LOST: EIO,
  RPC_NO_METHOD: ENOSYS,
  RPC_BAD_FRAME: EIO,
  // The mount's certificate or role was refused (docs/guides/security.md).
  RPC_UNAUTHENTICATED: EACCES,
  RPC_FORBIDDEN: EACCES,
  RPC_REMOTE: EIO,
  CONFIG_INVALID: EINVAL,
  INTERNAL: EIO,
};

const ERRNO: Record<string, number> = { ...ERRNO_NUMBER, ...ERRNO_OF_CODE, ETIMEDOUT };

export function errnoOf(error: unknown): number {
  const code = isStrataError(error) ? error.code : (error as { code?: string })?.code;
  return (code !== undefined && ERRNO[code]) || ERRNO.EIO;
}
