export * from './check.ts';
export * from './cluster-map.ts';
export * from './domains.ts';
export * from './hash.ts';
export * from './place-shards.ts';
export * from './records.ts';
export * from './types.ts';
