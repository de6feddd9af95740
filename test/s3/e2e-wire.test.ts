// What S3 clients see on the wire, below any SDK: request ids on every response, the XML error
// body, HEAD errors without a body, explicit NotImplemented, MissingContentLength.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { XMLParser } from 'fast-xml-parser';
import { signHeaders } from '../auth/sign.ts';
import { s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata } from '../helpers/server.ts';

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function amzDateNow(): string {
  return new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

describe('the S3 wire protocol', () => {
  let server: StrataProcess;
  let host: string;

  const signed = (method: string, target: string): [string, string][] =>
    signHeaders({
      method,
      target,
      headers: [
        ['host', host],
        ['x-amz-date', amzDateNow()],
        ['x-amz-content-sha256', EMPTY_SHA256],
      ],
      payloadHash: EMPTY_SHA256,
      accessKey: server.accessKey,
      secretKey: server.secretKey,
    });

  const send = (method: string, target: string, sign = true): Promise<RawResponse> =>
    new Promise((resolve, reject) => {
      const headers = sign ? signed(method, target) : [['host', host] as [string, string]];
      const req = request(`${server.s3Endpoint}${target}`, {
        method,
        headers: Object.fromEntries(headers),
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      });
      req.on('error', reject);
      req.end();
    });

  const errorOf = (response: RawResponse) =>
    new XMLParser({ parseTagValue: false }).parse(response.body.toString('utf8')).Error;

  before(async () => {
    server = await startStrata();
    host = new URL(server.s3Endpoint).host;
    const s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'wire' }));
    await s3.send(new PutObjectCommand({ Bucket: 'wire', Key: 'here', Body: 'hello' }));
    s3.destroy();
  });
  after(async () => {
    await server?.stop();
  });

  test('an error is one XML body whose RequestId is the x-amz-request-id header', async () => {
    const response = await send('GET', '/wire/missing');
    assert.equal(response.status, 404);
    assert.equal(response.headers['content-type'], 'application/xml');
    const error = errorOf(response);
    assert.equal(error.Code, 'NoSuchKey');
    assert.equal(error.Resource, '/wire/missing');
    assert.ok(error.Message.length > 0);
    assert.equal(error.RequestId, response.headers['x-amz-request-id']);
    assert.ok(response.headers['x-amz-id-2']);
  });

  test('a recognised but unbuilt operation is 501 NotImplemented', async () => {
    const response = await send('GET', '/wire?website');
    assert.equal(response.status, 501);
    assert.equal(errorOf(response).Code, 'NotImplemented');
  });

  test('HEAD errors carry a status and no body', async () => {
    const missing = await send('HEAD', '/wire/missing');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.length, 0);
    assert.ok(missing.headers['x-amz-request-id']);
    const noBucket = await send('HEAD', '/no-such-bucket');
    assert.equal(noBucket.status, 404);
    assert.equal(noBucket.body.length, 0);
  });

  test('every success carries request ids, and GET/HEAD the object headers', async () => {
    for (const method of ['GET', 'HEAD']) {
      const response = await send(method, '/wire/here');
      assert.equal(response.status, 200, method);
      assert.ok(response.headers['x-amz-request-id'], method);
      assert.ok(response.headers['x-amz-id-2'], method);
      assert.equal(response.headers['content-length'], '5', method);
      assert.equal(response.headers['accept-ranges'], 'bytes', method);
      assert.equal(response.headers.etag, '"5d41402abc4b2a76b9719d911017c592"', method);
      assert.ok(!Number.isNaN(Date.parse(String(response.headers['last-modified']))), method);
      assert.equal(response.body.toString(), method === 'GET' ? 'hello' : '', method);
    }
  });

  test('an unsigned request is refused when anonymous access is off', async () => {
    const response = await send('GET', '/wire/here', false);
    assert.equal(response.status, 403);
    assert.equal(errorOf(response).Code, 'AccessDenied');
  });

  test('a PUT without Content-Length or a chunked body is MissingContentLength (411)', async () => {
    const url = new URL(server.s3Endpoint);
    const head = signed('PUT', '/wire/no-length')
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      let text = '';
      socket.on('data', (d) => {
        text += d;
      });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.write(`PUT /wire/no-length HTTP/1.1\r\n${head}connection: close\r\n\r\n`);
    });
    assert.match(raw, /^HTTP\/1\.1 411 /);
    assert.match(raw, /<Code>MissingContentLength<\/Code>/);
  });
});
