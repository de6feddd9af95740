export * from './metadata-client.ts';
export * from './paths.ts';
export * from './strata-client.ts';
export * from './types.ts';
