// Strata from a web page on another origin, in headless Chromium: the page (served by a tiny HTTP
// server on another port) PUTs an object with fetch (a preflight the bucket's CORS rules allow),
// GETs it back reading an exposed header (and not one the rules keep hidden), uploads with a
// FormData POST and with a real HTML form that redirects back to the page, each with a policy
// the test signs as the page's backend would; a DELETE the rules do not allow fails its preflight
// in the browser and deletes nothing. Screenshots go to test-artifacts/browser/.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketCorsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { signHeaders } from '../auth/sign.ts';
import { Browser, chromiumMissing } from '../helpers/chromium.ts';
import { signedPostFields } from '../helpers/post-policy.ts';
import { bodyBytes, s3Client } from '../helpers/s3.ts';
import { REPO_ROOT, type StrataProcess, startStrata } from '../helpers/server.ts';
import { amzDateOf } from '../helpers/signed-http.ts';

const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'browser');
const BUCKET = 'browser';
const PUT_BODY = 'written by a page on another origin';
const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

// The page: functions the test calls one by one; each logs its outcome for the screenshot.
function pageHtml(config: object): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Strata from another origin</title>
<style>body { font: 15px sans-serif; margin: 2em; } pre { background: #f3f3f3; padding: 1em; white-space: pre-wrap; }</style>
</head><body>
<h1>Strata from another origin</h1>
<form id="upload" method="post" enctype="multipart/form-data"></form>
<pre id="log"></pre>
<script>
const config = ${JSON.stringify(config)};
const log = (what, value) => {
  document.getElementById('log').textContent += what + ': ' + JSON.stringify(value) + '\\n';
  return value;
};
async function doPut() {
  const r = await fetch(config.objectUrl, { method: 'PUT', headers: config.putHeaders, body: config.putBody });
  return log('PUT', { status: r.status, etag: r.headers.get('etag') });
}
async function doGet() {
  const r = await fetch(config.objectUrl, { headers: config.getHeaders });
  return log('GET', {
    status: r.status,
    body: await r.text(),
    color: r.headers.get('x-amz-meta-color'),
    requestId: r.headers.get('x-amz-request-id'),
  });
}
async function doFetchPost() {
  const form = new FormData();
  for (const [name, value] of Object.entries(config.fetchFields)) form.append(name, value);
  form.append('file', new File(['uploaded with fetch'], 'fetch.txt', { type: 'text/plain' }));
  const r = await fetch(config.bucketUrl, { method: 'POST', body: form });
  return log('POST (fetch)', { status: r.status, body: await r.text() });
}
async function doDelete() {
  try {
    const r = await fetch(config.objectUrl, { method: 'DELETE', headers: config.deleteHeaders });
    return log('DELETE', { status: r.status });
  } catch (error) {
    return log('DELETE', { rejected: String(error) });
  }
}
function submitForm() {
  const form = document.getElementById('upload');
  form.action = config.bucketUrl;
  for (const [name, value] of Object.entries(config.formFields)) {
    const input = document.createElement('input');
    Object.assign(input, { type: 'hidden', name, value });
    form.append(input);
  }
  const file = document.createElement('input');
  Object.assign(file, { type: 'file', name: 'file' });
  const picked = new DataTransfer();
  picked.items.add(new File(['uploaded by a form'], 'form upload.txt', { type: 'text/plain' }));
  file.files = picked.files;
  form.append(file);
  form.submit();
  return true;
}
</script></body></html>`;
}

function donePage(query: URLSearchParams): string {
  const rows = [...query].map(([k, v]) => `<li><b>${k}</b>: <code id="${k}">${v}</code></li>`);
  return `<!doctype html><html><head><meta charset="utf-8"><title>Uploaded</title></head>
<body style="font: 15px sans-serif; margin: 2em"><h1>Uploaded by a form</h1><ul>${rows.join('')}</ul></body></html>`.replaceAll(
    '&quot;',
    '"',
  );
}

describe('a page on another origin, in Chromium', { skip: chromiumMissing() }, () => {
  let server: StrataProcess;
  let s3: S3Client;
  let pages: Server;
  let pageOrigin: string;
  let browser: Browser;

  // Authorization headers for one request, as the page's backend would hand them out.
  const signedFor = (method: string, key: string, headers: Record<string, string>, body = '') => {
    const host = new URL(server.s3Endpoint).host;
    const signed = signHeaders({
      method,
      target: `/${BUCKET}/${key}`,
      headers: [
        ['host', host],
        ['x-amz-date', amzDateOf(Date.now())],
        ['x-amz-content-sha256', sha256Hex(body)],
        ...Object.entries(headers),
      ],
      payloadHash: sha256Hex(body),
      accessKey: server.accessKey,
      secretKey: server.secretKey,
    });
    return Object.fromEntries(signed.filter(([name]) => name !== 'host'));
  };

  before(async () => {
    server = await startStrata();
    s3 = s3Client(server);
    pages = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://page');
      if (url.pathname === '/done') {
        res.writeHead(200, { 'content-type': 'text/html' }).end(donePage(url.searchParams));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' }).end(pageHtml(pageConfig()));
    });
    await new Promise<void>((done) => pages.listen(0, '127.0.0.1', done));
    pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
    assert.notEqual(pageOrigin, new URL(server.s3Endpoint).origin, 'the page is on another origin');
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(
      new PutBucketCorsCommand({
        Bucket: BUCKET,
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedOrigins: [pageOrigin],
              AllowedMethods: ['GET', 'PUT', 'POST', 'HEAD'],
              AllowedHeaders: ['Authorization', 'Content-Type', 'x-amz-*'],
              ExposeHeaders: ['ETag', 'x-amz-meta-color'],
              MaxAgeSeconds: 60,
            },
          ],
        },
      }),
    );
    browser = await Browser.launch();
  });

  after(async () => {
    await browser?.close();
    await new Promise((done) => pages?.close(done));
    s3?.destroy();
    await server?.stop();
  });

  function pageConfig() {
    const bucketUrl = `${server.s3Endpoint}/${BUCKET}`;
    const putHeaders = { 'content-type': 'text/plain', 'x-amz-meta-color': 'teal' };
    const conditions = [{ bucket: BUCKET }, ['content-length-range', 1, 1024]];
    return {
      bucketUrl,
      objectUrl: `${bucketUrl}/from-page.txt`,
      putBody: PUT_BODY,
      putHeaders: { ...putHeaders, ...signedFor('PUT', 'from-page.txt', putHeaders, PUT_BODY) },
      getHeaders: signedFor('GET', 'from-page.txt', {}),
      deleteHeaders: signedFor('DELETE', 'from-page.txt', {}),
      fetchFields: {
        key: 'posted/${filename}',
        success_action_status: '201',
        ...signedPostFields(server, {
          conditions: [
            ...conditions,
            ['starts-with', '$key', 'posted/'],
            { success_action_status: '201' },
          ],
        }),
      },
      formFields: {
        key: 'forms/${filename}',
        'Content-Type': 'text/plain',
        success_action_redirect: `${pageOrigin}/done`,
        ...signedPostFields(server, {
          conditions: [
            ...conditions,
            ['starts-with', '$key', 'forms/'],
            ['starts-with', '$Content-Type', 'text/'],
            { success_action_redirect: `${pageOrigin}/done` },
          ],
        }),
      },
    };
  }

  test('fetch PUT and GET across origins, reading only the exposed headers', async () => {
    const page = browser.page;
    await page.navigate(`${pageOrigin}/`);
    const put = await page.evaluate<{ status: number; etag: string }>('doPut()');
    assert.equal(put.status, 200, JSON.stringify(put));
    assert.equal(put.etag, `"${createHash('md5').update(PUT_BODY).digest('hex')}"`);
    const got = await page.evaluate<Record<string, unknown>>('doGet()');
    assert.equal(got.status, 200);
    assert.equal(got.body, PUT_BODY);
    assert.equal(got.color, 'teal', 'an exposed header is readable');
    assert.equal(got.requestId, null, 'a header the rules do not expose is hidden from the page');
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'from-page.txt' }));
    assert.deepEqual(head.Metadata, { color: 'teal' });
  });

  test('a FormData POST upload with a signed policy, the answer read by the page', async () => {
    const posted = await browser.page.evaluate<{ status: number; body: string }>('doFetchPost()');
    assert.equal(posted.status, 201, posted.body);
    assert.match(posted.body, /<Key>posted\/fetch\.txt<\/Key>/);
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'posted/fetch.txt' }));
    assert.equal((await bodyBytes(object.Body)).toString(), 'uploaded with fetch');
  });

  test('a DELETE the rules do not allow fails its preflight in the browser', async () => {
    const deleted = await browser.page.evaluate<{ status?: number; rejected?: string }>(
      'doDelete()',
    );
    assert.equal(deleted.status, undefined, 'the browser never sent the DELETE');
    assert.match(deleted.rejected ?? '', /TypeError/);
    await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'from-page.txt' }));
    // The gateway saw the preflights: the PUT's allowed, the DELETE's refused.
    const metrics = await (await fetch(server.metricsUrl)).text();
    assert.match(
      metrics,
      /strata_s3_requests_total\{operation="CorsPreflight",status="200"\} [1-9]/,
    );
    assert.match(metrics, /strata_s3_requests_total\{operation="CorsPreflight",status="403"\} 1\b/);
    assert.doesNotMatch(metrics, /operation="DeleteObject"/);
    await browser.page.screenshot(join(ARTIFACTS, '1-fetch.png'));
  });

  test('an HTML form upload redirects back to the page with bucket, key and etag', async () => {
    const page = browser.page;
    await page.evaluate('submitForm()');
    const key = await page.waitFor<string>(
      'the form upload redirected to /done',
      `location.pathname === '/done' && document.readyState === 'complete' && ` +
        `document.getElementById('key')?.textContent`,
    );
    assert.equal(key, 'forms/form upload.txt');
    const etag = await page.evaluate<string>(`document.getElementById('etag').textContent`);
    assert.equal(etag, `"${createHash('md5').update('uploaded by a form').digest('hex')}"`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.equal(head.ContentType, 'text/plain');
    await page.screenshot(join(ARTIFACTS, '2-form-redirect.png'));
  });
});
