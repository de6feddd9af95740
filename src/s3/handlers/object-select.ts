// SelectObjectContent (POST /bucket/key?select&select-type=2): an SQL expression run over the
// object as it is read (src/s3/select/), answered as an event stream. The response starts with
// the first message, so a query that fails before any (a CAST that fails on the first record, a
// parse error) is still a plain S3 error with its status; after that, the error is the stream's
// last message, as AWS sends it.
import type { ByteRange } from '../../client/types.ts';
import { s3Bytes } from '../../observability/metrics.ts';
import { type RequestContext, readSmallBody, responseDrained } from '../context.ts';
import { S3Error, toS3Error } from '../errors.ts';
import { SelectError } from '../select/errors.ts';
import { errorMessage } from '../select/event-stream.ts';
import { csvHeader, RECORD_BYTES_MAX } from '../select/input.ts';
import { parseQuery } from '../select/parser.ts';
import type { CsvHeader } from '../select/records.ts';
import { parseSelectRequest, type SelectRequest } from '../select/request.ts';
import { selectMessages } from '../select/run.ts';
import {
  type ResolvedScanRange,
  resolveScanRange,
  scanRangeBytes,
  scanReadOffset,
} from '../select/scan-range.ts';
import { requestedVersion } from './object-get.ts';

const EVENT_STREAM_CONTENT_TYPE = 'application/vnd.amazon.eventstream';

async function* noBytes(): AsyncGenerator<Buffer> {}

export async function selectObjectContent(ctx: RequestContext, bucket: string, key: string) {
  const request = parseSelectRequest(await readSmallBody(ctx));
  const query = parseQuery(request.expression);
  checkScanRangeInput(request);
  const version = await requestedVersion(ctx, bucket, key);
  // Select does not take the SSE-C key headers yet: refused before anything is read.
  if (version.inode.object?.sseCustomer !== undefined) {
    throw new S3Error(
      'NotImplemented',
      501,
      'SelectObjectContent of an object encrypted with a customer-provided key (SSE-C) is not ' +
        'implemented by Strata yet.',
    );
  }
  const sizeBytes = version.inode.size;
  const readVersion = version.versioned ? version.versionId : undefined;
  const read = async (range: ByteRange): Promise<AsyncIterable<Buffer>> => {
    if (range.length === 0) return noBytes();
    return (await ctx.client.getObject(bucket, key, range, readVersion)).body;
  };
  const scan =
    request.scanRange === undefined ? undefined : resolveScanRange(request.scanRange, sizeBytes);
  let body: AsyncIterable<Buffer>;
  let header: CsvHeader | undefined;
  if (scan === undefined) {
    body =
      request.scanRange === undefined ? await read({ offset: 0, length: sizeBytes }) : noBytes();
  } else {
    const delimiter = Buffer.from(recordDelimiter(request), 'utf8');
    const offset = scanReadOffset(scan, delimiter);
    body = scanRangeBytes(await read({ offset, length: sizeBytes - offset }), scan, delimiter);
    header = await headerBefore(request, scan, read, sizeBytes);
  }
  const messages = selectMessages(request, query, {
    body,
    header,
    startsAtObjectStart: scan === undefined || scan.start === 0,
    nowMs: Date.now(),
  });
  await sendMessages(ctx, messages);
}

// A scan range needs records it can find by their delimiter alone (as AWS requires).
function checkScanRangeInput(request: SelectRequest): void {
  if (request.scanRange === undefined) return;
  const refuse = (why: string) => {
    throw new SelectError('InvalidRequestParameter', `ScanRange is not supported ${why}.`);
  };
  if (request.compression !== 'NONE') refuse('for compressed objects');
  if (request.input.kind === 'JSON' && request.input.type === 'DOCUMENT')
    refuse('for JSON DOCUMENT input (use LINES)');
  if (request.input.kind === 'CSV' && request.input.csv.allowQuotedRecordDelimiter)
    refuse('with AllowQuotedRecordDelimiter');
}

function recordDelimiter(request: SelectRequest): string {
  return request.input.kind === 'CSV' ? request.input.csv.recordDelimiter : '\n';
}

// FileHeaderInfo USE with a range that starts past the header: the header is read from the
// object's start (one record, at most RECORD_BYTES_MAX).
async function headerBefore(
  request: SelectRequest,
  scan: ResolvedScanRange,
  read: (range: ByteRange) => Promise<AsyncIterable<Buffer>>,
  sizeBytes: number,
): Promise<CsvHeader | undefined> {
  if (request.input.kind !== 'CSV' || scan.start === 0) return undefined;
  if (request.input.csv.fileHeaderInfo !== 'USE') return undefined;
  const length = Math.min(sizeBytes, RECORD_BYTES_MAX + 2);
  return csvHeader(await read({ offset: 0, length }), request.input.csv);
}

async function sendMessages(ctx: RequestContext, messages: AsyncGenerator<Buffer>) {
  let started = false;
  try {
    for await (const message of messages) {
      if (!started) {
        ctx.res.writeHead(200, { 'content-type': EVENT_STREAM_CONTENT_TYPE });
        started = true;
      }
      s3Bytes.inc({ direction: 'out' }, message.length);
      if (!ctx.res.write(message)) await responseDrained(ctx);
    }
    ctx.res.end();
  } catch (error) {
    if (!started) throw error; // the gateway answers it as an S3 error
    const clientGone = ctx.res.socket === null || ctx.res.socket.destroyed;
    if (clientGone) {
      ctx.log.debug('client closed the connection mid-select', { requestId: ctx.requestId });
      ctx.res.destroy();
      return;
    }
    const s3 = toS3Error(error);
    if (s3.httpStatus >= 500)
      ctx.log.warn('select failed mid-stream', { requestId: ctx.requestId, error });
    ctx.res.end(errorMessage(s3.s3Code, s3.message));
  } finally {
    await messages.return(undefined);
  }
}
