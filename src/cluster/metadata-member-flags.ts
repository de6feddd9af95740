// Node.js options meant for the process of a metadata member (role metadata, or combined: the
// process that runs the Raft replica) and for no other: a combined node's data child is forked
// without them. They go on the command line (bin/strata's STRATA_NODE_ARGS, or the benchmark's
// --node-args): V8 reads them when it sets up the heap, NODE_OPTIONS refuses
// --single-threaded-gc, and GC flags set with v8.setFlagsFromString after the start were
// ignored (the implications of --single-threaded-gc) or crashed V8 (concurrent marking).
//
// --single-threaded-gc: scavenges run on the event-loop thread alone instead of with parallel
// helpers, which on a host whose CPUs are busy wait for a CPU while the loop thread waits for
// them. Measured on 2 busy cores it halved the members' own stalls but not the wall-time lag,
// and cost CPU stalls and memory: not a default (docs/architecture/scaling.md, "Event-loop
// stalls and the host's CPU").
export const METADATA_MEMBER_NODE_ARGS: readonly string[] = ['--single-threaded-gc'];

// A combined node's data child is forked with its parent's Node.js options by default: not these.
export function withoutMetadataMemberArgs(execArgv: readonly string[]): string[] {
  return execArgv.filter((arg) => !METADATA_MEMBER_NODE_ARGS.includes(arg));
}
