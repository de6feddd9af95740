export * from './phases.ts';
export * from './scheduler.ts';
export * from './types.ts';
