import { randomBytes } from 'node:crypto';
import { isStrataError, StrataError, type StrataErrorCode } from '../common/errors.ts';
import type { RepairProgress } from '../metadata/repair/types.ts';
import { RAFT_RPC } from '../metadata/replication/transport.ts';
import {
  type ClusterConfig,
  type Command,
  type CommandResult,
  type ConfigUser,
  LEADER_HINT_FIELD,
  METADATA_RPC,
  type MetadataReader,
  type ResolvedAccessKey,
  type SealedSecret,
  type UserSummary,
} from '../metadata/types.ts';
import { RpcClient } from '../rpc/index.ts';
import { type UserCredentials, userLogin } from './user-login.ts';

type OkResult = Extract<CommandResult, { ok: true }>;
type ReaderFn = keyof MetadataReader;

// Errors after which the same request may be sent again, to this or another metadata node: the
// node is down, not the leader, or did not answer in time. A retried command carries the same
// session and sequence number, so the state machine applies it at most once.
const RETRYABLE: ReadonlySet<string> = new Set([
  'RPC_UNAVAILABLE',
  'RPC_CONNECTION_LOST',
  'RPC_TIMEOUT',
]);
// Metadata calls take milliseconds; a member that does not answer in this time is paused or cut off.
const ATTEMPT_TIMEOUT_MS = 3_000;
const BACKOFF_MS_MAX = 500;
const DELEGATED_WAIT_MS_MIN = 1;
const DELEGATED_WAIT_MS_MAX = 50;

// Talks to the metadata cluster: any member answers (followers forward to the leader). On a
// retryable failure the request goes to the next member, until the overall deadline.
export class MetadataClient {
  readonly addrs: string[];
  readonly sessionId = randomBytes(12).toString('hex');
  private readonly rpcs: RpcClient[];
  private readonly deadlineMs: number;
  private preferred = 0;
  private nextSeq = 1;
  private readonly inFlight = new Set<number>();
  private configCache: ClusterConfig | undefined;
  private closed = false;
  // A mount's: its session, named in reads so that its own delegated directories are read, and
  // the wait for its write-behind changes to be applied before any other call is sent
  // (src/client/write-behind.ts), so that the cluster sees its calls in the order it made them.
  mountId: string | undefined;
  beforeCall: (() => Promise<void>) | undefined;

  // `user`: every connection logs in as this user (src/client/user-login.ts), which limits the
  // namespace to the user's buckets; without it the process's role alone decides.
  constructor(addrs: string[], options: { timeoutMs?: number; user?: UserCredentials } = {}) {
    if (addrs.length === 0) throw new StrataError('EINVAL', 'no metadata address given');
    this.addrs = addrs;
    this.deadlineMs = options.timeoutMs ?? 30_000;
    const onConnect = options.user === undefined ? undefined : userLogin(options.user);
    this.rpcs = addrs.map(
      (addr) =>
        new RpcClient(addr, {
          defaultTimeoutMs: Math.min(ATTEMPT_TIMEOUT_MS, this.deadlineMs),
          connectTimeoutMs: 1_000,
          onConnect,
        }),
    );
  }

  // Applies a command exactly once; an error result becomes a thrown StrataError with its code.
  // A command refused because a mount holds a directory it changes (EDELEGATED: the service has
  // asked the mount for it) is sent again, as a new command, until the mount gave it back.
  async apply(command: Command): Promise<OkResult> {
    await this.beforeCall?.();
    return this.untilNotDelegated(() => this.applyOnce(command));
  }

  // Without waiting for `beforeCall`: a mount's write-behind batches and delegation commands.
  async applyNow(command: Command): Promise<OkResult> {
    return this.untilNotDelegated(() => this.applyOnce(command));
  }

  private async applyOnce(command: Command): Promise<OkResult> {
    const seq = this.nextSeq++;
    this.inFlight.add(seq);
    try {
      const session = { id: this.sessionId, seq, ackBelow: Math.min(...this.inFlight) };
      const result = await this.call<CommandResult>(METADATA_RPC.apply, { command, session });
      if (!result.ok) throw new StrataError(result.code as StrataErrorCode, result.message);
      return result;
    } finally {
      this.inFlight.delete(seq);
    }
  }

  // A user command of `strata user` (createUser, deleteUser, rotateAccessKey), exactly once.
  async applyUserCommand(command: Command): Promise<OkResult> {
    const seq = this.nextSeq++;
    this.inFlight.add(seq);
    try {
      const session = { id: this.sessionId, seq, ackBelow: Math.min(...this.inFlight) };
      const result = await this.call<CommandResult>(METADATA_RPC.userApply, { command, session });
      if (!result.ok) throw new StrataError(result.code as StrataErrorCode, result.message);
      return result;
    } finally {
      this.inFlight.delete(seq);
    }
  }

  async listUsers(): Promise<UserSummary[]> {
    return this.call(METADATA_RPC.userList, {});
  }

  // The users' secrets sealed by a master key (never one in the clear), with the users version
  // they were read at: what a master key rotation re-seals (admin).
  async sealedUserSecrets(): Promise<{
    usersVersion: number;
    secrets: Array<{ accessKeyId: string; sealedSecret: SealedSecret }>;
  }> {
    return this.call(METADATA_RPC.userList, { sealedSecrets: true });
  }

  // Every access key with its secret, unless the users version is still `sinceVersion`.
  async accessKeys(
    sinceVersion?: number,
  ): Promise<{ version: number; keys?: ResolvedAccessKey[] }> {
    return this.call(METADATA_RPC.userKeys, sinceVersion === undefined ? {} : { sinceVersion });
  }

  // A gateway's own credentials into the users table (added or brought in step, no one removed).
  async syncUsers(users: ConfigUser[]): Promise<void> {
    const result = await this.call<CommandResult>(METADATA_RPC.userSync, { users });
    if (!result.ok) throw new StrataError(result.code as StrataErrorCode, result.message);
  }

  // Reads wait, as commands do, for a directory a mount holds (EDELEGATED).
  async read<F extends ReaderFn>(
    fn: F,
    ...args: Parameters<MetadataReader[F]>
  ): Promise<ReturnType<MetadataReader[F]>> {
    await this.beforeCall?.();
    return this.untilNotDelegated(() => this.readUnordered(fn, ...args));
  }

  // Without waiting for `beforeCall` or for delegated directories: a mount's change feed, which
  // asks about other clients' changes only (its own wait behind nothing of it).
  async readUnordered<F extends ReaderFn>(
    fn: F,
    ...args: Parameters<MetadataReader[F]>
  ): Promise<ReturnType<MetadataReader[F]>> {
    const mount = this.mountId;
    const reply = await this.call<{ value: ReturnType<MetadataReader[F]> }>(METADATA_RPC.read, {
      fn,
      args,
      mount,
    });
    // msgpack has no `undefined`: absent values come back as null.
    return (reply.value ?? undefined) as ReturnType<MetadataReader[F]>;
  }

  async config(): Promise<ClusterConfig> {
    if (this.configCache) return this.configCache;
    this.configCache = await this.call<ClusterConfig>(METADATA_RPC.config, {});
    return this.configCache;
  }

  // The metadata leader's repair progress (strata cluster status).
  async repairProgress(): Promise<RepairProgress> {
    return this.call(METADATA_RPC.repair, {});
  }

  async members(): Promise<{ leaderId: number; members: Array<{ nodeId: number; addr: string }> }> {
    return this.call(METADATA_RPC.members, {});
  }

  // Membership of the metadata Raft cluster (strata cluster add-node / remove-node).
  async addMember(nodeId: number, addr: string): Promise<void> {
    await this.call(RAFT_RPC.addMember, { nodeId, addr }, 180_000);
  }

  async removeMember(nodeId: number): Promise<void> {
    await this.call(RAFT_RPC.removeMember, { nodeId }, 60_000);
  }

  // A mount gives a directory back within a batch's commit, or once idle (src/fuse/write-behind.ts);
  // one that died holds it until its session expires (10 s for strata-mount), within the deadline.
  private async untilNotDelegated<T>(attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.deadlineMs;
    for (
      let waitMs = DELEGATED_WAIT_MS_MIN;
      ;
      waitMs = Math.min(waitMs * 2, DELEGATED_WAIT_MS_MAX)
    ) {
      try {
        return await attempt();
      } catch (error) {
        if (!isStrataError(error, 'EDELEGATED') || this.closed || Date.now() >= deadline)
          throw error;
        await new Promise((r) => setTimeout(r, waitMs));
      }
    }
  }

  private async call<H>(
    method: string,
    header: unknown,
    attemptTimeoutMs = ATTEMPT_TIMEOUT_MS,
  ): Promise<H> {
    const deadline = Date.now() + Math.max(this.deadlineMs, attemptTimeoutMs);
    for (let attempt = 0; ; attempt++) {
      const index = (this.preferred + attempt) % this.rpcs.length;
      try {
        const remaining = Math.max(1, deadline - Date.now());
        const reply = await this.rpcs[index].call<H>(method, header, undefined, {
          timeoutMs: Math.min(attemptTimeoutMs, remaining),
        });
        this.preferred = index;
        return this.takeLeaderHint(reply.header);
      } catch (error) {
        // A closed client's calls fail at once, whatever the attempt in flight met: retrying
        // them until the deadline would keep a stopping process alive on its backoff timers for
        // up to 30 s (a metadata member stopped after its peers missed the 20 s stop bound that
        // way).
        if (this.closed)
          throw new StrataError('RPC_UNAVAILABLE', `${method}: metadata client closed`, {
            cause: error,
          });
        if (!isStrataError(error) || !RETRYABLE.has(error.code) || Date.now() >= deadline)
          throw error;
        // Each member once without waiting, then back off.
        if (attempt % this.rpcs.length === this.rpcs.length - 1) {
          const waitMs = Math.min(BACKOFF_MS_MAX, 50 * 2 ** Math.floor(attempt / this.rpcs.length));
          await new Promise((r) => setTimeout(r, waitMs));
        }
      }
    }
  }

  // A follower forwarded the call and named the leader: the next calls go there when it is one of
  // this client's addresses (a hint only: a stale one costs a forward, as before).
  private takeLeaderHint<H>(header: H): H {
    if (header === null || typeof header !== 'object' || !(LEADER_HINT_FIELD in header))
      return header;
    const { [LEADER_HINT_FIELD]: leaderAddr, ...rest } = header as Record<string, unknown>;
    const at = typeof leaderAddr === 'string' ? this.addrs.indexOf(leaderAddr) : -1;
    if (at >= 0) this.preferred = at;
    return rest as H;
  }

  // Calls in flight fail, and those waiting to retry give up (at their next attempt).
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.rpcs.map((rpc) => rpc.close()));
  }
}
