export * from './cluster-health.ts';
export * from './disk-report.ts';
export * from './liveness.ts';
export * from './phi-accrual.ts';
export * from './tracker.ts';
