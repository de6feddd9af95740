// Contract between request authentication (src/auth/) and the S3 gateway (src/s3/).
import type { IncomingMessage } from 'node:http';
import type { BodyDigests } from '../common/body-digests.ts';

export interface Credential {
  accessKey: string;
  secretKey: string;
  user: string; // the principal's name, used as owner and in policies
  admin: boolean; // may do anything to any bucket (the generated credential, or admin = true)
}

// Looks keys up in the cluster's users (src/client/access-keys.ts); throws when it cannot say.
export interface CredentialResolver {
  find(accessKey: string): Credential | undefined;
  userNames(): ReadonlySet<string>;
  // A fresher copy, asked for when a key is unknown (a user created a moment ago): resolves at
  // once when the copy was refreshed very recently, so unknown keys cannot flood the metadata.
  refreshForUnknownKey(): Promise<void>;
  // A copy past its trust bound is refreshed now, and the request waits for it (bounded by the
  // refresh's timeout) rather than failing: a late timer (a busy event loop, a slow leader) is
  // not an outage. Resolves at once while the copy is fresh.
  refreshIfStale(): Promise<void>;
}

export interface AuthOptions {
  region: string;
  // A fixed list (tests, tools), unless `resolver` is given: then only the resolver answers.
  credentials: Credential[];
  resolver?: CredentialResolver;
  allowAnonymous: boolean;
  maxClockSkewMs: number; // 15 minutes, as AWS
  nowMs?: () => number; // injectable for tests of expiry and skew
}

// What authentication decided about a request, before its body is read.
export interface AuthResult {
  principal: { user: string; accessKey: string; admin: boolean } | undefined; // undefined = anonymous
  // Wraps the raw request body: strips aws-chunked framing when present, verifies chunk
  // signatures, the declared x-amz-content-sha256, x-amz-decoded-content-length and trailing
  // x-amz-checksum-* values. The returned iterable throws an S3AuthError at the point the body
  // proves bad (so a PUT fails before anything is committed). `digests`, when given, are the
  // body's MD5 and CRC32C, set before the iteration ends (src/common/body-digests.ts).
  body(raw: AsyncIterable<Buffer>, digests?: BodyDigests): AsyncIterable<Buffer>;
  // Length of the object bytes when known in advance (Content-Length, or
  // x-amz-decoded-content-length for aws-chunked); undefined when not known.
  decodedContentLength: number | undefined;
  // Checksums the client declared for the payload (header or trailer name -> base64 value),
  // verified by body(); e.g. { CRC32: 'AAAAAA==' }. Filled for trailers once the body has ended.
  checksums: Record<string, string>;
}

// S3 error code (e.g. 'SignatureDoesNotMatch') + HTTP status; the gateway renders the XML.
export class S3AuthError extends Error {
  readonly s3Code: string;
  readonly httpStatus: number;
  constructor(s3Code: string, httpStatus: number, message: string) {
    super(message);
    this.name = 'S3AuthError';
    this.s3Code = s3Code;
    this.httpStatus = httpStatus;
  }
}

// Signature: authenticate(request: IncomingMessage, url: URL, options: AuthOptions)
//   => AuthResult, or throws S3AuthError.
export type Authenticate = (request: IncomingMessage, url: URL, options: AuthOptions) => AuthResult;
