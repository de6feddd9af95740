export * from './acl.ts';
export * from './actions.ts';
export * from './document.ts';
export * from './evaluate.ts';
export * from './public.ts';
export * from './stored.ts';
export * from './types.ts';
