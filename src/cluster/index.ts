export * from '../metadata/placement/index.ts';
export * from './node.ts';
export * from './registration.ts';
