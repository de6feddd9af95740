// The three services as separate processes (--role metadata, data, s3), talking over the RPC layer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { bodyBytes, patternBytes, s3Client } from '../helpers/s3.ts';
import { startSplitRoles } from '../helpers/server.ts';

test('metadata, data and S3 gateway run as separate processes', async () => {
  const roles = await startSplitRoles();
  try {
    const s3 = s3Client(roles.gateway);
    await s3.send(new CreateBucketCommand({ Bucket: 'roles' }));
    const body = patternBytes(6 * 1024 * 1024 + 1, 3);
    await s3.send(new PutObjectCommand({ Bucket: 'roles', Key: 'k', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'roles', Key: 'k' }));
    assert.ok((await bodyBytes(got.Body)).equals(body));
    s3.destroy();
  } finally {
    await roles.stop();
  }
});
