// Authenticates one S3 request (SigV4 Authorization header, presigned URL, or anonymous) and
// hands back a body reader that verifies the payload against what the headers promised.
import type { IncomingMessage } from 'node:http';
import { digestedBody } from '../common/body-digests.ts';
import { verifiedBody } from './body.ts';
import { verifyHeaderAuth } from './header-auth.ts';
import { planBody } from './payload-plan.ts';
import { verifyPresigned } from './presigned.ts';
import { headerValue, queryValue, type RequestTarget, requestTarget } from './request-target.ts';
import { type AuthOptions, type AuthResult, S3AuthError } from './types.ts';
import type { VerifiedRequest } from './verify.ts';

// Signature V2 ('AWS AKID:sig' or ?AWSAccessKeyId=&Signature=) is refused the way AWS refuses
// it in SigV4-only regions (eu-central-1 and every region opened since 2014): 400
// InvalidRequest naming the supported mechanism. MinIO still accepts V2; we do not, since V2
// signs neither the payload nor most headers.
function signatureV2Refusal(): S3AuthError {
  return new S3AuthError(
    'InvalidRequest',
    400,
    'The authorization mechanism you have provided is not supported. ' +
      'Please use AWS4-HMAC-SHA256.',
  );
}

type Mechanism = 'header' | 'presigned' | 'anonymous';

function mechanism(authorization: string | undefined, target: RequestTarget): Mechanism {
  const has = (name: string) => queryValue(target.query, name) !== undefined;
  const presigned = has('X-Amz-Algorithm') || has('X-Amz-Credential') || has('X-Amz-Signature');
  const presignedV2 = has('AWSAccessKeyId') && has('Signature');
  if (authorization !== undefined && (presigned || presignedV2)) {
    throw new S3AuthError(
      'InvalidArgument',
      400,
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature ' +
        'query string parameter or the Authorization header should be specified',
    );
  }
  if (authorization !== undefined) {
    if (authorization.startsWith('AWS ')) throw signatureV2Refusal();
    if (!authorization.startsWith('AWS4-HMAC-SHA256 ')) {
      throw new S3AuthError('InvalidArgument', 400, 'Unsupported Authorization Type');
    }
    return 'header';
  }
  if (presigned) return 'presigned';
  if (presignedV2) throw signatureV2Refusal();
  return 'anonymous';
}

export function authenticate(request: IncomingMessage, url: URL, options: AuthOptions): AuthResult {
  const target = requestTarget(request, url);
  const authorization = headerValue(request, 'authorization');
  const kind = mechanism(authorization, target);
  let verified: VerifiedRequest | undefined;
  if (kind === 'header' && authorization !== undefined) {
    verified = verifyHeaderAuth(request, target, authorization, options);
  } else if (kind === 'presigned') {
    verified = verifyPresigned(request, target, options);
  } else if (!options.allowAnonymous) {
    throw new S3AuthError('AccessDenied', 403, 'Access Denied');
  }
  const plan = planBody(request, target, kind === 'header' ? verified?.signing : undefined);
  const credential = verified?.credential;
  return {
    principal: credential && {
      user: credential.user,
      accessKey: credential.accessKey,
      admin: credential.admin,
    },
    body: (raw, digests) => verifiedBody(raw, plan, digests),
    decodedContentLength: plan.expectedLengthBytes,
    checksums: plan.checksums,
  };
}

// The result of a request that carries no credentials in its headers or query: a CORS preflight,
// or a POST form upload, whose credentials are fields of its body (the S3 handler checks them).
export function unauthenticated(): AuthResult {
  return {
    principal: undefined,
    body: (raw, digests) => (digests === undefined ? raw : digestedBody(raw, digests)),
    decodedContentLength: undefined,
    checksums: {},
  };
}
