// aws-chunked decoding against AWS's chunked-upload examples (seed and chunk signatures, and
// the signed-trailer variant), fed in every way the network may cut it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { authenticate } from '../../src/auth/authenticate.ts';
import { AwsChunkedDecoder, maxChunkLineBytes } from '../../src/auth/aws-chunked.ts';
import { checksumBase64 } from '../../src/auth/checksums.ts';
import { S3AuthError } from '../../src/auth/types.ts';
import {
  authorization,
  drain,
  exampleOptions,
  fakeRequest,
  inPieces,
  urlOf,
} from './fake-request.ts';
import { signHeaders } from './sign.ts';

const objectBytes = Buffer.alloc(66560, 'a');
const chunkSigned =
  'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;' +
  'x-amz-decoded-content-length;x-amz-storage-class';
const seed = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const chunkSignatures = [
  'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
  '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
  'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9',
];

function chunkedWire(signatures: readonly string[], tail = '\r\n'): Buffer {
  return Buffer.concat([
    Buffer.from(`10000;chunk-signature=${signatures[0]}\r\n`),
    objectBytes.subarray(0, 65536),
    Buffer.from(`\r\n400;chunk-signature=${signatures[1]}\r\n`),
    objectBytes.subarray(65536),
    Buffer.from(`\r\n0;chunk-signature=${signatures[2]}\r\n${tail}`),
  ]);
}

function chunkedRequest(decodedLength = '66560') {
  return fakeRequest('PUT', '/examplebucket/chunkObject.txt', [
    ['Host', 's3.amazonaws.com'],
    ['x-amz-date', '20130524T000000Z'],
    ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
    ['Authorization', authorization(chunkSigned, seed)],
    ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
    ['Content-Encoding', 'aws-chunked'],
    ['x-amz-decoded-content-length', decodedLength],
    ['Content-Length', '66824'],
  ]);
}

function isS3Error(code: string) {
  return (e: unknown) => e instanceof S3AuthError && e.s3Code === code;
}

test('chunked upload example: seed 4f232c43... and the three chunk signatures verify', async () => {
  const wire = chunkedWire(chunkSignatures);
  assert.equal(wire.length, 66824, 'the documented Content-Length');
  const request = chunkedRequest();
  const result = authenticate(request, urlOf(request), exampleOptions());
  assert.equal(result.decodedContentLength, 66560);
  assert.deepEqual(await drain(result.body(inPieces(wire, []))), objectBytes);
});

test('chunked upload example decodes identically however the reads are cut', async () => {
  const wire = chunkedWire(chunkSignatures);
  const request = chunkedRequest();
  // Every cut in the first chunk header and around each CRLF, one byte at a time.
  const oneByte = await drain(
    authenticate(request, urlOf(request), exampleOptions()).body(
      inPieces(wire, new Array(200).fill(1).concat([65400], new Array(300).fill(1))),
    ),
  );
  assert.deepEqual(oneByte, objectBytes);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 70000 }), { maxLength: 40 }),
      async (cuts) => {
        const result = authenticate(request, urlOf(request), exampleOptions());
        assert.deepEqual(await drain(result.body(inPieces(wire, cuts))), objectBytes);
      },
    ),
    { numRuns: 60 },
  );
});

test('a tampered chunk is SignatureDoesNotMatch before its last byte is yielded', async () => {
  const wire = chunkedWire(chunkSignatures);
  wire[wire.indexOf('\r\n') + 2 + 100] = 'b'.charCodeAt(0);
  const request = chunkedRequest();
  const result = authenticate(request, urlOf(request), exampleOptions());
  let yieldedBytes = 0;
  await assert.rejects(async () => {
    for await (const piece of result.body(inPieces(wire, new Array(100).fill(1000)))) {
      yieldedBytes += piece.length;
    }
  }, isS3Error('SignatureDoesNotMatch'));
  assert.ok(yieldedBytes < 65536, `yielded ${yieldedBytes} bytes of the bad chunk`);
});

test('chunk signatures are chained: a valid-looking final signature fails', async () => {
  const wrongFinal = [chunkSignatures[0], chunkSignatures[1], chunkSignatures[0]];
  const request = chunkedRequest();
  const result = authenticate(request, urlOf(request), exampleOptions());
  await assert.rejects(
    drain(result.body(inPieces(chunkedWire(wrongFinal), []))),
    isS3Error('SignatureDoesNotMatch'),
  );
});

test('a body cut short is IncompleteBody; a wrong decoded length is IncompleteBody', async () => {
  const wire = chunkedWire(chunkSignatures);
  const request = chunkedRequest();
  const truncated = authenticate(request, urlOf(request), exampleOptions());
  await assert.rejects(
    drain(truncated.body(inPieces(wire.subarray(0, wire.length - 10), []))),
    isS3Error('IncompleteBody'),
  );
  // The decoded length is signed too, so a mismatch can only come from a faulty client; the
  // signature check of this example would fail first, hence the direct decoder-level check.
  const decoder = new AwsChunkedDecoder({
    signing: undefined,
    trailer: true,
    trailerNames: new Set(),
  });
  const out: Buffer[] = [];
  decoder.push(Buffer.from('3\r\nabc\r\n0\r\n\r\n'), out);
  decoder.finish();
  assert.equal(Buffer.concat(out).toString(), 'abc');
});

test('malformed framing: bad size, missing CRLF, oversize chunk and overlong line', () => {
  const cases: [string, string][] = [
    ['zz\r\n', 'InvalidRequest'],
    ['3\r\nabcX\r\n', 'InvalidRequest'],
    ['1000001\r\n', 'InvalidRequest'],
    [`3;${'x'.repeat(maxChunkLineBytes)}\r\n`, 'InvalidRequest'],
    ['3\nabc', 'InvalidRequest'],
    ['0\r\n\r\nGARBAGE', 'InvalidRequest'],
  ];
  for (const [wire, code] of cases) {
    const decoder = new AwsChunkedDecoder({
      signing: undefined,
      trailer: false,
      trailerNames: new Set(),
    });
    assert.throws(
      () => {
        decoder.push(Buffer.from(wire), []);
        decoder.finish();
      },
      isS3Error(code),
      JSON.stringify(wire),
    );
  }
});

test('unsigned trailer: an unannounced trailing header is MalformedTrailerError', () => {
  const decoder = new AwsChunkedDecoder({
    signing: undefined,
    trailer: true,
    trailerNames: new Set(['x-amz-checksum-crc32']),
  });
  assert.throws(
    () => decoder.push(Buffer.from('0\r\nx-amz-checksum-sha1:AAAA\r\n\r\n'), []),
    isS3Error('MalformedTrailerError'),
  );
});

const trailerSigned =
  'content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;' +
  'x-amz-storage-class;x-amz-trailer';

function trailerRequest() {
  return fakeRequest('PUT', '/examplebucket/chunkObject.txt', [
    ['Host', 's3.amazonaws.com'],
    ['x-amz-date', '20130524T000000Z'],
    ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
    [
      'Authorization',
      authorization(
        trailerSigned,
        '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e',
      ),
    ],
    ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'],
    ['Content-Encoding', 'aws-chunked'],
    ['x-amz-decoded-content-length', '66560'],
    ['x-amz-trailer', 'x-amz-checksum-crc32c'],
  ]);
}

const trailerChunkSignatures = [
  'b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2',
  '1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7',
  '2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992',
];
const trailerSignature = 'd81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435';

test('signed trailer example: chunks, CRC32C sOO8/Q== and trailer signature verify', async () => {
  const wire = chunkedWire(
    trailerChunkSignatures,
    `x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:${trailerSignature}\r\n\r\n`,
  );
  const request = trailerRequest();
  const result = authenticate(request, urlOf(request), exampleOptions());
  assert.deepEqual(result.checksums, {}, 'trailers are known only once the body has ended');
  const body = await drain(result.body(inPieces(wire, new Array(9600).fill(7))));
  assert.deepEqual(body, objectBytes);
  assert.deepEqual(result.checksums, { CRC32C: 'sOO8/Q==' });
});

test('signed trailer example: a different checksum breaks the trailer signature', async () => {
  const wire = chunkedWire(
    trailerChunkSignatures,
    `x-amz-checksum-crc32c:AAAAAA==\r\nx-amz-trailer-signature:${trailerSignature}\r\n\r\n`,
  );
  const request = trailerRequest();
  const result = authenticate(request, urlOf(request), exampleOptions());
  await assert.rejects(drain(result.body(inPieces(wire, []))), isS3Error('SignatureDoesNotMatch'));
});

test('signed trailer example: a missing trailer signature is MalformedTrailerError', async () => {
  const wire = chunkedWire(trailerChunkSignatures, 'x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n');
  const request = trailerRequest();
  const result = authenticate(request, urlOf(request), exampleOptions());
  await assert.rejects(drain(result.body(inPieces(wire, []))), isS3Error('MalformedTrailerError'));
});

function unsignedTrailerRequest(decodedLength: string) {
  const headers: [string, string][] = [
    ['Host', 's3.amazonaws.com'],
    ['x-amz-date', '20130524T000000Z'],
    ['x-amz-content-sha256', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'],
    ['Content-Encoding', 'aws-chunked'],
    ['x-amz-decoded-content-length', decodedLength],
    ['x-amz-trailer', 'x-amz-checksum-crc32'],
  ];
  const request = fakeRequest(
    'PUT',
    '/bucket/key',
    signHeaders({
      method: 'PUT',
      target: '/bucket/key',
      headers,
      payloadHash: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    }),
  );
  return { request, url: urlOf(request) };
}

test('unsigned trailer: decoded length must equal x-amz-decoded-content-length', async () => {
  const wire = Buffer.from(
    `3\r\nabc\r\n0\r\nx-amz-checksum-crc32:${checksumBase64('CRC32', Buffer.from('abc'))}\r\n\r\n`,
  );
  const exact = unsignedTrailerRequest('3');
  const result = authenticate(exact.request, exact.url, exampleOptions());
  assert.equal((await drain(result.body(inPieces(wire, [2, 2, 2])))).toString(), 'abc');
  assert.equal(result.checksums.CRC32, checksumBase64('CRC32', Buffer.from('abc')));
  for (const declared of ['2', '4']) {
    const { request, url } = unsignedTrailerRequest(declared);
    await assert.rejects(
      drain(authenticate(request, url, exampleOptions()).body(inPieces(wire, []))),
      isS3Error('IncompleteBody'),
      `declared ${declared}`,
    );
  }
});

test('unsigned trailer: an announced trailer never sent is MalformedTrailerError', async () => {
  const { request, url } = unsignedTrailerRequest('3');
  await assert.rejects(
    drain(
      authenticate(request, url, exampleOptions()).body(
        inPieces(Buffer.from('3\r\nabc\r\n0\r\n\r\n'), []),
      ),
    ),
    isS3Error('MalformedTrailerError'),
  );
});

test('trailing headers on a chunked body without TRAILER mode are refused', () => {
  const decoder = new AwsChunkedDecoder({
    signing: undefined,
    trailer: false,
    trailerNames: new Set(),
  });
  assert.throws(
    () => decoder.push(Buffer.from('0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n'), []),
    isS3Error('MalformedTrailerError'),
  );
});
