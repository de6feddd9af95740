// The web console: a read-only dashboard served by a metadata member (`console.addr`). Static
// pages (plain HTML and ES modules, ./static) and one JSON endpoint, /api/status, behind a login
// with an administrator's S3 key pair. The report is the one `strata cluster status` prints
// (client/cluster-report.ts), read through the client like any other caller's.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readClusterReport } from '../client/cluster-report.ts';
import { MetadataClient } from '../client/metadata-client.ts';
import { StrataClient } from '../client/strata-client.ts';
import type { Logger } from '../observability/logger.ts';
import { bucketUsage } from './bucket-usage.ts';
import { consoleRequests } from './metrics.ts';
import {
  type ConsoleCredential,
  type ConsoleCredentials,
  clearedCookie,
  SessionStore,
  sessionCookie,
  tokenFromCookie,
} from './sessions.ts';

const LOGIN_BODY_BYTES_MAX = 4096;
// Reports are shared by every open page for this long, so many tabs cost one read.
const REPORT_CACHE_MS = 2_000;
// A failed login answers after this delay: guessing secrets one by one stays slow.
const LOGIN_FAILURE_DELAY_MS = 500;

const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

// No inline script or style, no framing, nothing from elsewhere.
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

export interface ConsoleOptions {
  host: string;
  port: number;
  metadataAddrs: string[]; // this member first
  credentials: ConsoleCredential[] | ConsoleCredentials; // administrators' pairs
  log: Logger;
}

export interface RunningConsole {
  url: string;
  close(): Promise<void>;
}

export async function startConsole(options: ConsoleOptions): Promise<RunningConsole> {
  const files = new Map(
    Object.entries(STATIC).map(([path, s]) => [
      path,
      { body: readFileSync(new URL(`./static/${s.file}`, import.meta.url)), type: s.type },
    ]),
  );
  const sessions = new SessionStore(options.credentials);
  const client = new StrataClient({ metadataAddrs: options.metadataAddrs });
  const metadata = new MetadataClient(options.metadataAddrs);
  const report = cachedReport(client, metadata);
  const server = createServer((req, res) => {
    handle(req, res, { files, sessions, report, log: options.log }).catch((error: unknown) => {
      options.log.error('console request failed', { path: req.url, error });
      reply(res, 500, 'internal', { error: 'internal error; see the member log' });
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(options.port, options.host, () => done());
  });
  const { port } = server.address() as { port: number };
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${host}:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
      await metadata.close();
      await client.close();
    },
  };
}

interface Context {
  files: Map<string, { body: Buffer; type: string }>;
  sessions: SessionStore;
  report: () => Promise<unknown>;
  log: Logger;
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://console').pathname;
  const file = ctx.files.get(path);
  if (file) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'static', {});
    consoleRequests.inc({ route: 'static', code: 200 });
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': file.type,
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return;
  }
  if (path === '/api/login') return login(req, res, ctx);
  if (path === '/api/logout') {
    if (req.method !== 'POST') return reply(res, 405, 'logout', { error: 'POST only' });
    ctx.sessions.logout(tokenFromCookie(req.headers.cookie));
    res.setHeader('set-cookie', clearedCookie());
    return reply(res, 200, 'logout', {});
  }
  if (path === '/api/status') {
    if (req.method !== 'GET') return reply(res, 405, 'status', { error: 'GET only' });
    const who = ctx.sessions.check(tokenFromCookie(req.headers.cookie), Date.now());
    if (who === undefined) return reply(res, 401, 'status', { error: 'log in first' });
    try {
      return reply(res, 200, 'status', { accessKey: who, ...((await ctx.report()) as object) });
    } catch (error) {
      // No quorum or no member reachable: the page says so and keeps polling.
      ctx.log.warn('console: the cluster report failed', { error });
      const message = error instanceof Error ? error.message : String(error);
      return reply(res, 503, 'status', { error: message });
    }
  }
  reply(res, 404, 'unknown', { error: 'not found' });
}

async function login(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  if (req.method !== 'POST') return reply(res, 405, 'login', { error: 'POST only' });
  if (!String(req.headers['content-type'] ?? '').startsWith('application/json'))
    return reply(res, 415, 'login', { error: 'send JSON: {"accessKey": ..., "secretKey": ...}' });
  const body = await readBody(req, LOGIN_BODY_BYTES_MAX);
  if (body === undefined) return reply(res, 413, 'login', { error: 'body too large' });
  let given: { accessKey?: unknown; secretKey?: unknown };
  try {
    given = JSON.parse(body.toString('utf8')) as typeof given;
  } catch {
    return reply(res, 400, 'login', { error: 'the body is not JSON' });
  }
  const { accessKey, secretKey } = given ?? {};
  if (typeof accessKey !== 'string' || typeof secretKey !== 'string')
    return reply(res, 400, 'login', { error: 'accessKey and secretKey must be strings' });
  const token = ctx.sessions.login(accessKey, secretKey, Date.now());
  if (token === undefined) {
    // The access key is logged (it names who tried), never the secret.
    ctx.log.warn('console: login refused', { accessKey: accessKey.slice(0, 128) });
    await new Promise((r) => setTimeout(r, LOGIN_FAILURE_DELAY_MS));
    return reply(res, 401, 'login', { error: 'wrong key pair, or not an administrator' });
  }
  ctx.log.info('console: login', { accessKey });
  res.setHeader('set-cookie', sessionCookie(token));
  reply(res, 200, 'login', { accessKey });
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

function reply(res: ServerResponse, code: number, route: string, body: object): void {
  consoleRequests.inc({ route, code });
  if (res.headersSent) return void res.end();
  res.writeHead(code, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(JSON.stringify(body));
}

// The report and the buckets, read at most once per REPORT_CACHE_MS whatever the number of pages.
function cachedReport(client: StrataClient, metadata: MetadataClient): () => Promise<unknown> {
  let last: { atMs: number; value: Promise<unknown> } | undefined;
  return () => {
    const nowMs = Date.now();
    if (last && nowMs - last.atMs < REPORT_CACHE_MS) return last.value;
    const value = (async () => {
      const [cluster, usage] = await Promise.all([
        readClusterReport(client, metadata),
        bucketUsage(client),
      ]);
      const { buckets, bucketsNotShown } = usage;
      return { generatedAtMs: Date.now(), ...cluster, buckets, bucketsNotShown };
    })();
    last = { atMs: nowMs, value };
    // A failed read is not kept: the next page asks again.
    value.catch(() => {
      if (last?.value === value) last = undefined;
    });
    return value;
  };
}
