#!/usr/bin/env node
// The FUSE mount is its own issue ("POSIX through FUSE"); until it lands this entry point says so
// plainly instead of pretending to mount.
const HELP = `Usage: strata-mount MOUNTPOINT [--metadata-addr H:P] [--foreground] [-o OPTIONS]

Mounts the Strata namespace through FUSE. Not available in this version: the FUSE mount is
being built (see the project's issue "POSIX through FUSE"). Use \`strata fs\` or the S3 gateway.`;

const wantsHelp = process.argv.includes('--help') || process.argv.includes('-h');
process.stdout.write(`${HELP}\n`);
process.exitCode = wantsHelp ? 0 : 2;
