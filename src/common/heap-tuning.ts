// V8's collector settings for Strata's processes, set at their start (V8 reads this flag each time
// it decides on a collection, so it may be set after the heap exists).
//
// Why: V8 counts the bytes of every ArrayBuffer allocated since its last full collection against
// the old generation's limit, a few MiB above the live heap. A gateway allocates one for each
// piece of a request body that Node's HTTP parser hands it (a copy of up to 64 KiB), so under
// 16 MiB PUTs it ran a full mark-compact every 20 MiB or so of body (42 per GiB, `--trace-gc`),
// though those buffers die young. With the flag, they count against the global limit instead,
// which grows with the heap and its external memory together: 12 full collections per GiB, the
// gateway's CPU per GiB 7.3–8.4 → 5.8–7.1 s, its peak RSS under that load 395 → 435–485 MiB
// (docs/architecture/overview.md, "Data path"). A V8 without the flag prints "unrecognized flag"
// and goes on without it.
import { setFlagsFromString } from 'node:v8';

const FLAG = 'external-memory-accounted-in-global-limit';

// Leaves a choice made on the command line (`node --no-external-memory-...`) alone.
export function tuneHeap(execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some((arg) => arg.replace(/_/g, '-').includes(FLAG))) return;
  setFlagsFromString(`--${FLAG}`);
}
