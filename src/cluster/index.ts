export * from './placement.ts';
export * from './node.ts';
