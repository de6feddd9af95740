// A backend's half of a browser form upload: the signed policy and the fields that go with it
// (AWS, "Browser-based uploads using POST (AWS Signature Version 4)"), computed independently of
// Strata's own code so that a test checks the gateway against the published algorithm.
import { createHmac } from 'node:crypto';
import type { StrataProcess } from './server.ts';

const hmac = (key: Buffer | string, data: string) =>
  createHmac('sha256', key).update(data, 'utf8').digest();

export interface PolicyOptions {
  conditions: unknown[]; // besides the credential, algorithm and date, which are added
  expiresAtMs?: number; // default: an hour from now
  nowMs?: number;
  accessKey?: string; // default: the server's
  secretKey?: string; // default: the server's
  region?: string;
  rawPolicy?: string; // signed instead of the document built from the conditions (malformed ones)
}

// The form fields that authenticate an upload: policy, x-amz-* and the signature.
export function signedPostFields(
  server: Pick<StrataProcess, 'accessKey' | 'secretKey'>,
  options: PolicyOptions,
): Record<string, string> {
  const nowMs = options.nowMs ?? Date.now();
  const amzDate = new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const date = amzDate.slice(0, 8);
  const region = options.region ?? 'us-east-1';
  const credential = `${options.accessKey ?? server.accessKey}/${date}/${region}/s3/aws4_request`;
  const document = {
    expiration: new Date(options.expiresAtMs ?? nowMs + 3_600_000).toISOString(),
    conditions: [
      ...options.conditions,
      { 'x-amz-algorithm': 'AWS4-HMAC-SHA256' },
      { 'x-amz-credential': credential },
      { 'x-amz-date': amzDate },
    ],
  };
  const policy = Buffer.from(options.rawPolicy ?? JSON.stringify(document)).toString('base64');
  const secret = options.secretKey ?? server.secretKey;
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), 's3'), 'aws4_request');
  return {
    policy,
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': credential,
    'x-amz-date': amzDate,
    'x-amz-signature': createHmac('sha256', key).update(policy).digest('hex'),
  };
}
