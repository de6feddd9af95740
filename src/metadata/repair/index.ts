export * from './cluster-view.ts';
export * from './fair-share.ts';
export * from './occupied.ts';
export * from './phases.ts';
export * from './rate-window.ts';
export * from './scheduler.ts';
export * from './throttle.ts';
export * from './types.ts';
