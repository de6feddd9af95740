export * from './liveness.ts';
export * from './phi-accrual.ts';
