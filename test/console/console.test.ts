// The web console in headless Chromium against a real dev cluster: nothing without a login, a
// login with the administrator's pair (a session cookie, HttpOnly and SameSite=Strict, no secret
// in the URL or the log), the health line, servers, disks, Raft members and buckets, and
// DEGRADED once a data server is killed. Screenshots go to test-artifacts/console/.
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Browser, chromiumMissing } from '../helpers/chromium.ts';
import {
  consoleUrlsOf,
  type Dev,
  devS3,
  field,
  startDev,
  untilReady,
} from '../helpers/dev-cluster.ts';
import { patternBytes } from '../helpers/s3.ts';
import { REPO_ROOT, tempDir } from '../helpers/server.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'console');
const text = (id: string) => `document.getElementById(${JSON.stringify(id)}).textContent`;
// Rendered, not only unhidden in the DOM (a stylesheet can override `hidden`).
const visible = (id: string) => `document.getElementById(${JSON.stringify(id)}).checkVisibility()`;

describe('web console', { skip: chromiumMissing() }, () => {
  let dev: Dev;
  let browser: Browser;
  let summary: string;
  let consoleUrl: string;

  before(async () => {
    dev = startDev(tempDir('strata-console-'), ['--metadata', '3', '--data', '6']);
    summary = await untilReady(dev);
    consoleUrl = consoleUrlsOf(summary)[0];
    assert.ok(consoleUrl, `no console address in:\n${summary}`);
    const s3 = devS3(summary);
    await s3.send(new CreateBucketCommand({ Bucket: 'photos' }));
    for (const [i, size] of [1_000_000, 234_567].entries())
      await s3.send(
        new PutObjectCommand({
          Bucket: 'photos',
          Key: `2024/${i}.jpg`,
          Body: patternBytes(size, i + 1),
        }),
      );
    s3.destroy();
    browser = await Browser.launch();
  });

  after(async () => {
    await browser?.close();
    if (dev && dev.child.exitCode === null) {
      dev.child.kill('SIGINT');
      await dev.exited;
    }
    if (dev) rmSync(dev.dir, { recursive: true, force: true });
  });

  test('without a session the API answers 401 and the page asks for a login', async () => {
    const status = await fetch(`${consoleUrl}/api/status`);
    assert.equal(status.status, 401);
    const page = await fetch(`${consoleUrl}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    await browser.page.navigate(`${consoleUrl}/`);
    await browser.page.waitFor('the login form', visible('login'));
    assert.equal(await browser.page.evaluate(visible('dashboard')), false);
    await browser.page.screenshot(join(ARTIFACTS, '1-login.png'));
  });

  test('a wrong secret is refused and sets no cookie', async () => {
    const page = browser.page;
    await page.evaluate(`(() => {
      document.getElementById('access-key').value = ${JSON.stringify(field(summary, 'S3 access key'))};
      document.getElementById('secret-key').value = 'not-the-secret';
      document.querySelector('#login button').click();
    })()`);
    const error = await page.waitFor<string>('the refusal', text('login-error'));
    assert.match(error, /wrong key pair/);
    assert.deepEqual(await page.cookies(), []);
  });

  test('the administrator logs in; the dashboard shows the cluster HEALTHY', async () => {
    const page = browser.page;
    const secret = field(summary, 'S3 secret key');
    await page.evaluate(`(() => {
      document.getElementById('access-key').value = ${JSON.stringify(field(summary, 'S3 access key'))};
      document.getElementById('secret-key').value = ${JSON.stringify(secret)};
      document.querySelector('#login button').click();
    })()`);
    await page.waitFor('HEALTHY shown', `${text('health')} === 'HEALTHY'`);
    assert.equal(await page.evaluate(visible('login')), false, 'the login form is still shown');
    assert.equal(await page.evaluate(visible('dashboard')), true);
    const cookie = (await page.cookies()).find((c) => c.name === 'strata_console');
    assert.ok(cookie, 'no session cookie');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(await page.evaluate('document.cookie'), '', 'the cookie is readable by script');
    assert.ok(
      !(await page.evaluate<string>('location.href')).includes(secret),
      'secret in the URL',
    );

    const members = await page.evaluate<string[]>(
      `[...document.querySelectorAll('#members tbody tr')].map((r) => r.textContent)`,
    );
    assert.equal(members.length, 3, members.join('\n'));
    assert.equal(members.filter((m) => m.includes('leader')).length, 1, members.join('\n'));
    const servers = await page.evaluate<string>(text('servers'));
    for (let id = 11; id <= 16; id++) assert.match(servers, new RegExp(`data-${id}`));
    assert.match(servers, /dev-11/, 'the failure domain (host label) is shown');
    assert.match(servers, /disk 5/);
    const buckets = await page.evaluate<string[][]>(
      `[...document.querySelectorAll('#buckets tbody tr')].map((r) => [...r.cells].map((c) => c.textContent))`,
    );
    assert.deepEqual(
      buckets.map((r) => r.slice(0, 3)),
      [['photos', '2', '1.2 MiB']],
    );
    assert.match(await page.evaluate<string>(text('repair')), /0 degraded stripes/);
    await page.screenshot(join(ARTIFACTS, '2-healthy.png'));

    const log = readFileSync(join(dev.dir, 'logs', 'meta-1.log'), 'utf8');
    assert.ok(!log.includes(secret), 'the secret is in the member log');
  });

  test('a killed data server turns the health line DEGRADED', async () => {
    const pid = Number(readFileSync(join(dev.dir, 'data-11.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    const page = browser.page;
    await page.waitFor('DEGRADED shown', `${text('health')} === 'DEGRADED'`, 60_000);
    assert.match(await page.evaluate<string>(text('reasons')), /data-11/);
    assert.match(await page.evaluate<string>(text('servers')), /(SUSPECT|DOWN) for \d+ s/);
    await page.screenshot(join(ARTIFACTS, '3-degraded.png'));
  });

  test('logging out ends the session', async () => {
    const page = browser.page;
    await page.evaluate(`document.getElementById('logout').click()`);
    await page.waitFor('the login form again', visible('login'));
    const stillIn = await page.evaluate<number>(`fetch('/api/status').then((r) => r.status)`);
    assert.equal(stillIn, 401);
  });
});
