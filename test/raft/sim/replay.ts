// The one command that replays a simulator seed exactly.
import type { ProfileName } from './simulation.ts';

export function replayCommand(
  seed: number,
  options: { bug?: boolean; profileName?: ProfileName } = {},
) {
  const profile =
    options.profileName && options.profileName !== 'random'
      ? ` --profile ${options.profileName}`
      : '';
  return `npm run sim -- --seed ${seed}${profile}${options.bug ? ' --old-term-commit-bug' : ''}`;
}
