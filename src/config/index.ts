export * from './credentials.ts';
export * from './load.ts';
export * from './schema.ts';
