// The console's requests, in the metadata members' registry (the console runs there).
import { Counter } from '../observability/hot-metrics.ts';
import { METRIC_GROUPS } from '../observability/metrics.ts';

export const consoleRequests = new Counter({
  name: 'strata_console_requests_total',
  help: 'Web console requests, by route (static, login, logout, status, unknown) and HTTP status',
  labelNames: ['route', 'code'] as const,
  registers: [METRIC_GROUPS.metadata],
});
