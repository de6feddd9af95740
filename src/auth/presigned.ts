// SigV4 query-string authentication (presigned URLs). The payload is never signed: the
// canonical request carries UNSIGNED-PAYLOAD, as AWS documents for presigned requests.
import type { IncomingMessage } from 'node:http';
import { checkScope, parseCredential } from './credential-scope.ts';
import { queryValue, type RequestTarget } from './request-target.ts';
import { algorithmName, isSignatureHex, parseAmzDate } from './sigv4.ts';
import { type AuthOptions, S3AuthError } from './types.ts';
import {
  findCredential,
  parseSignedHeaders,
  type SignatureClaim,
  type VerifiedRequest,
  verifyClaim,
} from './verify.ts';

export const maxPresignedExpiresSeconds = 604800; // one week, AWS's limit
const queryError = 'AuthorizationQueryParametersError';

export interface PresignedClaim extends SignatureClaim {
  timeMs: number;
  expiresSeconds: number;
}

export function parsePresigned(target: RequestTarget): PresignedClaim {
  const get = (name: string) => queryValue(target.query, name);
  const algorithm = get('X-Amz-Algorithm');
  const credential = get('X-Amz-Credential');
  const amzDate = get('X-Amz-Date');
  const expires = get('X-Amz-Expires');
  const signedHeaders = get('X-Amz-SignedHeaders');
  const signature = get('X-Amz-Signature');
  if (
    algorithm === undefined ||
    credential === undefined ||
    amzDate === undefined ||
    expires === undefined ||
    signedHeaders === undefined ||
    signature === undefined
  ) {
    throw new S3AuthError(
      queryError,
      400,
      'Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, ' +
        'X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.',
    );
  }
  if (algorithm !== algorithmName) {
    throw new S3AuthError(queryError, 400, `X-Amz-Algorithm only supports "${algorithmName}"`);
  }
  const timeMs = parseAmzDate(amzDate);
  if (timeMs === undefined) {
    throw new S3AuthError(queryError, 400, `X-Amz-Date '${amzDate}' is malformed.`);
  }
  if (!/^\d{1,7}$/.test(expires) || Number(expires) > maxPresignedExpiresSeconds) {
    throw new S3AuthError(
      queryError,
      400,
      `X-Amz-Expires must be an integer from 0 to ${maxPresignedExpiresSeconds} (one week).`,
    );
  }
  if (!isSignatureHex(signature)) {
    throw new S3AuthError(queryError, 400, 'X-Amz-Signature is malformed.');
  }
  return {
    scope: parseCredential(credential, queryError),
    amzDate,
    signedHeaders: parseSignedHeaders(signedHeaders, queryError),
    signatureHex: signature,
    timeMs,
    expiresSeconds: Number(expires),
  };
}

export function verifyPresigned(
  request: IncomingMessage,
  target: RequestTarget,
  options: AuthOptions,
): VerifiedRequest {
  const claim = parsePresigned(target);
  checkScope(claim.scope, claim.amzDate, options.region, queryError);
  const credential = findCredential(options, claim.scope.accessKey);
  const nowMs = (options.nowMs ?? Date.now)();
  // A URL from a client whose clock runs ahead is still honoured within the allowed skew.
  if (claim.timeMs - nowMs > options.maxClockSkewMs) {
    throw new S3AuthError('AccessDenied', 403, 'Request is not valid yet');
  }
  if (nowMs > claim.timeMs + claim.expiresSeconds * 1000) {
    throw new S3AuthError('AccessDenied', 403, 'Request has expired');
  }
  const signing = verifyClaim(request, target, claim, credential, 'UNSIGNED-PAYLOAD');
  return { credential, signing };
}
