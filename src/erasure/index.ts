export * from './reed-solomon.ts';
export * from './worker-pool.ts';
