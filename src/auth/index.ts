export { authenticate, unauthenticated } from './authenticate.ts';
export {
  AwsChunkedDecoder,
  maxChunkLineBytes,
  maxChunkSizeBytes,
  maxTrailerSizeBytes,
} from './aws-chunked.ts';
export {
  type ChecksumAlgorithm,
  checksumBase64,
  createHasher,
  type IncrementalHasher,
} from './checksums.ts';
export { maxPresignedExpiresSeconds } from './presigned.ts';
export type { Authenticate, AuthOptions, AuthResult, Credential } from './types.ts';
export { S3AuthError } from './types.ts';
