// The credential scope "AKID/YYYYMMDD/region/s3/aws4_request", shared by the Authorization
// header and presigned URLs; only the error code used to report problems differs.
import { S3AuthError } from './types.ts';

export interface CredentialScope {
  accessKey: string;
  date: string; // YYYYMMDD
  region: string;
  service: string;
}

const maxCredentialLength = 512;

export function parseCredential(value: string, errorCode: string): CredentialScope {
  const parts = value.split('/');
  if (value.length > maxCredentialLength || parts.length !== 5 || parts[0] === '') {
    throw new S3AuthError(
      errorCode,
      400,
      'The Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
    );
  }
  const [accessKey, date, region, service, terminal] = parts;
  if (terminal !== 'aws4_request') {
    throw new S3AuthError(
      errorCode,
      400,
      `Incorrect terminal '${terminal}'. This endpoint uses 'aws4_request'.`,
    );
  }
  if (!/^\d{8}$/.test(date)) {
    throw new S3AuthError(errorCode, 400, `Invalid credential date '${date}'.`);
  }
  return { accessKey, date, region, service };
}

// AWS answers a wrong region with the expected one, so clients can retry in the right place.
export function checkScope(
  scope: CredentialScope,
  amzDate: string,
  region: string,
  errorCode: string,
): void {
  if (scope.region !== region) {
    throw new S3AuthError(
      errorCode,
      400,
      `The region '${scope.region}' is wrong; expecting '${region}'.`,
    );
  }
  if (scope.service !== 's3') {
    throw new S3AuthError(
      errorCode,
      400,
      `Incorrect service '${scope.service}'. This endpoint belongs to 's3'.`,
    );
  }
  if (scope.date !== amzDate.slice(0, 8)) {
    throw new S3AuthError(
      errorCode,
      400,
      'Invalid credential date. Date is not the same as X-Amz-Date.',
    );
  }
}
