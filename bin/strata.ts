#!/usr/bin/env node
// Shard writes park a libuv pool thread in fsync; with the default four threads a handful of
// concurrent stripes would queue behind each other. Must be set before the pool first starts,
// hence before anything else is imported.
process.env.UV_THREADPOOL_SIZE ??= '64';
// Node caches each module's stripped and compiled code on disk (os.tmpdir()/node-compile-cache,
// or NODE_COMPILE_CACHE; NODE_DISABLE_COMPILE_CACHE=1 turns it off), keyed by the file's content:
// a CLI command starts in about a third of the CPU time. It never fails a start: a directory it
// cannot write only leaves the cache off. The variable carries it to the data-server children
// and the erasure workers.
const { enableCompileCache } = await import('node:module');
const compileCache = enableCompileCache();
if (compileCache.directory) process.env.NODE_COMPILE_CACHE ??= compileCache.directory;
const { tuneHeap } = await import('../src/common/heap-tuning.ts');
tuneHeap(); // V8's full collections under large bodies: src/common/heap-tuning.ts
const { main } = await import('../src/cli/main.ts');

process.exitCode = await main(process.argv.slice(2));
