export type { S3GatewayOptions } from './context.ts';
export * from './errors.ts';
export * from './gateway.ts';
export * from './router.ts';
