// StrataError codes to errno numbers (Linux), in one place.
import { isStrataError } from '../common/errors.ts';

const ERRNO: Record<string, number> = {
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
  ETIMEDOUT: 110,
  ESTALE: 116,
  ENTITY_TOO_LARGE: 27,
  NOT_ENOUGH_TARGETS: 28,
  NO_SUCH_BUCKET: 2,
  KEY_CONFLICT: 17,
  INVALID_KEY: 22,
  RPC_TIMEOUT: 110,
  RPC_UNAVAILABLE: 5,
  RPC_CONNECTION_LOST: 5,
  // The mount's certificate or role was refused (docs/guides/security.md).
  RPC_UNAUTHENTICATED: 13,
  RPC_FORBIDDEN: 13,
  DATA_DAMAGED: 5,
  PLACEMENT_VIOLATION: 5,
};

export function errnoOf(error: unknown): number {
  const code = isStrataError(error) ? error.code : (error as { code?: string })?.code;
  return (code !== undefined && ERRNO[code]) || ERRNO.EIO;
}
