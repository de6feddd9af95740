// Membership: applying one-server changes to a ConfState, encoding them in log entries, quorums.
import assert from 'node:assert/strict';
import type { ConfChange, ConfChangeType, ConfState, Entry, NodeId, Snapshot } from './types.ts';
import { NO_NODE } from './types.ts';

const changeTypes: readonly ConfChangeType[] = ['addVoter', 'addLearner', 'removeNode'];
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function encodeConfChange(change: ConfChange): Uint8Array {
  return textEncoder.encode(JSON.stringify({ type: change.type, nodeId: change.nodeId }));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const parsed = JSON.parse(textDecoder.decode(data)) as ConfChange;
  assert.ok(changeTypes.includes(parsed.type), `unknown conf change type ${parsed.type}`);
  assert.ok(Number.isSafeInteger(parsed.nodeId) && parsed.nodeId > 0, 'bad conf change node');
  return parsed;
}

export function cloneConfState(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}

export function sameConfState(a: ConfState, b: ConfState): boolean {
  const key = (c: ConfState) =>
    `${[...c.voters].sort((x, y) => x - y)}|${[...c.learners].sort((x, y) => x - y)}`;
  return key(a) === key(b);
}

/** The membership after `change`. Changes that change nothing return an equal ConfState. */
export function applyConfChange(conf: ConfState, change: ConfChange): ConfState {
  const voters = conf.voters.filter((id) => id !== change.nodeId);
  const learners = conf.learners.filter((id) => id !== change.nodeId);
  if (change.type === 'addVoter') voters.push(change.nodeId);
  if (change.type === 'addLearner') {
    // Demoting a voter to a learner is not supported: it would be a two-step quorum change.
    if (conf.voters.includes(change.nodeId)) voters.push(change.nodeId);
    else learners.push(change.nodeId);
  }
  voters.sort((a, b) => a - b);
  learners.sort((a, b) => a - b);
  assert.ok(!voters.some((id) => learners.includes(id)), 'a node is a voter or a learner');
  return { voters, learners };
}

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a quorum of voters has matched: sort the match indexes descending and
 * take the quorum-th one.
 */
export function quorumMatchIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number) {
  assert.ok(voters.length > 0, 'no voters');
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[quorumSize(voters.length) - 1];
}

/** Outcome of an election given the voters' answers so far. */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): 'won' | 'lost' | 'pending' {
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === true) granted++;
    if (vote === false) rejected++;
  }
  const quorum = quorumSize(voters.length);
  if (granted >= quorum) return 'won';
  if (rejected > voters.length - quorum) return 'lost';
  return 'pending';
}

/**
 * The durable state of a member of a brand-new cluster, identical on every initial member: the
 * initial membership as committed confChange entries of term 1 (as etcd bootstraps). A node that
 * joins later starts from `joiningState()` and learns the membership from the leader's log or
 * snapshot; the membership must live in the log for that, never only in a local setting.
 */
export function bootstrapState(voters: readonly NodeId[], learners: readonly NodeId[] = []) {
  assert.ok(voters.length > 0, 'a cluster needs a voter');
  const changes: ConfChange[] = [
    ...voters.map((nodeId): ConfChange => ({ type: 'addVoter', nodeId })),
    ...learners.map((nodeId): ConfChange => ({ type: 'addLearner', nodeId })),
  ];
  const entries: Entry[] = changes.map((change, i) => ({
    index: i + 1,
    term: 1,
    type: 'confChange',
    data: encodeConfChange(change),
  }));
  return {
    hardState: { term: 1, vote: NO_NODE, commit: entries.length },
    snapshot: emptySnapshot(),
    entries,
  };
}

/** The durable state of a server about to be added as a learner: nothing at all. */
export function joiningState() {
  return {
    hardState: { term: 0, vote: NO_NODE, commit: 0 },
    snapshot: emptySnapshot(),
    entries: [],
  };
}

export function emptySnapshot(): Snapshot {
  return {
    meta: { index: 0, term: 0, confState: { voters: [], learners: [] } },
    sizeBytes: 0,
    checksum: 0,
  };
}
