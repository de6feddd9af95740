#!/usr/bin/env node
// Each outstanding read of /dev/fuse parks a libuv pool thread; the client's file I/O needs
// threads too. Set before the pool first starts, hence before anything else is imported.
process.env.UV_THREADPOOL_SIZE ??= '64';
const { mountMain } = await import('../src/fuse/main.ts');

process.exitCode = await mountMain(process.argv.slice(2));
