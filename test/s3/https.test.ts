// HTTPS for the S3 gateway ([s3] tls_cert / tls_key): awscli and the AWS SDK round-trip an
// object over TLS trusting only the test CA, and SIGHUP swaps the certificate on disk into the
// running listener for new connections, keeping the old one when the new files are bad.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketPolicyCommand,
  GetObjectCommand,
  PutBucketPolicyCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { issueCertificate } from '../../src/rpc/certificates.ts';
import { testCa } from '../helpers/certs.ts';
import { runProcess } from '../helpers/process.ts';
import { bodyBytes, patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';
import { awsEnv } from '../helpers/tools.ts';
import { until } from '../helpers/wait.ts';

const ca = testCa('strata-s3-tls-');
const caPem = readFileSync(join(ca.dir, 'ca.crt'));
// The files the gateway is configured with; the test overwrites them to renew the certificate.
const work = tempDir('strata-s3-tls-work-');
const certPath = join(work, 's3.crt');
const keyPath = join(work, 's3.key');
issueCertificate(ca.dir, 's3-first', 'gateway', ['127.0.0.1']);
issueCertificate(ca.dir, 's3-renewed', 'gateway', ['127.0.0.1']);

function install(name: string) {
  copyFileSync(join(ca.dir, `${name}.crt`), certPath);
  copyFileSync(join(ca.dir, `${name}.key`), keyPath);
}

// The certificate a new TLS connection to the gateway is given, trusting the test CA only.
function servedFingerprint(server: StrataProcess): Promise<string> {
  const url = new URL(server.s3Endpoint);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca: caPem }, () => {
      const fingerprint = socket.getPeerX509Certificate()?.fingerprint256;
      socket.end();
      if (fingerprint === undefined) reject(new Error('no peer certificate'));
      else resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

// A TLS connection to the gateway, left open (keep-alive) for the test to use later.
function openConnection(server: StrataProcess): Promise<TLSSocket> {
  const url = new URL(server.s3Endpoint);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca: caPem }, () =>
      resolve(socket),
    );
    socket.once('error', reject);
  });
}

// Sends one request on the connection and resolves with the status line of the answer.
function statusLine(socket: TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (data: Buffer) => resolve(data.toString('latin1').split('\r\n')[0]));
    socket.once('error', reject);
    socket.write('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
  });
}

function fingerprintOf(name: string): string {
  return new X509Certificate(readFileSync(join(ca.dir, `${name}.crt`))).fingerprint256;
}

async function reloads(server: StrataProcess, outcome: string): Promise<number> {
  const text = await (await fetch(server.metricsUrl)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`strata_s3_tls_reloads_total{outcome="${outcome}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

function sdk(server: StrataProcess): S3Client {
  return new S3Client({
    endpoint: server.s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
    maxAttempts: 1,
    // Trusts the test CA and nothing else (not the system store): the server must present a
    // certificate it signed, for 127.0.0.1.
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: caPem, keepAlive: false }) }),
  });
}

function awsTls(server: StrataProcess, args: string[]) {
  return runProcess(
    'aws',
    ['--endpoint-url', server.s3Endpoint, '--ca-bundle', join(ca.dir, 'ca.crt'), ...args],
    { env: { ...process.env, ...awsEnv(server) } },
  );
}

describe('S3 over HTTPS', () => {
  let server: StrataProcess;
  before(async () => {
    install('s3-first');
    server = await startStrata({
      env: { STRATA_S3_TLS_CERT: certPath, STRATA_S3_TLS_KEY: keyPath },
    });
  });
  after(async () => {
    await server?.stop();
  });

  test('the gateway announces an https endpoint and serves the configured certificate', async () => {
    assert.match(server.s3Endpoint, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await servedFingerprint(server), fingerprintOf('s3-first'));
  });

  test('plain HTTP to the HTTPS listener gets no S3 answer', async () => {
    const plain = server.s3Endpoint.replace('https://', 'http://');
    const answer = await fetch(`${plain}/`).then(
      (r) => r.status,
      () => 'refused',
    );
    assert.notEqual(answer, 200);
  });

  test('awscli copies an object up and down over HTTPS with --ca-bundle', async () => {
    const made = await awsTls(server, ['s3', 'mb', 's3://tls-cli']);
    assert.equal(made.status, 0, made.stderr);
    const local = join(work, 'up.bin');
    const content = patternBytes(3 * 1024 * 1024 + 17, 7);
    writeFileSync(local, content);
    const up = await awsTls(server, ['s3', 'cp', local, 's3://tls-cli/obj']);
    assert.equal(up.status, 0, up.stderr);
    const down = await awsTls(server, ['s3', 'cp', 's3://tls-cli/obj', join(work, 'down.bin')]);
    assert.equal(down.status, 0, down.stderr);
    assert.ok(readFileSync(join(work, 'down.bin')).equals(content), 'the bytes came back');
  });

  test('awscli refuses the gateway without the CA (the certificate is really checked)', async () => {
    const { status, stderr } = await runProcess(
      'aws',
      ['--endpoint-url', server.s3Endpoint, 's3', 'ls'],
      {
        env: {
          ...process.env,
          ...awsEnv(server),
          AWS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt',
        },
      },
    );
    assert.notEqual(status, 0);
    assert.match(stderr, /SSL|certificate/i);
  });

  test('a multipart upload over HTTPS is answered with an https Location', async () => {
    const client = sdk(server);
    try {
      await client.send(new CreateBucketCommand({ Bucket: 'tls-mp' }));
      const created = await client.send(
        new CreateMultipartUploadCommand({ Bucket: 'tls-mp', Key: 'm' }),
      );
      const part = await client.send(
        new UploadPartCommand({
          Bucket: 'tls-mp',
          Key: 'm',
          UploadId: created.UploadId,
          PartNumber: 1,
          Body: patternBytes(1000, 5),
        }),
      );
      const done = await client.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'tls-mp',
          Key: 'm',
          UploadId: created.UploadId,
          MultipartUpload: { Parts: [{ ETag: part.ETag, PartNumber: 1 }] },
        }),
      );
      assert.match(done.Location ?? '', /^https:\/\/127\.0\.0\.1:\d+\/tls-mp\/m$/);
    } finally {
      client.destroy();
    }
  });

  test('the AWS SDK puts and gets an object over HTTPS', async () => {
    const client = sdk(server);
    try {
      await awsTls(server, ['s3', 'mb', 's3://tls-sdk']);
      const body = patternBytes(100_000, 3);
      await client.send(new PutObjectCommand({ Bucket: 'tls-sdk', Key: 'k', Body: body }));
      const got = await client.send(new GetObjectCommand({ Bucket: 'tls-sdk', Key: 'k' }));
      assert.ok((await bodyBytes(got.Body)).equals(body));
    } finally {
      client.destroy();
    }
  });

  test('aws:SecureTransport is true over HTTPS: a policy denying plain HTTP lets the GET through', async () => {
    const client = sdk(server);
    try {
      const policy = {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Deny',
            Principal: '*',
            Action: 's3:GetObject',
            Resource: 'arn:aws:s3:::tls-sdk/*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      };
      await client.send(
        new PutBucketPolicyCommand({ Bucket: 'tls-sdk', Policy: JSON.stringify(policy) }),
      );
      const got = await client.send(new GetObjectCommand({ Bucket: 'tls-sdk', Key: 'k' }));
      assert.equal((await bodyBytes(got.Body)).length, 100_000);
      await client.send(new DeleteBucketPolicyCommand({ Bucket: 'tls-sdk' }));
    } finally {
      client.destroy();
    }
  });

  test('SIGHUP serves the renewed certificate to new connections, and keeps open ones', async () => {
    const open = await openConnection(server);
    install('s3-renewed');
    server.process.kill('SIGHUP');
    await until(
      'the reload is counted',
      async () => ((await reloads(server, 'reloaded')) >= 1 ? true : undefined),
      { limitMs: 10_000 },
    );
    assert.equal(await servedFingerprint(server), fingerprintOf('s3-renewed'));
    const client = sdk(server);
    try {
      const got = await client.send(new GetObjectCommand({ Bucket: 'tls-sdk', Key: 'k' }));
      assert.equal((await bodyBytes(got.Body)).length, 100_000);
    } finally {
      client.destroy();
    }
    // The connection opened before the reload still answers, on the certificate it negotiated.
    assert.equal(open.getPeerX509Certificate()?.fingerprint256, fingerprintOf('s3-first'));
    assert.match(await statusLine(open), /^HTTP\/1\.1 \d{3} /);
    open.destroy();
  });

  test('a bad certificate file at SIGHUP is counted and the previous one stays', async () => {
    writeFileSync(certPath, 'not a certificate\n');
    server.process.kill('SIGHUP');
    await until(
      'the failed reload is counted',
      async () => ((await reloads(server, 'failed')) >= 1 ? true : undefined),
      { limitMs: 10_000 },
    );
    assert.equal(await servedFingerprint(server), fingerprintOf('s3-renewed'));
    assert.equal(server.process.exitCode, null, 'the server is still running');
    assert.match(server.output(), /s3 TLS reload failed/);
  });
});

describe('S3 TLS settings', () => {
  test('a key that does not match the certificate stops the start', async () => {
    const dir = tempDir('strata-s3-tls-bad-');
    copyFileSync(join(ca.dir, 's3-first.crt'), join(dir, 'c.crt'));
    copyFileSync(join(ca.dir, 's3-renewed.key'), join(dir, 'c.key'));
    await assert.rejects(
      startStrata({
        env: { STRATA_S3_TLS_CERT: join(dir, 'c.crt'), STRATA_S3_TLS_KEY: join(dir, 'c.key') },
      }),
      /do not make a TLS certificate and its key/,
    );
  });

  test('a certificate without its key is a configuration error', async () => {
    await assert.rejects(
      startStrata({ env: { STRATA_S3_TLS_CERT: certPath } }),
      /s3.tls_cert and s3.tls_key are set together/,
    );
  });
});
