import { createServer, type Server } from 'node:http';
import { listen } from '../common/listen.ts';
import { METRICS_CONTENT_TYPE } from './metrics.ts';

// Serves GET /metrics in the Prometheus text format; anything else is 404. `render` gives the
// page: the registry of the process's roles (metricsRegistry), plus its child processes' metrics.
export async function startMetricsServer(
  host: string,
  port: number,
  render: () => Promise<string>,
): Promise<{ port: number; server: Server }> {
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    render().then(
      (text) => response.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
      (error: Error) =>
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`${error.message}\n`),
    );
  });
  const bound = await listen(server, host, port);
  return { port: bound.port, server };
}
