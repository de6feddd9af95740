// SigV4 for browser form uploads (S3 POST Object, "Authenticating Requests in Browser-Based
// Uploads Using POST"): the string to sign is the base64 policy field itself, signed with the
// derived signing key of the x-amz-credential scope. The policy, not the request, says what may
// be uploaded; src/s3/post-policy.ts checks the form against it.
import assert from 'node:assert';
import { checkScope, parseCredential } from './credential-scope.ts';
import { algorithmName, parseAmzDate, signatureHex, signaturesEqual, signingKey } from './sigv4.ts';
import type { Credential } from './types.ts';
import { type AuthOptions, S3AuthError } from './types.ts';
import { findCredential } from './verify.ts';

// The form's fields, names in lower case (AWS matches form field names case-insensitively).
export type FormFields = ReadonlyMap<string, string>;

const invalidArgument = (message: string) => new S3AuthError('InvalidArgument', 400, message);

// The credential that signed the form, or undefined when it carries no signature at all (an
// anonymous upload, which the bucket's ACL or policy must then allow).
export function verifyPostSignature(
  fields: FormFields,
  options: AuthOptions,
): Credential | undefined {
  if (fields.has('awsaccesskeyid') || fields.has('signature')) {
    throw new S3AuthError(
      'InvalidRequest',
      400,
      'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.',
    );
  }
  const signed = ['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-signature'];
  if (!signed.some((name) => fields.has(name)) && !fields.has('policy')) {
    if (!options.allowAnonymous) throw new S3AuthError('AccessDenied', 403, 'Access Denied');
    return undefined;
  }
  for (const name of [...signed, 'policy'])
    if (!fields.has(name))
      throw invalidArgument(`Bucket POST must contain a field named '${name}'.`);
  const get = (name: string) => fields.get(name) as string;
  if (get('x-amz-algorithm') !== algorithmName)
    throw invalidArgument(`x-amz-algorithm only supports "${algorithmName}"`);
  const amzDate = get('x-amz-date');
  if (parseAmzDate(amzDate) === undefined)
    throw invalidArgument(`x-amz-date '${amzDate}' is malformed.`);
  const scope = parseCredential(get('x-amz-credential'), 'InvalidArgument');
  checkScope(scope, amzDate, options.region, 'InvalidArgument');
  const credential = findCredential(options, scope.accessKey);
  const key = signingKey(credential.secretKey, scope.date, scope.region, scope.service);
  const expected = signatureHex(key, get('policy'));
  assert.equal(expected.length, 64, 'a SigV4 signature is 32 bytes of hex');
  if (!signaturesEqual(expected, get('x-amz-signature').toLowerCase())) {
    throw new S3AuthError(
      'SignatureDoesNotMatch',
      403,
      'The request signature we calculated does not match the signature you provided. ' +
        'Check your key and signing method.',
    );
  }
  return credential;
}
