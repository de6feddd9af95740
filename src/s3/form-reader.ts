// The multipart/form-data body of a browser form upload, parsed as it streams by busboy: the
// fields before the file are collected (small and bounded), the file part is handed over as a
// stream to be written through, never buffered. As on AWS, fields after the file are ignored.
import assert from 'node:assert';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Readable, Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import busboy from 'busboy';
import { S3Error } from './errors.ts';

// AWS refuses form fields before the file beyond 20 KiB in all; each field here is bounded by the
// same figure, and their number too, so a form costs the gateway little memory before its file.
export const FORM_FIELD_BYTES_MAX = 20 * 1024;
export const FORM_FIELDS_MAX = 64;
const FIELD_NAME_BYTES_MAX = 256;

export interface UploadForm {
  fields: Map<string, string>; // names in lower case (AWS matches them case-insensitively)
  file: Readable;
  filename: string;
  // Settles once the whole body has been read (the file consumed and the closing boundary seen).
  done: Promise<void>;
}

const tooLarge = () =>
  new S3Error(
    'MaxPostPreDataLengthExceeded',
    400,
    'Your POST request fields preceeding the upload file were too large.',
  );
const malformed = () =>
  new S3Error(
    'MalformedPOSTRequest',
    400,
    'The body of your POST request is not well-formed multipart/form-data.',
  );

// Resolves when the file part begins. body: the request body (idle-limited by the caller).
export function readUploadForm(
  req: IncomingMessage,
  body: AsyncIterable<Buffer>,
): Promise<UploadForm> {
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: req.headers,
      defParamCharset: 'utf8', // browsers send a file name's UTF-8 bytes as they are
      limits: {
        fieldSize: FORM_FIELD_BYTES_MAX,
        fieldNameSize: FIELD_NAME_BYTES_MAX,
        fields: FORM_FIELDS_MAX,
        files: 1,
        parts: FORM_FIELDS_MAX + 1,
      },
    });
  } catch {
    throw malformed(); // no boundary, or not multipart at all
  }
  const fields = new Map<string, string>();
  let settled = false;
  return new Promise<UploadForm>((resolve, reject) => {
    const fail = (error: S3Error) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    parser.on('field', (name, value, info) => {
      if (settled) return; // after the file: ignored, as AWS does
      if (info.nameTruncated || info.valueTruncated) return fail(tooLarge());
      const lower = name.toLowerCase();
      if (fields.has(lower))
        return fail(
          new S3Error('InvalidArgument', 400, `Field '${lower}' appears more than once.`),
        );
      fields.set(lower, value);
    });
    parser.on('file', (name, file, info) => {
      // A form cut off inside the file fails its stream too: whoever reads the file sees that
      // error, and the same failure settles `done`, so the stream's own event is not needed here
      // (and must not go unhandled once the handler has stopped reading).
      file.on('error', () => undefined);
      if (settled) return void file.resume();
      if (name.toLowerCase() !== 'file') {
        file.resume();
        return fail(new S3Error('InvalidArgument', 400, `The file part must be named 'file'.`));
      }
      settled = true;
      assert(fields.size <= FORM_FIELDS_MAX, 'busboy bounds the number of fields');
      resolve({ fields, file, filename: info.filename ?? '', done });
    });
    parser.on('fieldsLimit', () => fail(tooLarge()));
    parser.on('partsLimit', () => fail(tooLarge()));
    const done = feed(body, parser);
    endOnHangUp(req, done);
    done.then(
      () =>
        fail(
          new S3Error('InvalidArgument', 400, 'POST requires exactly one file upload per request.'),
        ),
      (error: unknown) => fail(error instanceof S3Error ? error : malformed()),
    );
  });
}

// A client may hang up once it has its answer (curl stops sending on an early error). Node does
// not tell a request it has already answered, so the rest of the body would be awaited until the
// idle timeout (keeping a stopping server alive): the request is ended when its socket closes.
function endOnHangUp(req: IncomingMessage, done: Promise<void>): void {
  const socket = req.socket;
  const hungUp = () => {
    if (!req.complete) req.destroy();
  };
  socket.once('close', hungUp);
  done.finally(() => socket.off('close', hungUp)).catch(() => undefined);
}

// Writes the body into the parser with back-pressure. Once the parser fails, the rest of the body
// is read and dropped rather than cut off, so the client gets the answer instead of a reset (a
// large one is cut off anyway: the gateway closes the connection after answering).
async function feed(body: AsyncIterable<Buffer>, parser: Writable): Promise<void> {
  let failure: unknown;
  parser.on('error', (error) => {
    failure ??= error;
  });
  try {
    for await (const chunk of body) {
      if (failure !== undefined) continue;
      if (!parser.write(chunk)) await once(parser, 'drain').catch(() => undefined);
    }
  } catch (error) {
    // The body failed (a stall, a dropped connection): so does the file being written.
    parser.destroy(error as Error);
    throw error;
  }
  if (failure === undefined) {
    parser.end();
    await finished(parser).catch((error: unknown) => {
      failure ??= error;
    });
  }
  if (failure !== undefined) throw failure;
}
