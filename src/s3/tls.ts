// HTTPS for the S3 gateway: the certificate and key PEM files of `[s3] tls_cert` / `tls_key`,
// read at start (a bad file stops the start) and again on SIGHUP, when a certificate renewed on
// disk (certbot, cert-manager) replaces the listener's context without closing it: connections
// already open keep the certificate they negotiated, new ones get the new one. A bad file at a
// reload is logged and counted, and the old context stays: a typo must not take HTTPS down.
import assert from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Server as HttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { StrataError } from '../common/errors.ts';
import type { Logger } from '../observability/logger.ts';
import { s3TlsReloads } from '../observability/metrics.ts';

export interface S3TlsFiles {
  certPath: string; // PEM: the certificate, then any intermediates (a full chain)
  keyPath: string; // PEM: its private key, not readable by all users
}

export interface S3TlsMaterial {
  cert: Buffer;
  key: Buffer;
  notAfter: string; // the leaf certificate's validTo, for the logs
}

// Reads both files and checks they make a context whose key matches the certificate. Throws
// CONFIG_INVALID saying which file and why.
export function readS3Tls(files: S3TlsFiles): S3TlsMaterial {
  const cert = readPem(files.certPath, 's3.tls_cert', false);
  const key = readPem(files.keyPath, 's3.tls_key', true);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
    // Node checks the pair here (key values mismatch), as the listener would on its first use.
    createSecureContext({ cert, key });
  } catch (error) {
    throw new StrataError(
      'CONFIG_INVALID',
      `s3.tls_cert / s3.tls_key: ${files.certPath} and ${files.keyPath} do not make a TLS ` +
        `certificate and its key: ${(error as Error).message}`,
    );
  }
  assert(cert.length > 0 && key.length > 0, 'both files were read');
  return { cert, key, notAfter: leaf.validTo };
}

function readPem(path: string, setting: string, secret: boolean): Buffer {
  try {
    // A private key readable by every user of the machine is not private (as ssh refuses it);
    // a group may read it (Debian's ssl-cert group).
    if (secret && (statSync(path).mode & 0o007) !== 0) {
      throw new StrataError(
        'CONFIG_INVALID',
        `${setting}: ${path} is readable by all users; chmod 600 (or 640) it`,
      );
    }
    return readFileSync(path);
  } catch (error) {
    if (error instanceof StrataError) throw error;
    throw new StrataError('CONFIG_INVALID', `${setting}: cannot read ${path}: ${error}`);
  }
}

// Reads the files again and gives the listener the new context; on any failure keeps the old
// one. Returns whether the new files are in use.
export function reloadS3Tls(server: HttpsServer, files: S3TlsFiles, log: Logger): boolean {
  let material: S3TlsMaterial;
  try {
    material = readS3Tls(files);
  } catch (error) {
    s3TlsReloads.inc({ outcome: 'failed' });
    log.error('s3 TLS reload failed: the previous certificate stays in use', {
      cert: files.certPath,
      key: files.keyPath,
      error,
    });
    return false;
  }
  server.setSecureContext({ cert: material.cert, key: material.key });
  s3TlsReloads.inc({ outcome: 'reloaded' });
  log.info('s3 TLS certificate reloaded', { cert: files.certPath, notAfter: material.notAfter });
  return true;
}
