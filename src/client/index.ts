export {
  isLockConflict,
  LOCK_END_MAX,
  type LockQuery,
  type LockSpec,
  type RenameAtOptions,
} from './locks.ts';
export * from './metadata-client.ts';
export * from './paths.ts';
export * from './strata-client.ts';
export * from './types.ts';
