// The pure Raft core: no I/O, no clock, no randomness of its own. See docs/architecture/raft.md.
export * from './config.ts';
export * from './membership.ts';
export * from './messages.ts';
export * from './prng.ts';
export * from './progress.ts';
export * from './raft-log.ts';
export * from './raft-node.ts';
export * from './read-only.ts';
export * from './ready.ts';
export * from './types.ts';
