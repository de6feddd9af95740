export * from './reed-solomon.ts';
