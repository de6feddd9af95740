// Everyday S3 command-line clients (awscli, s3cmd, rclone) pointed at a test server, as .ci/run
// installs them from Debian's packages.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { StrataProcess } from './server.ts';

export const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

// Runs a tool to completion and asserts it succeeded; returns its standard output.
export function run(command: string, args: string[], env: Record<string, string | undefined> = {}) {
  const merged: Record<string, string | undefined> = { ...process.env, ...env };
  // The workplace points AWS_CA_BUNDLE at a file rclone cannot use with plain http.
  delete merged.AWS_CA_BUNDLE;
  const result = spawnSync(command, args, {
    env: merged as NodeJS.ProcessEnv,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  assert.equal(
    result.status,
    0,
    `${command} ${args.join(' ')}\n${result.stdout?.slice(-4000)}\n${result.stderr?.slice(-4000)}`,
  );
  return result.stdout;
}

export function awsEnv(server: StrataProcess): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: server.accessKey,
    AWS_SECRET_ACCESS_KEY: server.secretKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
  };
}

export function awsCli(server: StrataProcess, ...args: string[]): string {
  return run('aws', ['--endpoint-url', server.s3Endpoint, ...args], awsEnv(server));
}

export function s3cmd(server: StrataProcess, ...args: string[]): string {
  const host = new URL(server.s3Endpoint).host;
  return run('s3cmd', [
    `--access_key=${server.accessKey}`,
    `--secret_key=${server.secretKey}`,
    `--host=${host}`,
    `--host-bucket=${host}`,
    '--no-ssl',
    '--region=us-east-1',
    '-c',
    '/dev/null',
    ...args,
  ]);
}

export function rcloneEnv(server: StrataProcess, work: string): Record<string, string> {
  return {
    RCLONE_CONFIG_STRATA_TYPE: 's3',
    RCLONE_CONFIG_STRATA_PROVIDER: 'Other',
    RCLONE_CONFIG_STRATA_ACCESS_KEY_ID: server.accessKey,
    RCLONE_CONFIG_STRATA_SECRET_ACCESS_KEY: server.secretKey,
    RCLONE_CONFIG_STRATA_ENDPOINT: server.s3Endpoint,
    RCLONE_CONFIG_STRATA_REGION: 'us-east-1',
    RCLONE_CONFIG: join(work, 'rclone.conf'),
  };
}

export function rclone(server: StrataProcess, work: string, ...args: string[]): string {
  return run('rclone', args, rcloneEnv(server, work));
}
