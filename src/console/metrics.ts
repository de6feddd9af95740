// The console's requests, in the process's one registry.
import { Counter } from 'prom-client';
import { registry } from '../observability/metrics.ts';

export const consoleRequests = new Counter({
  name: 'strata_console_requests_total',
  help: 'Web console requests, by route (static, login, logout, status, unknown) and HTTP status',
  labelNames: ['route', 'code'] as const,
  registers: [registry],
});
