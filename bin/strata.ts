#!/usr/bin/env node
// Shard writes park a libuv pool thread in fsync; with the default four threads a handful of
// concurrent stripes would queue behind each other. Must be set before the pool first starts,
// hence before anything else is imported.
process.env.UV_THREADPOOL_SIZE ??= '64';
const { main } = await import('../src/cli/main.ts');

process.exitCode = await main(process.argv.slice(2));
