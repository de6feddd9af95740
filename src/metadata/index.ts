export * from './service.ts';
export * from './state-machine.ts';
export * from './types.ts';
