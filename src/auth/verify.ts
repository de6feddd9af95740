// Checks a SigV4 claim (from the Authorization header or a presigned URL) against the request.
import assert from 'node:assert';
import type { IncomingMessage } from 'node:http';
import type { CredentialScope } from './credential-scope.ts';
import type { RequestTarget } from './request-target.ts';
import {
  canonicalHeaders,
  canonicalQuery,
  canonicalRequest,
  credentialScope,
  signatureHex,
  signaturesEqual,
  signingKey,
  stringToSign,
} from './sigv4.ts';
import { type AuthOptions, type Credential, S3AuthError } from './types.ts';

export interface SignatureClaim {
  scope: CredentialScope;
  amzDate: string; // ISO 8601 basic timestamp that the client signed
  signedHeaders: string[];
  signatureHex: string;
}

// What later stages need to check chunk and trailer signatures chained from this request.
export interface ChunkSigning {
  key: Buffer;
  amzDate: string;
  scope: string;
  seedSignatureHex: string;
}

export interface VerifiedRequest {
  credential: Credential;
  signing: ChunkSigning;
}

const maxSignedHeaders = 64;
const headerNamePattern = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

// Parses "host;range;x-amz-date": lower-case header names, no duplicates, host among them.
export function parseSignedHeaders(value: string, errorCode: string): string[] {
  const names = value.split(';');
  const valid =
    names.length <= maxSignedHeaders &&
    names.every((name) => headerNamePattern.test(name)) &&
    new Set(names).size === names.length;
  if (!valid) throw new S3AuthError(errorCode, 400, `SignedHeaders '${value}' is malformed.`);
  if (!names.includes('host')) {
    throw new S3AuthError('AccessDenied', 403, 'SignedHeaders must include host.');
  }
  return names;
}

export function findCredential(options: AuthOptions, accessKey: string): Credential {
  const credential =
    options.resolver !== undefined
      ? options.resolver.find(accessKey)
      : options.credentials.find((c) => c.accessKey === accessKey);
  if (credential === undefined) {
    throw new S3AuthError(
      'InvalidAccessKeyId',
      403,
      'The AWS Access Key Id you provided does not exist in our records.',
    );
  }
  return credential;
}

export function verifyClaim(
  request: IncomingMessage,
  target: RequestTarget,
  claim: SignatureClaim,
  credential: Credential,
  payloadHash: string,
): ChunkSigning {
  assert(claim.signedHeaders.length > 0, 'signed headers were parsed');
  const canonical = canonicalRequest({
    method: request.method ?? 'GET',
    canonicalUri: target.canonicalUri,
    canonicalQuery: canonicalQuery(target.query, 'X-Amz-Signature'),
    canonicalHeaders: canonicalHeaders(request.rawHeaders, claim.signedHeaders),
    signedHeaders: claim.signedHeaders,
    payloadHash,
  });
  const { date, region, service } = claim.scope;
  const scope = credentialScope(date, region, service);
  const key = signingKey(credential.secretKey, date, region, service);
  const expected = signatureHex(key, stringToSign(claim.amzDate, scope, canonical));
  if (!signaturesEqual(expected, claim.signatureHex)) {
    throw new S3AuthError(
      'SignatureDoesNotMatch',
      403,
      'The request signature we calculated does not match the signature you provided. ' +
        'Check your key and signing method.',
    );
  }
  return { key, amzDate: claim.amzDate, scope, seedSignatureHex: expected };
}
