export * from './check.ts';
export * from './cluster-map.ts';
export * from './domains.ts';
export * from './hash.ts';
export * from './place-shards.ts';
export * from './place-stripe.ts';
export * from './types.ts';
