// The one command that replays a cluster simulator seed exactly.
export function replayCommand(
  seed: number,
  options: { bug?: boolean; degradedWrites?: boolean; pools?: boolean } = {},
): string {
  const bug = options.bug ? ' --delete-before-commit-bug' : '';
  const degraded = options.degradedWrites ? ' --degraded-writes' : '';
  const pools = options.pools ? ' --pools' : '';
  return `npm run sim:cluster -- --seed ${seed}${bug}${degraded}${pools} --verbose`;
}
