export * from './load.ts';
export * from './schema.ts';
export * from './credentials.ts';
