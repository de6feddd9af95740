// A signed request whose body stalls is answered with S3's RequestTimeout (400) once no byte has
// come for s3.body_idle_timeout_seconds, and nothing is stored.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { signHeaders } from '../auth/sign.ts';
import { s3Client } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const amzDateNow = () =>
  new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

describe('a stalled request body', () => {
  let server: StrataProcess;

  before(async () => {
    const configPath = join(tempDir(), 'strata.toml');
    writeFileSync(configPath, '[s3]\nbody_idle_timeout_seconds = 1\n');
    server = await startStrata({ env: { STRATA_CONFIG: configPath } });
    const s3 = s3Client(server);
    await s3.send(new CreateBucketCommand({ Bucket: 'stall' }));
    s3.destroy();
  });
  after(async () => {
    await server?.stop();
  });

  // Sends the head and `sent` of `declared` body bytes, then waits for the server's answer.
  function stalledPut(target: string, declared: number, sent: number): Promise<string> {
    const url = new URL(server.s3Endpoint);
    const head = signHeaders({
      method: 'PUT',
      target,
      headers: [
        ['host', url.host],
        ['x-amz-date', amzDateNow()],
        ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD'],
        ['content-length', String(declared)],
      ],
      payloadHash: 'UNSIGNED-PAYLOAD',
      accessKey: server.accessKey,
      secretKey: server.secretKey,
    })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      let text = '';
      socket.on('data', (d) => {
        text += d;
      });
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.write(`PUT ${target} HTTP/1.1\r\n${head}\r\n${'x'.repeat(sent)}`);
    });
  }

  test('is answered 400 RequestTimeout, the connection closed, and nothing stored', async () => {
    const answer = await stalledPut('/stall/never', 10, 3);
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /<Code>RequestTimeout<\/Code>/);
    assert.match(answer, /connection: close/i);
    const s3 = s3Client(server);
    await assert.rejects(s3.send(new HeadObjectCommand({ Bucket: 'stall', Key: 'never' })), {
      name: 'NotFound',
    });
    s3.destroy();
  });

  test('a body that never starts is timed out too', async () => {
    const answer = await stalledPut('/stall/empty', 10, 0);
    assert.match(answer, /<Code>RequestTimeout<\/Code>/);
  });
});
