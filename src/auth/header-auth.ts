// SigV4 through the Authorization header:
//   AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request,
//   SignedHeaders=host;range;x-amz-date, Signature=<64 hex>
import type { IncomingMessage } from 'node:http';
import { checkScope, parseCredential } from './credential-scope.ts';
import { headerValue, type RequestTarget } from './request-target.ts';
import { algorithmName, formatAmzDate, isSignatureHex, parseAmzDate } from './sigv4.ts';
import { type AuthOptions, S3AuthError } from './types.ts';
import {
  findCredential,
  parseSignedHeaders,
  type SignatureClaim,
  type VerifiedRequest,
  verifyClaim,
} from './verify.ts';

const malformed = 'AuthorizationHeaderMalformed';
const maxAuthorizationLength = 8192;

export function parseAuthorizationHeader(value: string): Omit<SignatureClaim, 'amzDate'> {
  if (value.length > maxAuthorizationLength || !value.startsWith(`${algorithmName} `)) {
    throw new S3AuthError(malformed, 400, 'The authorization header is malformed.');
  }
  const fields = new Map<string, string>();
  for (const part of value.slice(algorithmName.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw new S3AuthError(
      malformed,
      400,
      'The authorization header is malformed; the authorization header requires three ' +
        'components: Credential, SignedHeaders, and Signature.',
    );
  }
  if (!isSignatureHex(signature)) {
    throw new S3AuthError(malformed, 400, 'The authorization header Signature is malformed.');
  }
  return {
    scope: parseCredential(credential, malformed),
    signedHeaders: parseSignedHeaders(signedHeaders, malformed),
    signatureHex: signature,
  };
}

// X-Amz-Date wins over Date; the timestamp signed is the ISO 8601 basic form of either.
function requestTime(request: IncomingMessage): { amzDate: string; timeMs: number } {
  const amz = headerValue(request, 'x-amz-date');
  const timeMs = amz !== undefined ? parseAmzDate(amz) : dateHeaderMs(request);
  if (timeMs === undefined) {
    throw new S3AuthError(
      'AccessDenied',
      403,
      'AWS authentication requires a valid Date or x-amz-date header',
    );
  }
  return { amzDate: amz ?? formatAmzDate(timeMs), timeMs };
}

function dateHeaderMs(request: IncomingMessage): number | undefined {
  const date = headerValue(request, 'date');
  if (date === undefined) return undefined;
  const ms = Date.parse(date);
  return Number.isFinite(ms) ? ms : undefined;
}

// AWS requires every x-amz-* header to be signed, so that none can be added in flight (for
// example x-amz-copy-source or x-amz-acl).
function checkAmzHeadersSigned(request: IncomingMessage, signed: readonly string[]): void {
  for (const name of Object.keys(request.headers)) {
    if (name.startsWith('x-amz-') && !signed.includes(name)) {
      throw new S3AuthError(
        'AccessDenied',
        403,
        `There were headers present in the request which were not signed: ${name}`,
      );
    }
  }
}

export function verifyHeaderAuth(
  request: IncomingMessage,
  target: RequestTarget,
  authorization: string,
  options: AuthOptions,
): VerifiedRequest {
  const parsed = parseAuthorizationHeader(authorization);
  const { amzDate, timeMs } = requestTime(request);
  checkScope(parsed.scope, amzDate, options.region, malformed);
  const credential = findCredential(options, parsed.scope.accessKey);
  const nowMs = (options.nowMs ?? Date.now)();
  if (Math.abs(nowMs - timeMs) > options.maxClockSkewMs) {
    throw new S3AuthError(
      'RequestTimeTooSkewed',
      403,
      'The difference between the request time and the current time is too large.',
    );
  }
  checkAmzHeadersSigned(request, parsed.signedHeaders);
  const payloadHash = headerValue(request, 'x-amz-content-sha256');
  if (payloadHash === undefined) {
    throw new S3AuthError(
      'InvalidRequest',
      400,
      'Missing required header for this request: x-amz-content-sha256',
    );
  }
  const claim: SignatureClaim = { ...parsed, amzDate };
  const signing = verifyClaim(request, target, claim, credential, payloadHash);
  return { credential, signing };
}
