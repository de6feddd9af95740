export * from './node.ts';
export * from './placement.ts';
