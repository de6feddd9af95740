// Reads the parts of an incoming request that SigV4 signs, exactly as they came off the wire.
import type { IncomingMessage } from 'node:http';
import { canonicalUri, parseQuery, type QueryParam } from './sigv4.ts';
import { S3AuthError } from './types.ts';

export interface RequestTarget {
  canonicalUri: string;
  query: QueryParam[];
}

const maxQueryParams = 1000;

// The WHATWG URL the gateway hands us has resolved dot segments and re-encoded characters, and
// the client signed neither, so the raw request-target is preferred whenever it is origin-form.
export function requestTarget(request: IncomingMessage, url: URL): RequestTarget {
  const raw = request.url ?? '';
  let path: string;
  let rawQuery: string;
  if (raw.startsWith('/')) {
    const q = raw.indexOf('?');
    path = q < 0 ? raw : raw.slice(0, q);
    rawQuery = q < 0 ? '' : raw.slice(q + 1);
  } else {
    path = url.pathname;
    rawQuery = url.search.startsWith('?') ? url.search.slice(1) : url.search;
  }
  const uri = canonicalUri(path);
  const query = parseQuery(rawQuery);
  if (uri === undefined || query === undefined) {
    throw new S3AuthError('InvalidURI', 400, "Couldn't parse the specified URI.");
  }
  if (query.length > maxQueryParams) {
    throw new S3AuthError('InvalidURI', 400, `More than ${maxQueryParams} query parameters.`);
  }
  return { canonicalUri: uri, query };
}

export function queryValue(query: readonly QueryParam[], name: string): string | undefined {
  return query.find((p) => p.name === name)?.value;
}

// A header as one string; Node joins most repeated headers with ', ' already.
export function headerValue(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}
