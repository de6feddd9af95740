// A request body that stops arriving. Node's requestTimeout would bound a whole request (and a
// large upload takes as long as it takes), so the gateway turns it off and times out the body
// instead: when no bytes come for the idle limit while a handler waits for them, the request
// fails with S3's RequestTimeout (400) and the connection is closed after the answer.
import assert from 'node:assert';
import type { IncomingMessage } from 'node:http';
import { S3Error } from './errors.ts';

// AWS closes a silent upload after about 20 s.
export const BODY_IDLE_TIMEOUT_MS_DEFAULT = 20_000;

export function requestTimeout(): S3Error {
  return new S3Error(
    'RequestTimeout',
    400,
    'Your socket connection to the server was not read from or written to within the timeout ' +
      'period. Idle connections will be closed.',
  );
}

// The time counts only while the handler waits for a chunk: a handler that is busy (a slow
// commit, back-pressure from the data servers) does not make its client idle.
function nextWithin<T>(chunks: AsyncIterator<T>, idleMs: number): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(requestTimeout()), idleMs);
    chunks.next().then(
      (step) => {
        clearTimeout(timer);
        resolve(step);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

export async function* idleLimitedBody(
  req: IncomingMessage,
  idleMs: number,
): AsyncGenerator<Buffer> {
  assert(Number.isSafeInteger(idleMs) && idleMs > 0, `body idle timeout ${idleMs} ms`);
  const chunks: AsyncIterator<Buffer> = req[Symbol.asyncIterator]();
  let timedOut = false;
  try {
    for (;;) {
      const step = await nextWithin(chunks, idleMs).catch((error: unknown) => {
        timedOut = error instanceof S3Error && error.s3Code === 'RequestTimeout';
        throw error;
      });
      if (step.done) return;
      yield step.value;
    }
  } finally {
    // Ending the iteration early destroys the request, as a plain for-await would; after a
    // timeout it must stay open, so that the RequestTimeout answer still reaches the client.
    if (!timedOut) await chunks.return?.();
  }
}
