export * from './crc32c.ts';
export * from './data-service.ts';
export * from './shard-file.ts';
export * from './shard-store.ts';
export * from './types.ts';
