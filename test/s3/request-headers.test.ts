// Every row of the request-header table (src/s3/request-headers.ts) against a real server: a
// refused header gets its exact status and S3 code and leaves nothing behind (no object, no
// bucket, nothing deleted); an honoured one shows its effect. The cases are typed by the table's
// header names, so a new row does not compile without its case.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checksumBase64 } from '../../src/auth/checksums.ts';
import { REQUEST_HEADERS, type RequestHeaderName } from '../../src/s3/request-headers.ts';
import { patternBytes } from '../helpers/s3.ts';
import { REPO_ROOT, type StrataProcess, startStrata } from '../helpers/server.ts';
import {
  amzDateOf,
  type RawRequest,
  type RawResponse,
  sendSigned,
} from '../helpers/signed-http.ts';

interface Case {
  title: string;
  request: () => RawRequest | Promise<RawRequest>;
  status: number;
  code?: string;
  check?: (response: RawResponse) => void | Promise<void>;
}

const BUCKET = 'hdr';
const BODY = 'hello world';
const OWNER = 'admin'; // the user of the generated credential
const PAST = 'Sat, 01 Jan 2000 00:00:00 GMT';
const FUTURE = 'Fri, 01 Jan 2100 00:00:00 GMT';

let server: StrataProcess;
let objectEtag = '';
let sequence = 0;

const send = (input: RawRequest) => sendSigned(server, input);
const fresh = (label: string) => `${label}-${++sequence}`;
const put = (key: string, headers: Record<string, string> = {}, body = BODY): RawRequest => ({
  method: 'PUT',
  target: `/${BUCKET}/${key}`,
  headers,
  body,
});
const get = (key: string, headers: Record<string, string> = {}, method = 'GET'): RawRequest => ({
  method,
  target: `/${BUCKET}/${key}`,
  headers,
});
const copy = (key: string, headers: Record<string, string> = {}): RawRequest =>
  put(key, { 'x-amz-copy-source': `/${BUCKET}/obj`, ...headers }, '');

async function exists(key: string): Promise<boolean> {
  const response = await send(get(key, {}, 'HEAD'));
  assert.ok([200, 404].includes(response.status), `HEAD ${key}: ${response.status}`);
  return response.status === 200;
}

async function newObject(label: string): Promise<string> {
  const key = fresh(label);
  const response = await send(put(key));
  assert.equal(response.status, 200);
  return key;
}

async function createUpload(key: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await send({ method: 'POST', target: `/${BUCKET}/${key}?uploads`, headers });
  assert.equal(response.status, 200, response.body.toString());
  const result = response.xml?.InitiateMultipartUploadResult as { UploadId: string };
  return result.UploadId;
}

// Object Lock rows: a bucket made with Object Lock, once; retention headers until LOCK_UNTIL.
const LOCK_UNTIL = '2100-01-01T00:00:00.000Z';
// A version id a source cluster issues (its 65,536th version).
const REPLICA_ID = '1fffffffff0000';
let locked: Promise<string> | undefined;
function lockedBucket(): Promise<string> {
  locked ??= (async () => {
    const headers = { 'x-amz-bucket-object-lock-enabled': 'true' };
    const made = await send({ method: 'PUT', target: '/hdr-locked', headers });
    assert.equal(made.status, 200, made.body.toString());
    return 'hdr-locked';
  })();
  return locked;
}
const retainHeaders = (mode: string) => ({
  'x-amz-object-lock-mode': mode,
  'x-amz-object-lock-retain-until-date': LOCK_UNTIL,
});
async function lockedPut(key: string, headers: Record<string, string>): Promise<RawRequest> {
  return { method: 'PUT', target: `/${await lockedBucket()}/${key}`, headers, body: BODY };
}
const lockedGet = (key: string, method = 'GET'): RawRequest => ({
  method,
  target: `/hdr-locked/${key}`,
  headers: {},
});

// A PUT carrying the header is refused and stores nothing.
function refusedPut(header: string, value: string, status: number, code: string): Case {
  let key = '';
  return {
    title: `PutObject with ${header}: ${value}`,
    request: () => {
      key = fresh('refused');
      return put(key, { [header]: value });
    },
    status,
    code,
    check: async () => assert.equal(await exists(key), false, 'a refused PUT stored an object'),
  };
}

// A CopyObject carrying the header is refused and makes no copy.
function refusedCopy(header: string, value: string, status: number, code: string): Case {
  let key = '';
  return {
    title: `CopyObject with ${header}: ${value}`,
    request: () => {
      key = fresh('copy-refused');
      return copy(key, { [header]: value });
    },
    status,
    code,
    check: async () => assert.equal(await exists(key), false, 'a refused copy made an object'),
  };
}

// A DELETE carrying the header is refused and deletes nothing.
function refusedDelete(header: string, value: string): Case {
  let key = '';
  return {
    title: `DeleteObject with ${header}: ${value}`,
    request: async () => {
      key = await newObject('victim');
      return { method: 'DELETE', target: `/${BUCKET}/${key}`, headers: { [header]: value } };
    },
    status: 501,
    code: 'NotImplemented',
    check: async () => assert.equal(await exists(key), true, 'a refused DELETE deleted'),
  };
}

// A CreateBucket carrying the header is refused and creates no bucket.
function refusedCreateBucket(header: string, value: string, status: number, code: string): Case {
  let bucket = '';
  return {
    title: `CreateBucket with ${header}: ${value}`,
    request: () => {
      bucket = fresh('refused-bucket');
      return { method: 'PUT', target: `/${bucket}`, headers: { [header]: value } };
    },
    status,
    code,
    check: async () => {
      const head = await send({ method: 'HEAD', target: `/${bucket}` });
      assert.equal(head.status, 404, 'a refused CreateBucket made the bucket');
    },
  };
}

function refusedRename(header: string): Case {
  let key = '';
  return {
    title: `RenameObject with ${header}`,
    request: () => {
      key = fresh('renamed');
      return {
        method: 'PUT',
        target: `/${BUCKET}/${key}?renameObject`,
        headers: { 'x-amz-rename-source': `/${BUCKET}/obj`, [header]: `"${objectEtag}"` },
      };
    },
    status: 501,
    code: 'NotImplemented',
    check: async () => assert.equal(await exists(key), false),
  };
}

function badDigest(
  header: string,
  algorithm: 'CRC32' | 'CRC32C' | 'CRC64NVME' | 'SHA1' | 'SHA256',
) {
  const good = checksumBase64(algorithm, Buffer.from(BODY));
  const bad = checksumBase64(algorithm, Buffer.from('something else'));
  return [
    {
      title: `a wrong ${header} is BadDigest`,
      request: () => put(fresh('sum'), { [header]: bad }),
      status: 400,
      code: 'BadDigest',
    },
    {
      title: `${header} is stored and returned with x-amz-checksum-mode`,
      request: async () => {
        const key = fresh('sum');
        assert.equal((await send(put(key, { [header]: good }))).status, 200);
        return get(key, { 'x-amz-checksum-mode': 'ENABLED' });
      },
      status: 200,
      check: (r: RawResponse) => assert.equal(r.headers[header], good),
    },
  ] satisfies Case[];
}

const SSE_C_KEY = Buffer.alloc(32, 7).toString('base64');

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers';

// A grant header on PutObject and on PutObjectAcl is what GetObjectAcl reports; a grant by e-mail
// is refused (Strata users have none) and stores nothing.
const grant = (header: string, permission: string): Case[] => [
  refusedPut(header, 'emailAddress="someone@example.com"', 400, 'UnresolvableGrantByEmailAddress'),
  {
    title: `PutObject with ${header}: the grant is stored`,
    request: async () => {
      const key = fresh('grant');
      assert.equal((await send(put(key, { [header]: `uri="${ALL_USERS}"` }))).status, 200);
      return { method: 'GET', target: `/${BUCKET}/${key}?acl` };
    },
    status: 200,
    check: (r) => assertGrant(r, permission),
  },
  {
    title: `PutObjectAcl with ${header}`,
    request: async () => {
      const key = await newObject('grant-acl');
      const target = `/${BUCKET}/${key}?acl`;
      const headers = { [header]: `uri="${ALL_USERS}", id="${OWNER}"` };
      assert.equal((await send({ method: 'PUT', target, headers })).status, 200);
      return { method: 'GET', target };
    },
    status: 200,
    check: (r) => assertGrant(r, permission),
  },
];

function assertGrant(r: RawResponse, permission: string) {
  const text = r.body.toString();
  const grant = new RegExp(`<URI>${ALL_USERS}</URI></Grantee><Permission>${permission}<`);
  assert.match(text, grant, `AllUsers ${permission} in ${text}`);
}

const CASES: Record<RequestHeaderName, Case[]> = {
  'x-amz-date': [
    {
      title: 'a request signed an hour ago is RequestTimeTooSkewed',
      request: () => ({ ...get('obj'), amzDate: amzDateOf(Date.now() - 3_600_000) }),
      status: 403,
      code: 'RequestTimeTooSkewed',
    },
  ],
  'x-amz-content-sha256': [
    {
      title: 'a payload hash that does not match the body is refused',
      request: () => ({ ...put(fresh('sha')), payloadHash: 'a'.repeat(64) }),
      status: 400,
      code: 'XAmzContentSHA256Mismatch',
    },
    {
      // Past the first MiB the hash runs on a hashing thread (src/common/hash-offload.ts).
      title: 'a payload hash that does not match a 3 MiB body is refused, and nothing is stored',
      request: () => ({
        ...put('sha-large', {}, 'x'.repeat(3 * 1024 * 1024)),
        payloadHash: 'a'.repeat(64),
      }),
      status: 400,
      code: 'XAmzContentSHA256Mismatch',
      check: async () => assert.equal(await exists('sha-large'), false),
    },
  ],
  'x-amz-decoded-content-length': [
    {
      title: 'an aws-chunked body must have the declared decoded length',
      request: () => ({
        ...put(
          fresh('chunked'),
          { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '99' },
          `${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`,
        ),
        payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      }),
      status: 400,
    },
  ],
  'x-amz-trailer': [
    {
      title: 'a trailer announced but not sent is refused',
      request: () => ({
        ...put(
          fresh('trailer'),
          {
            'content-encoding': 'aws-chunked',
            'x-amz-decoded-content-length': String(BODY.length),
            'x-amz-trailer': 'x-amz-checksum-crc32',
          },
          `${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`,
        ),
        payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      }),
      status: 400,
    },
  ],
  'x-amz-security-token': [refusedPut('x-amz-security-token', 'token', 501, 'NotImplemented')],
  'x-amz-user-agent': [
    {
      title: 'informational',
      request: () => get('obj', { 'x-amz-user-agent': 'test/1' }),
      status: 200,
    },
  ],
  'content-md5': [
    {
      title: 'a wrong Content-MD5 is BadDigest',
      request: () => put(fresh('md5'), { 'content-md5': Buffer.alloc(16).toString('base64') }),
      status: 400,
      code: 'BadDigest',
    },
  ],
  'x-amz-sdk-checksum-algorithm': [
    {
      title: 'with its checksum header, the checksum is verified',
      request: () =>
        put(fresh('sdk'), {
          'x-amz-sdk-checksum-algorithm': 'CRC32',
          'x-amz-checksum-crc32': checksumBase64('CRC32', Buffer.from('other')),
        }),
      status: 400,
      code: 'BadDigest',
    },
  ],
  'x-amz-checksum-crc32': badDigest('x-amz-checksum-crc32', 'CRC32'),
  'x-amz-checksum-crc32c': badDigest('x-amz-checksum-crc32c', 'CRC32C'),
  'x-amz-checksum-crc64nvme': badDigest('x-amz-checksum-crc64nvme', 'CRC64NVME'),
  'x-amz-checksum-sha1': badDigest('x-amz-checksum-sha1', 'SHA1'),
  'x-amz-checksum-sha256': badDigest('x-amz-checksum-sha256', 'SHA256'),
  'x-amz-checksum-algorithm': [
    {
      title: 'CreateMultipartUpload records the algorithm',
      request: () => ({
        method: 'POST',
        target: `/${BUCKET}/${fresh('mpu')}?uploads`,
        headers: { 'x-amz-checksum-algorithm': 'SHA256' },
      }),
      status: 200,
      check: (r) => assert.equal(r.headers['x-amz-checksum-algorithm'], 'SHA256'),
    },
    refusedCopy('x-amz-checksum-algorithm', 'SHA256', 501, 'NotImplemented'),
  ],
  'x-amz-checksum-type': [
    {
      title: 'CreateMultipartUpload records the type',
      request: () => ({
        method: 'POST',
        target: `/${BUCKET}/${fresh('mpu')}?uploads`,
        headers: { 'x-amz-checksum-algorithm': 'CRC32', 'x-amz-checksum-type': 'FULL_OBJECT' },
      }),
      status: 200,
      check: (r) => assert.equal(r.headers['x-amz-checksum-type'], 'FULL_OBJECT'),
    },
  ],
  'x-amz-checksum-mode': [
    {
      title: 'without it, GET returns no checksum',
      request: () => get('obj'),
      status: 200,
      check: (r) => assert.equal(r.headers['x-amz-checksum-crc32'], undefined),
    },
    {
      title: 'ENABLED returns the stored checksum',
      request: () => get('obj', { 'x-amz-checksum-mode': 'ENABLED' }),
      status: 200,
      check: (r) =>
        assert.equal(r.headers['x-amz-checksum-crc32'], checksumBase64('CRC32', Buffer.from(BODY))),
    },
  ],
  'x-amz-mp-object-size': [
    {
      title: 'CompleteMultipartUpload with a declared size is refused, the upload stays open',
      request: async () => {
        const key = fresh('mpsize');
        const uploadId = await createUpload(key);
        return {
          method: 'POST',
          target: `/${BUCKET}/${key}?uploadId=${uploadId}`,
          headers: { 'x-amz-mp-object-size': '11' },
          body: '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>',
        };
      },
      status: 501,
      code: 'NotImplemented',
    },
  ],
  'x-amz-expected-bucket-owner': [
    {
      title: 'another owner is AccessDenied',
      request: () => get('obj', { 'x-amz-expected-bucket-owner': 'someone-else' }),
      status: 403,
      code: 'AccessDenied',
    },
    refusedPut('x-amz-expected-bucket-owner', 'someone-else', 403, 'AccessDenied'),
    {
      title: 'the real owner passes',
      request: () => get('obj', { 'x-amz-expected-bucket-owner': OWNER }),
      status: 200,
    },
  ],
  'x-amz-source-expected-bucket-owner': [
    refusedCopy('x-amz-source-expected-bucket-owner', 'someone-else', 403, 'AccessDenied'),
    {
      title: 'the real source owner passes',
      request: () => copy(fresh('copy'), { 'x-amz-source-expected-bucket-owner': OWNER }),
      status: 200,
    },
  ],
  'x-amz-request-payer': [
    {
      title: 'requester',
      request: () => get('obj', { 'x-amz-request-payer': 'requester' }),
      status: 200,
    },
    refusedPut('x-amz-request-payer', 'bucket-owner', 400, 'InvalidArgument'),
  ],
  'x-amz-acl': [
    {
      title: 'a canned ACL on PutObject is what GetObjectAcl reports',
      request: async () => {
        const key = fresh('acl');
        assert.equal((await send(put(key, { 'x-amz-acl': 'public-read' }))).status, 200);
        return { method: 'GET', target: `/${BUCKET}/${key}?acl` };
      },
      status: 200,
      check: (r) => assert.ok(r.body.toString().includes('AllUsers')),
    },
  ],
  'x-amz-grant-full-control': grant('x-amz-grant-full-control', 'FULL_CONTROL'),
  'x-amz-grant-read': grant('x-amz-grant-read', 'READ'),
  'x-amz-grant-read-acp': grant('x-amz-grant-read-acp', 'READ_ACP'),
  'x-amz-grant-write': [
    refusedCreateBucket(
      'x-amz-grant-write',
      'emailAddress="a@example.com"',
      400,
      'UnresolvableGrantByEmailAddress',
    ),
    {
      title: 'CreateBucket with x-amz-grant-write: the grant is stored',
      request: async () => {
        const bucket = fresh('grant-bucket');
        const headers = { 'x-amz-grant-write': `uri="${ALL_USERS}"` };
        assert.equal((await send({ method: 'PUT', target: `/${bucket}`, headers })).status, 200);
        return { method: 'GET', target: `/${bucket}?acl` };
      },
      status: 200,
      check: (r) => assertGrant(r, 'WRITE'),
    },
  ],
  'x-amz-grant-write-acp': grant('x-amz-grant-write-acp', 'WRITE_ACP'),
  'x-amz-object-ownership': [
    {
      title: 'CreateBucket with x-amz-object-ownership: BucketOwnerEnforced is stored',
      request: async () => {
        const bucket = fresh('owned-bucket');
        const headers = { 'x-amz-object-ownership': 'BucketOwnerEnforced' };
        assert.equal((await send({ method: 'PUT', target: `/${bucket}`, headers })).status, 200);
        return { method: 'GET', target: `/${bucket}?ownershipControls` };
      },
      status: 200,
      check: (r) => assert.match(r.body.toString(), /<ObjectOwnership>BucketOwnerEnforced</),
    },
    refusedCreateBucket('x-amz-object-ownership', 'ObjectWriter', 501, 'NotImplemented'),
    refusedCreateBucket('x-amz-object-ownership', 'Nope', 400, 'InvalidArgument'),
  ],
  'x-amz-storage-class': [
    {
      title: 'STANDARD is stored',
      request: () => put(fresh('standard'), { 'x-amz-storage-class': 'STANDARD' }),
      status: 200,
    },
    // GLACIER and DEEP_ARCHIVE need more disks than this server has (PUT and CopyObject):
    // test/s3/storage-class.test.ts.
    {
      title: 'STANDARD_IA is stored and named by HEAD',
      request: () => put('storage-class-ia', { 'x-amz-storage-class': 'STANDARD_IA' }),
      status: 200,
      check: async () => {
        const headed = await send({ method: 'HEAD', target: `/${BUCKET}/storage-class-ia` });
        assert.equal(headed.headers['x-amz-storage-class'], 'STANDARD_IA');
      },
    },
    ...[
      'REDUCED_REDUNDANCY',
      'ONEZONE_IA',
      'INTELLIGENT_TIERING',
      'GLACIER_IR',
      'OUTPOSTS',
      'SNOW',
      'EXPRESS_ONEZONE',
    ].map((c) => refusedPut('x-amz-storage-class', c, 501, 'NotImplemented')),
    refusedPut('x-amz-storage-class', 'NOPE', 400, 'InvalidStorageClass'),
    refusedCopy('x-amz-storage-class', 'GLACIER_IR', 501, 'NotImplemented'),
    {
      title: 'CreateMultipartUpload with GLACIER_IR starts no upload',
      request: () => ({
        method: 'POST',
        target: `/${BUCKET}/${fresh('mpu-glacier')}?uploads`,
        headers: { 'x-amz-storage-class': 'GLACIER_IR' },
      }),
      status: 501,
      code: 'NotImplemented',
      check: async () => {
        const list = await send({ method: 'GET', target: `/${BUCKET}?uploads` });
        assert.ok(!list.body.toString().includes('mpu-glacier'), 'an upload was started');
      },
    },
  ],
  'x-amz-server-side-encryption': [
    refusedPut('x-amz-server-side-encryption', 'AES256', 501, 'NotImplemented'),
    // This server has no master key: SSE-KMS is refused as SSE-S3 is (test/s3/sse-kms.test.ts).
    refusedPut('x-amz-server-side-encryption', 'aws:kms', 501, 'NotImplemented'),
    refusedPut('x-amz-server-side-encryption', 'aws:kms:dsse', 501, 'NotImplemented'),
    refusedPut('x-amz-server-side-encryption', 'rot13', 400, 'InvalidArgument'),
    refusedCopy('x-amz-server-side-encryption', 'AES256', 501, 'NotImplemented'),
  ],
  'x-amz-server-side-encryption-aws-kms-key-id': [
    // Without x-amz-server-side-encryption: aws:kms, as AWS answers.
    refusedPut('x-amz-server-side-encryption-aws-kms-key-id', 'key', 400, 'InvalidArgument'),
  ],
  'x-amz-server-side-encryption-context': [
    refusedPut('x-amz-server-side-encryption-context', 'e30=', 400, 'InvalidArgument'),
  ],
  'x-amz-server-side-encryption-bucket-key-enabled': [
    refusedPut('x-amz-server-side-encryption-bucket-key-enabled', 'true', 400, 'InvalidArgument'),
  ],
  // This server speaks plain HTTP without [s3] sse_c_over_http: every SSE-C request is refused
  // before anything is stored (test/s3/sse-c.test.ts covers SSE-C itself).
  'x-amz-server-side-encryption-customer-algorithm': [
    refusedPut('x-amz-server-side-encryption-customer-algorithm', 'AES256', 400, 'InvalidRequest'),
    refusedPut('x-amz-server-side-encryption-customer-algorithm', 'DES', 400, 'InvalidArgument'),
    {
      title: 'GetObject with an SSE-C header over plain HTTP is refused',
      request: () => get('obj', { 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }),
      status: 400,
      code: 'InvalidRequest',
    },
  ],
  'x-amz-server-side-encryption-customer-key': [
    refusedPut('x-amz-server-side-encryption-customer-key', SSE_C_KEY, 400, 'InvalidRequest'),
  ],
  'x-amz-server-side-encryption-customer-key-md5': [
    refusedPut('x-amz-server-side-encryption-customer-key-md5', 'x', 400, 'InvalidRequest'),
  ],
  'x-amz-copy-source-server-side-encryption-customer-algorithm': [
    refusedCopy(
      'x-amz-copy-source-server-side-encryption-customer-algorithm',
      'AES256',
      400,
      'InvalidRequest',
    ),
    refusedCopy(
      'x-amz-copy-source-server-side-encryption-customer-algorithm',
      'DES',
      400,
      'InvalidArgument',
    ),
  ],
  'x-amz-copy-source-server-side-encryption-customer-key': [
    refusedCopy(
      'x-amz-copy-source-server-side-encryption-customer-key',
      SSE_C_KEY,
      400,
      'InvalidRequest',
    ),
  ],
  'x-amz-copy-source-server-side-encryption-customer-key-md5': [
    refusedCopy(
      'x-amz-copy-source-server-side-encryption-customer-key-md5',
      'x',
      400,
      'InvalidRequest',
    ),
  ],
  'x-amz-bucket-object-lock-enabled': [
    {
      title: 'true makes a bucket with Object Lock and versioning Enabled',
      request: () => ({
        method: 'PUT',
        target: `/${fresh('locked')}`,
        headers: { 'x-amz-bucket-object-lock-enabled': 'true' },
      }),
      status: 200,
      check: async () => {
        const bucket = `locked-${sequence}`;
        const config = await send({ method: 'GET', target: `/${bucket}?object-lock` });
        assert.equal(config.status, 200, config.body.toString());
        assert.match(config.body.toString(), /<ObjectLockEnabled>Enabled</);
        const versioning = await send({ method: 'GET', target: `/${bucket}?versioning` });
        assert.match(versioning.body.toString(), /<Status>Enabled</);
      },
    },
    refusedCreateBucket('x-amz-bucket-object-lock-enabled', 'maybe', 400, 'InvalidArgument'),
    {
      title: 'false makes a bucket without Object Lock',
      request: () => ({
        method: 'PUT',
        target: `/${fresh('unlocked')}`,
        headers: { 'x-amz-bucket-object-lock-enabled': 'false' },
      }),
      status: 200,
      check: async () => {
        const config = await send({ method: 'GET', target: `/unlocked-${sequence}?object-lock` });
        assert.equal(config.code, 'ObjectLockConfigurationNotFoundError');
      },
    },
  ],
  'x-amz-object-lock-mode': [
    {
      title: 'a retention on a bucket without Object Lock is InvalidRequest, and stores nothing',
      request: () => put(fresh('no-lock'), { ...retainHeaders('COMPLIANCE') }),
      status: 400,
      code: 'InvalidRequest',
      check: async () => assert.equal(await exists(`no-lock-${sequence}`), false),
    },
    refusedPut('x-amz-object-lock-mode', 'FOREVER', 400, 'InvalidArgument'),
    {
      title: 'GOVERNANCE with a date is the new version’s retention (HEAD shows it)',
      request: async () => lockedPut(fresh('retained'), retainHeaders('GOVERNANCE')),
      status: 200,
      check: async () => {
        const head = await send(lockedGet(`retained-${sequence}`, 'HEAD'));
        assert.equal(head.headers['x-amz-object-lock-mode'], 'GOVERNANCE');
        assert.equal(head.headers['x-amz-object-lock-retain-until-date'], LOCK_UNTIL);
      },
    },
  ],
  'x-amz-object-lock-retain-until-date': [
    {
      title: 'a date in the past is InvalidArgument, and stores nothing',
      request: async () =>
        lockedPut(fresh('past'), {
          'x-amz-object-lock-mode': 'COMPLIANCE',
          'x-amz-object-lock-retain-until-date': '2001-01-01T00:00:00Z',
        }),
      status: 400,
      code: 'InvalidArgument',
      check: async () =>
        assert.equal((await send(lockedGet(`past-${sequence}`, 'HEAD'))).status, 404),
    },
    refusedPut('x-amz-object-lock-retain-until-date', LOCK_UNTIL, 400, 'InvalidArgument'),
  ],
  'x-amz-object-lock-legal-hold': [
    refusedPut('x-amz-object-lock-legal-hold', 'ON', 400, 'InvalidRequest'),
    refusedPut('x-amz-object-lock-legal-hold', 'MAYBE', 400, 'InvalidArgument'),
    {
      title: 'ON puts the new version under a legal hold',
      request: async () => lockedPut(fresh('held'), { 'x-amz-object-lock-legal-hold': 'ON' }),
      status: 200,
      check: async () => {
        const head = await send(lockedGet(`held-${sequence}`, 'HEAD'));
        assert.equal(head.headers['x-amz-object-lock-legal-hold'], 'ON');
      },
    },
  ],
  'x-amz-object-lock-token': [
    refusedPut('x-amz-object-lock-token', 'token', 501, 'NotImplemented'),
  ],
  'x-strata-replica-version-id': [
    refusedPut('x-strata-replica-version-id', 'null', 400, 'InvalidArgument'),
    refusedCopy('x-strata-replica-version-id', '1fffffffff0001', 501, 'NotImplemented'),
    // The header bucket has no versioning: a replica needs it Enabled.
    refusedPut('x-strata-replica-version-id', '1fffffffff0002', 409, 'InvalidBucketState'),
    {
      title: 'a replica keeps the id it names, is REPLICA on HEAD, and a resend is answered alike',
      request: async () =>
        lockedPut(fresh('replica'), { 'x-strata-replica-version-id': REPLICA_ID }),
      status: 200,
      check: async (r) => {
        assert.equal(r.headers['x-amz-version-id'], REPLICA_ID);
        const head = await send(lockedGet(`replica-${sequence}`, 'HEAD'));
        assert.equal(head.headers['x-amz-version-id'], REPLICA_ID);
        assert.equal(head.headers['x-amz-replication-status'], 'REPLICA');
        const again = await send(
          await lockedPut(`replica-${sequence}`, { 'x-strata-replica-version-id': REPLICA_ID }),
        );
        assert.equal(again.status, 200, 'the same replica again is done already');
        assert.equal(again.headers['x-amz-version-id'], REPLICA_ID);
        assert.equal(again.headers.etag, r.headers.etag);
      },
    },
  ],
  'x-amz-bypass-governance-retention': [
    {
      title:
        'a GOVERNANCE-retained version is deleted only with it (the admin holds the permission)',
      request: async () => {
        const key = fresh('bypass');
        const stored = await send(await lockedPut(key, retainHeaders('GOVERNANCE')));
        const versionId = String(stored.headers['x-amz-version-id']);
        const target = `/${await lockedBucket()}/${key}?versionId=${versionId}`;
        const refused = await send({ method: 'DELETE', target });
        assert.equal(refused.status, 403, 'deleted without the bypass');
        assert.equal(refused.code, 'AccessDenied');
        const headers = { 'x-amz-bypass-governance-retention': 'true' };
        return { method: 'DELETE', target, headers };
      },
      status: 204,
      check: async () =>
        assert.equal((await send(lockedGet(`bypass-${sequence}`, 'HEAD'))).status, 404),
    },
  ],
  'x-amz-mfa': [refusedDelete('x-amz-mfa', 'arn:aws:iam::1:mfa/u 123456')],
  'x-amz-meta-*': [
    {
      title: 'user metadata comes back on HEAD',
      request: async () => {
        const key = fresh('meta');
        assert.equal((await send(put(key, { 'x-amz-meta-color': 'blue' }))).status, 200);
        return get(key, {}, 'HEAD');
      },
      status: 200,
      check: (r) => assert.equal(r.headers['x-amz-meta-color'], 'blue'),
    },
  ],
  'x-amz-tagging': [
    {
      title: 'tags on PutObject are what GetObjectTagging reports',
      request: async () => {
        const key = fresh('tagged');
        assert.equal((await send(put(key, { 'x-amz-tagging': 'team=storage' }))).status, 200);
        return { method: 'GET', target: `/${BUCKET}/${key}?tagging` };
      },
      status: 200,
      check: (r) => assert.match(r.body.toString(), /<Key>team<\/Key><Value>storage<\/Value>/),
    },
  ],
  'x-amz-tagging-directive': [
    {
      title: 'REPLACE gives the copy the request tags',
      request: async () => {
        const key = fresh('retagged');
        const headers = { 'x-amz-tagging-directive': 'REPLACE', 'x-amz-tagging': 'k=v2' };
        assert.equal((await send(copy(key, headers))).status, 200);
        return { method: 'GET', target: `/${BUCKET}/${key}?tagging` };
      },
      status: 200,
      check: (r) => assert.match(r.body.toString(), /<Key>k<\/Key><Value>v2<\/Value>/),
    },
  ],
  'x-amz-metadata-directive': [
    {
      title: 'REPLACE gives the copy the request metadata',
      request: async () => {
        const key = fresh('remeta');
        const headers = { 'x-amz-metadata-directive': 'REPLACE', 'x-amz-meta-shade': 'dark' };
        assert.equal((await send(copy(key, headers))).status, 200);
        return get(key, {}, 'HEAD');
      },
      status: 200,
      check: (r) => assert.equal(r.headers['x-amz-meta-shade'], 'dark'),
    },
  ],
  'x-amz-website-redirect-location': [
    refusedPut('x-amz-website-redirect-location', '/elsewhere', 501, 'NotImplemented'),
  ],
  'x-amz-write-offset-bytes': [refusedPut('x-amz-write-offset-bytes', '0', 501, 'NotImplemented')],
  'x-amz-copy-source': [
    {
      title: 'the copy has the source bytes',
      request: async () => {
        const key = fresh('copied');
        assert.equal((await send(copy(key))).status, 200);
        return get(key);
      },
      status: 200,
      check: (r) => assert.equal(r.body.toString(), BODY),
    },
    {
      title: 'a source versionId other than null is InvalidArgument',
      request: () =>
        put(fresh('copy-v'), { 'x-amz-copy-source': `/${BUCKET}/obj?versionId=abc` }, ''),
      status: 400,
      code: 'InvalidArgument',
    },
  ],
  'x-amz-copy-source-range': [
    {
      title: 'UploadPartCopy copies the range',
      request: async () => {
        const key = fresh('partcopy');
        const uploadId = await createUpload(key);
        const target = `/${BUCKET}/${key}?partNumber=1&uploadId=${uploadId}`;
        const headers = {
          'x-amz-copy-source': `/${BUCKET}/obj`,
          'x-amz-copy-source-range': 'bytes=0-4',
        };
        assert.equal((await send({ method: 'PUT', target, headers })).status, 200);
        return { method: 'GET', target: `/${BUCKET}/${key}?uploadId=${uploadId}` };
      },
      status: 200,
      check: (r) => assert.match(r.body.toString(), /<Size>5<\/Size>/),
    },
  ],
  'x-amz-copy-source-if-match': [
    {
      title: 'CopyObject with another ETag is PreconditionFailed',
      request: () => copy(fresh('c'), { 'x-amz-copy-source-if-match': '"0000"' }),
      status: 412,
      code: 'PreconditionFailed',
    },
    {
      title: 'UploadPartCopy with a source condition is refused',
      request: async () => {
        const key = fresh('partcopy-if');
        const uploadId = await createUpload(key);
        return {
          method: 'PUT',
          target: `/${BUCKET}/${key}?partNumber=1&uploadId=${uploadId}`,
          headers: {
            'x-amz-copy-source': `/${BUCKET}/obj`,
            'x-amz-copy-source-if-match': '"0000"',
          },
        };
      },
      status: 501,
      code: 'NotImplemented',
    },
  ],
  'x-amz-copy-source-if-none-match': [
    {
      title: 'CopyObject with the source ETag is PreconditionFailed',
      request: () => copy(fresh('c'), { 'x-amz-copy-source-if-none-match': `"${objectEtag}"` }),
      status: 412,
      code: 'PreconditionFailed',
    },
  ],
  'x-amz-copy-source-if-modified-since': [
    {
      title: 'CopyObject of a source not modified since is PreconditionFailed',
      request: () => copy(fresh('c'), { 'x-amz-copy-source-if-modified-since': FUTURE }),
      status: 412,
      code: 'PreconditionFailed',
    },
  ],
  'x-amz-copy-source-if-unmodified-since': [
    {
      title: 'CopyObject of a source modified since is PreconditionFailed',
      request: () => copy(fresh('c'), { 'x-amz-copy-source-if-unmodified-since': PAST }),
      status: 412,
      code: 'PreconditionFailed',
    },
  ],
  'if-match': [
    {
      title: 'GetObject with another ETag is PreconditionFailed',
      request: () => get('obj', { 'if-match': '"0000"' }),
      status: 412,
      code: 'PreconditionFailed',
    },
    {
      title: 'PutObject over an object with another ETag is PreconditionFailed',
      request: () => put('obj', { 'if-match': '"0000"' }, 'overwritten'),
      status: 412,
      code: 'PreconditionFailed',
    },
    refusedDelete('if-match', '"0000"'),
  ],
  'if-none-match': [
    {
      title: 'GetObject with the current ETag is 304',
      request: () => get('obj', { 'if-none-match': `"${objectEtag}"` }),
      status: 304,
    },
    {
      title: 'PutObject with * over an existing object is PreconditionFailed',
      request: () => put('obj', { 'if-none-match': '*' }, 'overwritten'),
      status: 412,
      code: 'PreconditionFailed',
    },
  ],
  'if-modified-since': [
    {
      title: 'not modified since: 304',
      request: () => get('obj', { 'if-modified-since': FUTURE }),
      status: 304,
    },
  ],
  'if-unmodified-since': [
    {
      title: 'modified since: 412',
      request: () => get('obj', { 'if-unmodified-since': PAST }),
      status: 412,
      code: 'PreconditionFailed',
    },
  ],
  'x-amz-if-match-last-modified-time': [refusedDelete('x-amz-if-match-last-modified-time', PAST)],
  'x-amz-if-match-size': [refusedDelete('x-amz-if-match-size', '11')],
  'x-amz-if-match-initiated-time': [
    {
      title: 'AbortMultipartUpload with a condition is refused and the upload stays',
      request: async () => {
        const key = fresh('abort');
        const uploadId = await createUpload(key);
        return {
          method: 'DELETE',
          target: `/${BUCKET}/${key}?uploadId=${uploadId}`,
          headers: { 'x-amz-if-match-initiated-time': PAST },
        };
      },
      status: 501,
      code: 'NotImplemented',
    },
  ],
  range: [
    {
      title: 'GetObject returns the range',
      request: () => get('obj', { range: 'bytes=0-4' }),
      status: 206,
      check: (r) => assert.equal(r.body.toString(), 'hello'),
    },
  ],
  'x-amz-object-attributes': [
    {
      title: 'GetObjectAttributes returns the named attributes',
      request: () => ({
        method: 'GET',
        target: `/${BUCKET}/obj?attributes`,
        headers: { 'x-amz-object-attributes': 'ObjectSize' },
      }),
      status: 200,
      check: (r) => assert.match(r.body.toString(), /<ObjectSize>11<\/ObjectSize>/),
    },
  ],
  'x-amz-max-parts': [
    {
      title: 'GetObjectAttributes pages parts by x-amz-max-parts',
      request: () => ({
        method: 'GET',
        target: `/${BUCKET}/mp?attributes`,
        headers: { 'x-amz-object-attributes': 'ObjectParts', 'x-amz-max-parts': '1' },
      }),
      status: 200,
      check: (r) => {
        assert.match(r.body.toString(), /<MaxParts>1<\/MaxParts>/);
        assert.match(r.body.toString(), /<IsTruncated>true<\/IsTruncated>/);
      },
    },
  ],
  'x-amz-part-number-marker': [
    {
      title: 'GetObjectAttributes starts after x-amz-part-number-marker',
      request: () => ({
        method: 'GET',
        target: `/${BUCKET}/mp?attributes`,
        headers: { 'x-amz-object-attributes': 'ObjectParts', 'x-amz-part-number-marker': '1' },
      }),
      status: 200,
      check: (r) => {
        assert.match(r.body.toString(), /<PartNumberMarker>1<\/PartNumberMarker>/);
        assert.doesNotMatch(r.body.toString(), /<PartNumber>1<\/PartNumber>/);
      },
    },
  ],
  'x-amz-optional-object-attributes': [
    {
      title: 'ListObjectsV2 with RestoreStatus: no object is an archive, so none has one',
      request: () => ({
        method: 'GET',
        target: `/${BUCKET}?list-type=2&prefix=obj`,
        headers: { 'x-amz-optional-object-attributes': 'RestoreStatus' },
      }),
      status: 200,
      check: (r) => {
        assert.match(r.body.toString(), /<Key>obj<\/Key>/);
        assert.doesNotMatch(r.body.toString(), /RestoreStatus/);
      },
    },
  ],
  'x-amz-confirm-remove-self-bucket-access': [
    {
      title: 'true is refused and no policy is stored',
      request: () => ({
        method: 'PUT',
        target: `/${BUCKET}?policy`,
        headers: { 'x-amz-confirm-remove-self-bucket-access': 'true' },
        body: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Deny', Principal: '*', Action: 's3:*', Resource: `arn:aws:s3:::${BUCKET}` },
          ],
        }),
      }),
      status: 501,
      code: 'NotImplemented',
      check: async () => {
        const policy = await send({ method: 'GET', target: `/${BUCKET}?policy` });
        assert.equal(policy.status, 404);
      },
    },
  ],
  'x-amz-rename-source': [refusedRename('x-amz-client-token')],
  'x-amz-rename-source-if-match': [refusedRename('x-amz-rename-source-if-match')],
  'x-amz-rename-source-if-none-match': [refusedRename('x-amz-rename-source-if-none-match')],
  'x-amz-rename-source-if-modified-since': [refusedRename('x-amz-rename-source-if-modified-since')],
  'x-amz-rename-source-if-unmodified-since': [
    refusedRename('x-amz-rename-source-if-unmodified-since'),
  ],
  'x-amz-client-token': [refusedRename('x-amz-client-token')],
};

describe('request headers: each is honoured or refused', () => {
  before(async () => {
    server = await startStrata();
    assert.equal((await send({ method: 'PUT', target: `/${BUCKET}` })).status, 200);
    const crc = checksumBase64('CRC32', Buffer.from(BODY));
    const stored = await send(put('obj', { 'x-amz-checksum-crc32': crc }));
    assert.equal(stored.status, 200);
    objectEtag = String(stored.headers.etag).replaceAll('"', '');
    // A two-part object for the GetObjectAttributes paging rows.
    const uploadId = await createUpload('mp');
    const parts = [patternBytes(5 * 1024 * 1024), Buffer.from('tail')];
    const etags: string[] = [];
    for (const [i, body] of parts.entries()) {
      const target = `/${BUCKET}/mp?partNumber=${i + 1}&uploadId=${uploadId}`;
      const part = await send({ method: 'PUT', target, body });
      assert.equal(part.status, 200);
      etags.push(String(part.headers.etag));
    }
    const list = etags.map(
      (e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${e}</ETag></Part>`,
    );
    const done = await send({
      method: 'POST',
      target: `/${BUCKET}/mp?uploadId=${uploadId}`,
      body: `<CompleteMultipartUpload>${list.join('')}</CompleteMultipartUpload>`,
    });
    assert.equal(done.status, 200, done.body.toString());
  });
  after(async () => {
    await server?.stop();
  });

  for (const name of Object.keys(REQUEST_HEADERS) as RequestHeaderName[]) {
    describe(name, () => {
      test('has at least one case, and a refused row a case with its error', () => {
        const cases = CASES[name];
        assert.ok(cases.length > 0, `${name} has no case`);
        const rule = REQUEST_HEADERS[name];
        if (rule.kind === 'refused') {
          const { httpStatus, s3Code } = rule.refusal;
          assert.ok(
            cases.some((c) => c.status === httpStatus && c.code === s3Code),
            `${name} is refused with ${httpStatus} ${s3Code}, and no case expects it`,
          );
        }
      });
      for (const c of CASES[name]) {
        test(c.title, async () => {
          const response = await send(await c.request());
          const detail = `${response.status} ${response.body.toString().slice(0, 300)}`;
          assert.equal(response.status, c.status, detail);
          if (c.code !== undefined) assert.equal(response.code, c.code, detail);
          await c.check?.(response);
        });
      }
    });
  }
});

describe('query parameters and bodies that ask for what Strata does not provide', () => {
  before(async () => {
    server = await startStrata();
    assert.equal((await send({ method: 'PUT', target: `/${BUCKET}` })).status, 200);
    assert.equal((await send(put('obj'))).status, 200);
  });
  after(async () => {
    await server?.stop();
  });

  test('versionId other than "null" is InvalidArgument on GET, HEAD, DELETE and tagging', async () => {
    for (const [method, target] of [
      ['GET', '/hdr/obj?versionId=3HL4kqtJlcpXroDTDmJ'],
      ['HEAD', '/hdr/obj?versionId=3HL4kqtJlcpXroDTDmJ'],
      ['DELETE', '/hdr/obj?versionId=3HL4kqtJlcpXroDTDmJ'],
      ['GET', '/hdr/obj?tagging&versionId=3HL4kqtJlcpXroDTDmJ'],
      ['GET', '/hdr/obj?versionId='],
    ]) {
      const response = await send({ method, target });
      assert.equal(response.status, 400, `${method} ${target}`);
      assert.equal(response.code, 'InvalidArgument', `${method} ${target}`);
    }
    assert.equal(await exists('obj'), true, 'a DELETE of another version deleted the object');
  });

  test('versionId=null is the object itself', async () => {
    const response = await send(get('obj?versionId=null'));
    assert.equal(response.status, 200);
    assert.equal(response.body.toString(), BODY);
  });

  test('DeleteObjects: a version other than null or a condition is that key’s error', async () => {
    const body =
      '<Delete><Object><Key>obj</Key><VersionId>abc</VersionId></Object>' +
      '<Object><Key>obj</Key><ETag>"0000"</ETag></Object></Delete>';
    const md5 = (await import('node:crypto')).createHash('md5').update(body).digest('base64');
    const response = await send({
      method: 'POST',
      target: `/${BUCKET}?delete`,
      headers: { 'content-md5': md5 },
      body,
    });
    assert.equal(response.status, 200);
    const text = response.body.toString();
    assert.match(text, /<Code>InvalidArgument<\/Code>/);
    assert.match(text, /<Code>NotImplemented<\/Code>/);
    assert.doesNotMatch(text, /<Deleted>/);
    assert.equal(await exists('obj'), true);
  });

  test('CreateBucket with a configuration other than LocationConstraint creates nothing', async () => {
    const body =
      '<CreateBucketConfiguration><Location><Type>AvailabilityZone</Type></Location>' +
      '<Bucket><Type>Directory</Type></Bucket></CreateBucketConfiguration>';
    const response = await send({ method: 'PUT', target: '/dirbucket', body });
    assert.equal(response.status, 501);
    assert.equal(response.code, 'NotImplemented');
    assert.equal((await send({ method: 'HEAD', target: '/dirbucket' })).status, 404);
  });

  test('a refused PUT with a large body leaves the server serving', async () => {
    const response = await send(
      put(
        'big',
        { 'x-amz-server-side-encryption': 'AES256' },
        patternBytes(8 * 1024 * 1024).toString('latin1'),
      ),
    );
    assert.equal(response.status, 501);
    assert.equal(await exists('big'), false);
    assert.equal((await send(get('obj'))).status, 200);
  });
});

// docs/api/s3.md lists every row (fastify's test that an error code is documented).
test('docs/api/s3.md lists every request header of the table', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs/api/s3.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Request headers'));
  assert.ok(
    section.length > 0 && doc.includes('## Request headers'),
    'no "Request headers" section',
  );
  const missing = Object.keys(REQUEST_HEADERS).filter((name) => !section.includes(`\`${name}\``));
  assert.deepEqual(missing, [], 'headers missing from docs/api/s3.md');
});

// Response headers the gateway writes; every other x-amz-* name in src/s3 and src/auth is one a
// handler reads, and must be a row of the table.
const RESPONSE_HEADERS = new Set([
  'x-amz-request-id',
  'x-amz-id-2',
  'x-amz-error-code',
  'x-amz-bucket-region',
  'x-amz-mp-parts-count',
  'x-amz-tagging-count',
  'x-amz-version-id',
  'x-amz-delete-marker',
  'x-amz-copy-source-version-id',
  'x-amz-expiration', // lifecycle: when the current version expires, and by which rule
  'x-amz-replication-status', // bucket replication: PENDING, COMPLETED or FAILED on a source
  'x-amz-restore', // RestoreObject: ongoing-request, and expiry-date once complete
  'x-amz-trailer-signature', // a trailer line of aws-chunked bodies, not a header
  // Form fields of POST Object (browser uploads) that authenticate the form, not headers:
  // src/auth/post-signature.ts.
  'x-amz-algorithm',
  'x-amz-credential',
  'x-amz-signature',
]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name));
}

test('every x-amz-* header name in src/s3 and src/auth is a row of the table', () => {
  const table = new Set(Object.keys(REQUEST_HEADERS));
  const missing = new Set<string>();
  for (const file of [
    ...sourceFiles(join(REPO_ROOT, 'src/s3')),
    ...sourceFiles(join(REPO_ROOT, 'src/auth')),
  ]) {
    if (file.endsWith('request-headers.ts')) continue;
    for (const match of readFileSync(file, 'utf8').matchAll(/'(x-amz-[a-z0-9-]+)'/g)) {
      const name = match[1] === 'x-amz-meta-' ? 'x-amz-meta-*' : match[1];
      if (!table.has(name) && !RESPONSE_HEADERS.has(name)) missing.add(`${name} (${file})`);
    }
  }
  assert.deepEqual([...missing], []);
});
