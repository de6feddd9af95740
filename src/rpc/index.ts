export * from './client.ts';
export * from './frame.ts';
export * from './frame-reader.ts';
export * from './permissions.ts';
export * from './security.ts';
export * from './server.ts';
export * from './types.ts';
