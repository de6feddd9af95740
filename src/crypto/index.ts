export * from './at-rest.ts';
export * from './customer-key.ts';
export * from './data-key.ts';
export * from './kms-key.ts';
export * from './master-key.ts';
export * from './shard-seal.ts';
export * from './stripe-seal.ts';
export * from './user-secret.ts';
