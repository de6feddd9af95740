export * from './credentials.ts';
export * from './errors.ts';
export * from './keys.ts';
export * from './load.ts';
export * from './schema.ts';
