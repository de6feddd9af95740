// Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol with Node's
// own WebSocket: open a page, run script in it, read its cookies, save screenshots. Enough for
// the console's tests without a browser-automation dependency.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { tempDir } from './server.ts';
import { until } from './wait.ts';

export const CHROMIUM = '/usr/bin/chromium';
const COMMAND_TIMEOUT_MS = 30_000;

export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} missing (apt-get install chromium)`;
}

export class Browser {
  private readonly child: ChildProcess;
  private readonly profileDir: string;
  readonly page: Page;

  private constructor(child: ChildProcess, profileDir: string, page: Page) {
    this.child = child;
    this.profileDir = profileDir;
    this.page = page;
  }

  static async launch(): Promise<Browser> {
    const profileDir = tempDir('strata-chromium-');
    const child = spawn(
      CHROMIUM,
      [
        ...['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run'],
        ...['--remote-debugging-port=0', `--user-data-dir=${profileDir}`],
        ...['--window-size=1400,1100', 'about:blank'],
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    const port = await until(
      'chromium printed its DevTools address',
      async () => {
        if (child.exitCode !== null) throw new Error(`chromium exited: ${stderr}`);
        return /DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(stderr)?.[1];
      },
      { limitMs: 30_000, intervalMs: 100 },
    );
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{
      type: string;
      webSocketDebuggerUrl: string;
    }>;
    const target = targets.find((t) => t.type === 'page');
    assert.ok(target, `no page target in ${JSON.stringify(targets)}`);
    const page = await Page.connect(target.webSocketDebuggerUrl);
    return new Browser(child, profileDir, page);
  }

  async close(): Promise<void> {
    this.page.close();
    const exited = new Promise((done) => this.child.once('exit', done));
    this.child.kill('SIGTERM');
    await exited;
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export class Page {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(method: string) => void>();

  private readonly socket: WebSocket;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
        method?: string;
      };
      if (message.id !== undefined) {
        const waiter = this.pending.get(message.id);
        this.pending.delete(message.id);
        if (message.error) waiter?.reject(new Error(message.error.message));
        else waiter?.resolve(message.result);
      } else if (message.method) {
        for (const listener of this.listeners) listener(message.method);
      }
    });
  }

  static async connect(url: string): Promise<Page> {
    const socket = new WebSocket(url);
    await new Promise((done, fail) => {
      socket.addEventListener('open', done, { once: true });
      socket.addEventListener('error', () => fail(new Error(`cannot connect to ${url}`)), {
        once: true,
      });
    });
    const page = new Page(socket);
    await page.send('Page.enable');
    await page.send('Network.enable');
    return page;
  }

  send<T = unknown>(method: string, params: object = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer within ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  async navigate(url: string): Promise<void> {
    const loaded = new Promise<void>((done) => {
      const listener = (method: string) => {
        if (method !== 'Page.loadEventFired') return;
        this.listeners.delete(listener);
        done();
      };
      this.listeners.add(listener);
    });
    await this.send('Page.navigate', { url });
    await loaded;
  }

  // The value of a JavaScript expression in the page (awaited when it is a promise).
  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.send<{
      result: { value: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    }>('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (exceptionDetails)
      throw new Error(exceptionDetails.exception?.description ?? exceptionDetails.text);
    return result.value;
  }

  // Until the expression is truthy in the page; its value.
  waitFor<T>(what: string, expression: string, limitMs = 30_000): Promise<T> {
    return until(what, async () => (await this.evaluate<T>(expression)) || undefined, {
      limitMs,
      intervalMs: 200,
    });
  }

  async cookies(): Promise<Array<{ name: string; httpOnly: boolean; sameSite?: string }>> {
    return (await this.send<{ cookies: [] }>('Network.getAllCookies')).cookies;
  }

  async screenshot(path: string): Promise<void> {
    const { data } = await this.send<{ data: string }>('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
    });
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, Buffer.from(data, 'base64'));
  }

  close(): void {
    this.socket.close();
  }
}
