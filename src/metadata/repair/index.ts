export * from './cluster-view.ts';
export * from './fair-share.ts';
export * from './phases.ts';
export * from './scheduler.ts';
export * from './throttle.ts';
export * from './types.ts';
