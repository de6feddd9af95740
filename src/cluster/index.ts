export * from './node.ts';
export * from './placement.ts';
export * from './registration.ts';
