// The one command that replays a cluster simulator seed exactly.
export function replayCommand(seed: number, options: { bug?: boolean } = {}): string {
  return `npm run sim:cluster -- --seed ${seed}${options.bug ? ' --delete-before-commit-bug' : ''} --verbose`;
}
