// POST Object (browser form uploads) against a real server, with forms built by fetch's FormData
// as a browser builds them and policies signed by the test as a backend would: what is stored,
// the three kinds of answer, every policy refusal, content-length-range enforced while the file
// streams (nothing stored), refused fields, and who may upload (the form's credential, or
// anonymous where the bucket allows it).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { signedPostFields } from '../helpers/post-policy.ts';
import { bodyBytes, md5Hex, patternBytes } from '../helpers/s3.ts';
import { type StrataProcess, startStrata, tempDir } from '../helpers/server.ts';

const USERS = {
  alice: { key: 'alice-key', secret: 'alice-secret-1' },
  bob: { key: 'bob-key', secret: 'bob-secret-12' },
};
const BUCKET = 'uploads';
const MiB = 1024 * 1024;

interface Upload {
  fields: Record<string, string>;
  file?: { name: string; body: Buffer | string; type?: string };
  after?: Record<string, string>; // fields after the file
}

function formOf(upload: Upload): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  if (upload.file) {
    const blob = new Blob([upload.file.body], { type: upload.file.type ?? 'text/plain' });
    form.append('file', blob, upload.file.name);
  }
  for (const [name, value] of Object.entries(upload.after ?? {})) form.append(name, value);
  return form;
}

async function errorOf(response: Response) {
  const text = await response.text();
  return {
    status: response.status,
    code: /<Code>([^<]+)<\/Code>/.exec(text)?.[1],
    message: /<Message>([^<]+)<\/Message>/.exec(text)?.[1]?.replaceAll('&quot;', '"'),
  };
}

describe('POST Object (browser form uploads)', () => {
  let server: StrataProcess;
  let alice: S3Client;
  const post = (upload: Upload, bucket = BUCKET) =>
    fetch(`${server.s3Endpoint}/${bucket}`, {
      method: 'POST',
      body: formOf(upload),
      redirect: 'manual',
    });
  const signed = (
    conditions: unknown[],
    options: { user?: 'alice' | 'bob'; expiresAtMs?: number; rawPolicy?: string } = {},
  ) => {
    const user = USERS[options.user ?? 'alice'];
    return signedPostFields(
      { accessKey: user.key, secretKey: user.secret },
      { conditions, expiresAtMs: options.expiresAtMs, rawPolicy: options.rawPolicy },
    );
  };
  const exists = async (key: string) => {
    try {
      await alice.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
      return true;
    } catch (error) {
      assert.equal((error as { name?: string }).name, 'NotFound', String(error));
      return false;
    }
  };

  before(async () => {
    const dir = tempDir('strata-post-');
    const config = join(dir, 'strata.toml');
    const lines = Object.entries(USERS).map(
      ([user, u]) =>
        `  { access_key_id = "${u.key}", secret_key = "${u.secret}", user_id = "${user}" },`,
    );
    writeFileSync(
      config,
      `[s3.auth]\nallow_anonymous = true\ncredentials = [\n${lines.join('\n')}\n]\n`,
    );
    server = await startStrata({ args: ['--config', config] });
    alice = new S3Client({
      endpoint: server.s3Endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: USERS.alice.key, secretAccessKey: USERS.alice.secret },
      maxAttempts: 1,
    });
    await alice.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await alice.send(new CreateBucketCommand({ Bucket: 'dropbox', ACL: 'public-read-write' }));
  });
  after(async () => {
    await server?.stop();
  });

  test('a signed form stores the file under ${filename}, with its fields as metadata', async () => {
    const tagging =
      '<Tagging><TagSet><Tag><Key>project</Key><Value>x</Value></Tag></TagSet></Tagging>';
    const fields = {
      key: 'users/alice/${filename}',
      'Content-Type': 'text/markdown',
      'Cache-Control': 'max-age=60',
      'x-amz-meta-owner': 'alice',
      tagging,
      acl: 'public-read',
      ...signed([
        { bucket: BUCKET },
        ['starts-with', '$key', 'users/alice/'],
        ['starts-with', '$Content-Type', 'text/'],
        { 'cache-control': 'max-age=60' },
        ['eq', '$x-amz-meta-owner', 'alice'],
        { tagging },
        { acl: 'public-read' },
      ]),
    };
    const response = await post({ fields, file: { name: 'notes.md', body: '# notes\n' } });
    assert.equal(response.status, 204, await response.text());
    assert.equal(response.headers.get('etag'), `"${md5Hex(Buffer.from('# notes\n'))}"`);
    assert.match(response.headers.get('location') ?? '', /\/uploads\/users\/alice\/notes\.md$/);
    const key = 'users/alice/notes.md';
    const head = await alice.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    assert.equal(head.ContentType, 'text/markdown');
    assert.equal(head.CacheControl, 'max-age=60');
    assert.deepEqual(head.Metadata, { owner: 'alice' });
    const tags = await alice.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key }));
    assert.deepEqual(tags.TagSet, [{ Key: 'project', Value: 'x' }]);
    // public-read: anyone may read it.
    const anonymous = await fetch(`${server.s3Endpoint}/${BUCKET}/${key}`);
    assert.equal(await anonymous.text(), '# notes\n');
  });

  test('success_action_status 201 answers a PostResponse; 200 an empty body', async () => {
    const conditions = [{ bucket: BUCKET }, ['starts-with', '$key', 'status/']];
    const created = await post({
      fields: {
        key: 'status/201',
        success_action_status: '201',
        ...signed([...conditions, { success_action_status: '201' }]),
      },
      file: { name: 'a.txt', body: 'created' },
    });
    assert.equal(created.status, 201);
    const xml = await created.text();
    assert.match(xml, /<Bucket>uploads<\/Bucket>/);
    assert.match(xml, /<Key>status\/201<\/Key>/);
    assert.match(xml, new RegExp(`<ETag>&quot;${md5Hex(Buffer.from('created'))}&quot;</ETag>`));
    const ok = await post({
      fields: {
        key: 'status/200',
        success_action_status: '200',
        ...signed([...conditions, { success_action_status: '200' }]),
      },
      file: { name: 'a.txt', body: 'ok' },
    });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), '');
  });

  test('success_action_redirect: 303 to the URL with bucket, key and etag added', async () => {
    const target = 'https://app.example.com/done?from=form';
    const response = await post({
      fields: {
        key: 'redirected',
        success_action_redirect: target,
        ...signed([{ bucket: BUCKET }, { key: 'redirected' }, { success_action_redirect: target }]),
      },
      file: { name: 'a.txt', body: 'moved' },
    });
    assert.equal(response.status, 303);
    const location = new URL(response.headers.get('location') ?? '');
    assert.equal(location.origin + location.pathname, 'https://app.example.com/done');
    assert.equal(location.searchParams.get('from'), 'form');
    assert.equal(location.searchParams.get('bucket'), BUCKET);
    assert.equal(location.searchParams.get('key'), 'redirected');
    assert.equal(location.searchParams.get('etag'), `"${md5Hex(Buffer.from('moved'))}"`);
  });

  test('fields after the file are ignored, as on AWS', async () => {
    const response = await post({
      fields: { key: 'late', ...signed([{ bucket: BUCKET }, { key: 'late' }]) },
      file: { name: 'a.txt', body: 'late' },
      after: { 'x-amz-meta-late': 'yes', unlisted: 'field' },
    });
    assert.equal(response.status, 204, await response.text());
    const head = await alice.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'late' }));
    assert.deepEqual(head.Metadata, {});
  });

  test('what the policy refuses: 403 AccessDenied (or its own code), nothing stored', async () => {
    const base = [{ bucket: BUCKET }, ['starts-with', '$key', 'policy/']];
    const good = signed(base);
    const cases: Array<[string, Upload, number, string, RegExp]> = [
      [
        'expired',
        {
          fields: { key: 'policy/expired', ...signed(base, { expiresAtMs: Date.now() - 60_000 }) },
        },
        403,
        'AccessDenied',
        /Policy expired/,
      ],
      [
        'key outside the prefix',
        { fields: { key: 'elsewhere/x', ...good } },
        403,
        'AccessDenied',
        /Policy Condition failed: \["starts-with","\$key","policy\/"\]/,
      ],
      [
        'a field no condition names',
        { fields: { key: 'policy/extra', 'x-amz-meta-extra': '1', ...good } },
        403,
        'AccessDenied',
        /Extra input fields: x-amz-meta-extra/,
      ],
      [
        'another bucket',
        { fields: { key: 'policy/bucket', ...signed([{ bucket: 'dropbox' }, base[1]]) } },
        403,
        'AccessDenied',
        /Policy Condition failed/,
      ],
      [
        'a signature by another secret',
        { fields: { key: 'policy/sig', ...good, 'x-amz-signature': 'a'.repeat(64) } },
        403,
        'SignatureDoesNotMatch',
        /signature/,
      ],
      [
        'a policy without expiration',
        { fields: { key: 'policy/exp', ...signed(base, { rawPolicy: '{"conditions": []}' }) } },
        400,
        'InvalidPolicyDocument',
        /missing expiration/,
      ],
      [
        'a policy that is not JSON',
        { fields: { key: 'policy/json', ...signed(base, { rawPolicy: '{"expiration": ' }) } },
        400,
        'InvalidPolicyDocument',
        /Invalid Policy/,
      ],
    ];
    for (const [what, upload, status, code, message] of cases) {
      upload.file = { name: 'a.txt', body: 'refused' };
      const error = await errorOf(await post(upload));
      assert.equal(error.status, status, what);
      assert.equal(error.code, code, what);
      assert.match(error.message ?? '', message, what);
    }
    for (const key of ['policy/expired', 'elsewhere/x', 'policy/extra', 'policy/sig'])
      assert.equal(await exists(key), false, key);
  });

  test('content-length-range is enforced as the file streams: nothing stored outside it', async () => {
    const conditions = [
      { bucket: BUCKET },
      ['starts-with', '$key', 'sized/'],
      ['content-length-range', 10, MiB],
    ];
    const fields = (key: string) => ({ key, ...signed(conditions) });
    const large = await errorOf(
      await post({
        fields: fields('sized/large'),
        file: { name: 'a', body: patternBytes(3 * MiB) },
      }),
    );
    assert.equal(large.code, 'EntityTooLarge');
    const small = await errorOf(
      await post({ fields: fields('sized/small'), file: { name: 'a', body: 'tiny' } }),
    );
    assert.equal(small.code, 'EntityTooSmall');
    assert.equal(await exists('sized/large'), false);
    assert.equal(await exists('sized/small'), false);
    // At the limits exactly: both stored.
    for (const [key, size] of [
      ['sized/min', 10],
      ['sized/max', MiB],
    ] as const) {
      const response = await post({
        fields: fields(key),
        file: { name: 'a', body: patternBytes(size) },
      });
      assert.equal(response.status, 204, key);
    }
  });

  test('a large file streams through whole', async () => {
    const body = patternBytes(48 * MiB, 7);
    const response = await post({
      fields: { key: 'big', ...signed([{ bucket: BUCKET }, { key: 'big' }]) },
      file: { name: 'big.bin', body, type: 'application/octet-stream' },
    });
    assert.equal(response.status, 204, await response.text());
    const got = await alice.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'big' }));
    assert.equal(md5Hex(await bodyBytes(got.Body)), md5Hex(body));
    assert.equal(got.ContentType, 'binary/octet-stream', 'no Content-Type field: the default');
  });

  test('a signed form cut off inside its file: 400, nothing stored, the gateway serves on', async () => {
    const boundary = 'cut-boundary';
    const fields = { key: 'cut/x', ...signed([{ bucket: BUCKET }, { key: 'cut/x' }]) };
    const head = Object.entries(fields)
      .map(
        ([n, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`,
      )
      .join('');
    const filePart = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n`;
    // The file's bytes, and then the body ends without a closing boundary.
    const body = Buffer.concat([Buffer.from(head + filePart), patternBytes(256 * 1024)]);
    const url = new URL(server.s3Endpoint);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname);
      let text = '';
      socket.on('data', (d) => {
        text += d;
      });
      socket.on('error', reject);
      socket.on('close', () => resolve(text));
      socket.write(
        `POST /${BUCKET} HTTP/1.1\r\nhost: ${url.host}\r\nconnection: close\r\n` +
          `content-type: multipart/form-data; boundary=${boundary}\r\n` +
          `content-length: ${body.length}\r\n\r\n`,
      );
      // Not half-closed: Node's server ends a connection its client has ended before answering.
      socket.write(body);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.match(answer, /<Code>MalformedPOSTRequest<\/Code>/);
    assert.equal(await exists('cut/x'), false);
  });

  test('malformed forms and fields Strata does not provide are refused', async () => {
    const fields = {
      key: 'refused/x',
      ...signed([{ bucket: BUCKET }, ['starts-with', '$key', '']]),
    };
    const notForm = await errorOf(
      await fetch(`${server.s3Endpoint}/${BUCKET}`, { method: 'POST', body: 'key=x' }),
    );
    assert.deepEqual([notForm.status, notForm.code], [412, 'PreconditionFailed']);
    const noFile = await errorOf(await post({ fields }));
    assert.deepEqual([noFile.status, noFile.code], [400, 'InvalidArgument']);
    const noKey = await errorOf(
      await post({ fields: { ...fields, key: '' }, file: { name: 'a', body: 'x' } }),
    );
    assert.deepEqual([noKey.status, noKey.code], [400, 'InvalidArgument']);
    for (const [name, value] of [
      ['x-amz-server-side-encryption', 'AES256'],
      ['x-amz-storage-class', 'ONEZONE_IA'],
      ['x-amz-object-lock-mode', 'GOVERNANCE'],
    ]) {
      const refused = await errorOf(
        await post({ fields: { ...fields, [name]: value }, file: { name: 'a', body: 'x' } }),
      );
      assert.deepEqual([refused.status, refused.code], [501, 'NotImplemented'], name);
    }
    const oversize = await errorOf(
      await post({
        fields: { ...fields, 'x-amz-meta-big': 'x'.repeat(30_000) },
        file: { name: 'a', body: 'x' },
      }),
    );
    assert.equal(oversize.code, 'MaxPostPreDataLengthExceeded');
    assert.equal(await exists('refused/x'), false);
  });

  test('the form credential decides: another user is denied; anonymous only where allowed', async () => {
    const bob = await errorOf(
      await post({
        fields: {
          key: 'by-bob',
          ...signed([{ bucket: BUCKET }, { key: 'by-bob' }], { user: 'bob' }),
        },
        file: { name: 'a', body: 'bob' },
      }),
    );
    assert.deepEqual([bob.status, bob.code], [403, 'AccessDenied']);
    const anonymousPrivate = await errorOf(
      await post({ fields: { key: 'anon' }, file: { name: 'a', body: 'anon' } }),
    );
    assert.deepEqual([anonymousPrivate.status, anonymousPrivate.code], [403, 'AccessDenied']);
    const anonymousPublic = await post(
      { fields: { key: 'anon' }, file: { name: 'a', body: 'anon' } },
      'dropbox',
    );
    assert.equal(anonymousPublic.status, 204, await anonymousPublic.text());
  });
});

// curl stops sending once it has an early error answer, and hangs up. A request already answered
// is not told by Node that its client left: the gateway must not keep reading a body that will
// never come (with a long body idle timeout it would keep even a stopping server alive).
describe('POST Object: a client that hangs up after an early refusal', () => {
  test('leaves nothing waiting: the server still stops on SIGTERM', async () => {
    const dir = tempDir('strata-post-hangup-');
    const config = join(dir, 'strata.toml');
    writeFileSync(config, '[s3]\nbody_idle_timeout_seconds = 3600\n');
    const server = await startStrata({ args: ['--config', config] });
    try {
      const s3 = new S3Client({
        endpoint: server.s3Endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: server.accessKey, secretAccessKey: server.secretKey },
        maxAttempts: 1,
      });
      await s3.send(new CreateBucketCommand({ Bucket: 'hangup' }));
      s3.destroy();
      const boundary = 'hangup-boundary';
      const fields = {
        key: 'x',
        ...signedPostFields(server, {
          conditions: [{ bucket: 'hangup' }, { key: 'x' }, ['content-length-range', 0, 1024]],
        }),
      };
      const head = Object.entries(fields)
        .map(
          ([n, v]) =>
            `--${boundary}\r\nContent-Disposition: form-data; name="${n}"\r\n\r\n${v}\r\n`,
        )
        .join('');
      const filePart = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n`;
      const sent = Buffer.concat([Buffer.from(head + filePart), patternBytes(MiB)]);
      const url = new URL(server.s3Endpoint);
      // 64 MiB declared, 1 MiB sent: the answer (EntityTooLarge) comes, then the client leaves.
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(url.port), url.hostname);
        let text = '';
        socket.on('data', (d) => {
          text += d;
          if (text.includes('</Error>')) {
            socket.destroy();
            resolve(text);
          }
        });
        socket.on('error', reject);
        socket.write(
          `POST /hangup HTTP/1.1\r\nhost: ${url.host}\r\n` +
            `content-type: multipart/form-data; boundary=${boundary}\r\n` +
            `content-length: ${64 * MiB}\r\n\r\n`,
        );
        socket.write(sent);
      });
      assert.match(answer, /<Code>EntityTooLarge<\/Code>/);
    } finally {
      await server.stop();
    }
    assert.equal(server.process.signalCode, null, 'the server had to be killed');
    assert.equal(server.process.exitCode, 0);
  });
});
