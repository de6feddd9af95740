import { closeSync, existsSync, fsyncSync, openSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { advertisedAddr } from '../common/advertise.ts';
import { isStrataError, StrataError } from '../common/errors.ts';
import { tightenDir } from '../common/private-dir.ts';
import type { Keyring } from '../crypto/index.ts';
import { DataClient } from '../data/index.ts';
import { type Logger, silentLogger } from '../observability/logger.ts';
import {
  metadataApplyLatency,
  metadataCommands,
  metadataDelegationRecalls,
  metadataNoSpaceAlarm,
  metadataReads,
  metadataStateRebuilds,
  raftApplied,
  raftCommit,
  raftIsLeader,
  raftLeaderChanges,
  raftTerm,
  userAccessRefusals,
} from '../observability/metrics.ts';
import type { Message, NodeId } from '../raft/index.ts';
import { RpcServer } from '../rpc/index.ts';
import type { BucketPolicyEvaluator } from './access-decision.ts';
import { handleBackups } from './backup-handlers.ts';
import { ClusterConfigKeeper } from './cluster-config.ts';
import { setClusterGauges } from './cluster-gauges.ts';
import { AWS_TIMING } from './lifecycle/decide.ts';
import { LifecycleRunner, runnerOptions } from './lifecycle/runner.ts';
import { type LeaderAccess, LivenessMonitor, parseHeartbeat } from './liveness-monitor.ts';
import {
  AccessRefused,
  type Actor,
  authorizeCommand,
  authorizeRead,
  filterRead,
} from './namespace-access.ts';
import { Recalls } from './recalls.ts';
import type { RepairProgress } from './repair/types.ts';
import { BackupSource } from './replication/backup-source.ts';
import type { Envelope } from './replication/envelope.ts';
import { RAFT_LOG_DIR, RaftStore } from './replication/raft-store.ts';
import { migrateLegacyRaftStore } from './replication/raft-store-migration.ts';
import { MetadataReplica, notLeader } from './replication/replica.ts';
import { SnapshotFiles } from './replication/snapshot-files.ts';
import {
  KERNEL_BOOT_ID_FILE,
  readBootId,
  readStateBootMarker,
  removeStateBootMarker,
  stateVerdict,
  writeStateBootMarker,
} from './replication/state-boot.ts';
import { RAFT_RPC, RaftTransport } from './replication/transport.ts';
import { type MetadataCommitter, OrphanScrubber, type ScrubOptions } from './scrubber.ts';
import { MetadataStateMachine } from './state-machine.ts';
import {
  type ClusterConfig,
  type Command,
  type CommandResult,
  type ConfigUser,
  LEADER_HINT_FIELD,
  type LifecycleTiming,
  METADATA_RPC,
  type MetadataReader,
  type Stripe,
} from './types.ts';
import { handleUsers, sealLeaderSecrets, syncLeaderUsers, USER_OPS } from './user-handlers.ts';
import { actorOf, handleLogin } from './user-login.ts';
import { UserSecrets } from './user-secrets.ts';

// Reader functions callable over RPC (an allow-list: the method name comes from the network).
const READ_FNS = new Set<keyof MetadataReader>([
  'getattr',
  'lookup',
  'resolvePath',
  'getattrMany',
  'namespaceChanges',
  'readdir',
  'extents',
  'getBucket',
  'listBuckets',
  'directoryUsage',
  'listObjects',
  'listObjectVersions',
  'objectVersion',
  'objectRead',
  // The leader's transition runner (src/cluster/transition-runner.ts) reads through the client.
  'lifecycleFacts',
  // ... and its restore runner (src/cluster/restore-runner.ts).
  'pendingRestores',
  'fileLock',
  'getUpload',
  'listParts',
  'listUploads',
  'dataServers',
  'placementView',
  'dataServer',
  'clusterConfig',
  'pendingGc',
  'scanStripes',
  'shardCounts',
  'absentShards',
  'relocatedShards',
  'stripeState',
  'getLock',
  'locks',
  'mounts',
  'orphans',
  'replicationQueue',
  'replicationBacklog',
  // KMS keys with their material wrapped by the master key (as stripe records carry wrapped
  // data keys): only a process holding the master key file can use them.
  'kmsKey',
  'listKmsKeys',
]);

// Commands whose nowMs the leader stamps again, so that session expiry compares times of one
// clock (the mounts' clocks may be skewed against the leader's). Object Lock likewise: whether a
// retention has passed, and when a default retention starts, are judged on the leader's clock,
// so a gateway or mount with a clock ahead cannot remove a COMPLIANCE-locked version early (or
// start its retention in the past): every command that removes, changes or makes a version.
const LEADER_STAMPED_OPS = new Set<Command['op']>([
  'mountOpen',
  'delegateDir',
  'reserveInodes',
  'dirBatch',
  'mountHeartbeat',
  'mountClose',
  'setLock',
  'releaseOrphan',
  'deleteObject',
  'setObjectRetention',
  'setObjectLegalHold',
  'setObjectLockConfig',
  'applyLifecycle',
  'restoreObject',
  'transitionObject',
  'commitRestoredCopy',
  'expireRestoredCopy',
  'putObject',
  'copyObject',
  'createUpload',
  'completeUpload',
  'create',
  'write',
  'punch',
  'setattr',
  'unlink',
  'rename',
]);
const MOUNT_EXPIRY_INTERVAL_MS = 1_000;

const GC_INTERVAL_MS = 2_000;
const GC_BATCH_STRIPES = 256;
const FORWARD_TIMEOUT_MS = 3_000;
const LEADER_WAIT_MS = 3_000;
const HELLO_RETRY_MS = 500;
const HELLO_RETRY_MAX_MS = 5_000; // backoff cap: a peer that comes up is found within 5 s
const MEMBER_RECONCILE_MS = 2_000;
const CATCH_UP_DEADLINE_MS = 120_000;
const DISK_SPACE_CHECK_MS = 1_000;

export interface RaftOptions {
  nodeId: NodeId;
  peers: string[]; // metadata addresses of the other members of a new cluster
  snapshotLogBytes: number; // a snapshot is taken when the log after the last holds this much
  snapshotChunkBytes: number; // InstallSnapshot chunk size
  join: boolean; // a new node that waits to be added to a running cluster (cluster add-node)
  tickMs: number;
  electionTimeoutTicks: number;
  // metadata.boot_id_file: the kernel's boot id, to tell a power loss from a process crash
  // (replication/state-boot.ts); "" turns the check off. Absent: the kernel's own file.
  bootIdFile?: string;
}

export interface MetadataServiceOptions {
  host: string;
  port: number;
  // The address others reach this member at (metadata.advertise_addr; "" derives it from the
  // bound address, src/cluster/advertise.ts).
  advertiseAddr?: string;
  dataDir: string; // the metadata's own directory: storage.metadata_dir, else storage.data_dir
  cluster: ClusterConfig;
  scrub: ScrubOptions;
  raft: RaftOptions;
  // Below this many free bytes on its disk the node raises the NOSPACE alarm (refuses writes).
  minFreeBytes: number;
  // The repair delay: a data server silent this long is down (src/metadata/liveness-monitor.ts).
  serverDownAfterMs: number;
  // Told of every change of this member's leadership (and at start if it leads): the jobs that
  // run on the leader from higher layers, such as the repair driver (src/cluster/), start here.
  onLeadership?: (isLeader: boolean) => void;
  // How long a lifecycle day lasts (lifecycle.debug_day_seconds); absent: AWS's day.
  lifecycleTiming?: LifecycleTiming;
  // The repair driver's progress on this member, answered to meta.repair while it leads.
  repairProgress?: () => RepairProgress | undefined;
  // The users of this member's configuration (s3.auth.credentials, or its generated pair),
  // applied to the users table each time it starts to lead (src/metadata/user-handlers.ts).
  configUsers?: ConfigUser[];
  // The master keys this member seals and unseals the users' secrets with (encryption at rest:
  // docs/guides/security.md, "Users"); absent: none, secrets are stored as they come.
  masterKeys?: { ring: Keyring | undefined; keyFile: string; sealNew: boolean };
  // Evaluates a bucket's policy for the calls of users' mounts and CLI sessions
  // (src/metadata/namespace-access.ts): the gateway's evaluator (src/auth/policy/stored.ts),
  // handed in because src/auth sits above this layer. Required, so no member decides a user's
  // call without the bucket's policy.
  bucketPolicy: BucketPolicyEvaluator;
  log?: Logger;
}

export interface MetadataService {
  host: string;
  port: number;
  stateMachine: MetadataStateMachine;
  replica: MetadataReplica;
  close(): Promise<void>;
}

// The metadata service: the state machine on Raft behind an RPC listener. Mutations are Raft
// proposals; reads wait for a ReadIndex round. A node that does not lead forwards both to the
// leader, so clients may talk to any member. The garbage collector and the orphan scrubber run
// on the leader only.
export async function startMetadataService(
  options: MetadataServiceOptions,
): Promise<MetadataService> {
  const log = options.log ?? silentLogger;
  // The Raft log is the durable record; the state machine is written without syncs, lags it
  // after a crash and is brought forward again from the log on restart.
  const files = new SnapshotFiles(options.dataDir);
  const raftLogPath = join(options.dataDir, RAFT_LOG_DIR);
  // A member upgraded from the LMDB Raft store keeps its log (moved once into segment files).
  await migrateLegacyRaftStore({ from: join(options.dataDir, 'raft'), to: raftLogPath, log });
  const store = RaftStore.open(raftLogPath);
  const bootId = await guardStateAfterBoot(
    files,
    store,
    options.raft.bootIdFile ?? KERNEL_BOOT_ID_FILE,
    log,
  );
  const stateMachine = MetadataStateMachine.open(files.currentStatePath(), { durable: false });
  // lmdb-js makes its directory 0755 and files 0664: bucket and key names are the user's alone.
  for (const dir of [files.currentStatePath(), raftLogPath]) tightenDir(dir);
  tightenDir(files.snapshotsDir);
  const transport = new RaftTransport(log.child({ service: 'raft' }));
  const server = new RpcServer({ name: 'metadata', log });
  let replica: MetadataReplica | undefined;
  let monitor: LivenessMonitor | undefined;
  // Set once the replica exists (a leadership change may be reported while it is made).
  let syncUsers: () => void = () => undefined;
  const secrets = new UserSecrets({
    ring: options.masterKeys?.ring,
    keyFile: options.masterKeys?.keyFile,
    sealNew: options.masterKeys?.sealNew ?? false,
    log: log.child({ service: 'users' }),
  });
  server.handle(RAFT_RPC.hello, async () => ({ header: { nodeId: options.raft.nodeId } }));
  server.handle(RAFT_RPC.step, async ({ header }) => {
    const { message, fromAddr } = header as { message: Message; fromAddr?: string };
    if (
      typeof fromAddr === 'string' &&
      fromAddr !== '' &&
      transport.addrOf(message.from) === undefined
    )
      transport.setPeer(message.from, fromAddr);
    replica?.step(message);
    return { header: null };
  });
  server.handle(RAFT_RPC.status, async () => ({
    header: replica
      ? {
          ...replica.status(),
          addr: selfAddr,
          alarms: replica.diskSpace.active ? ['NOSPACE'] : [],
        }
      : null,
  }));
  const bound = await server.listen(options.host, options.port);
  const selfAddr = advertisedAddr(options.advertiseAddr ?? '', bound, hostname());
  transport.selfAddr = selfAddr;
  for (const member of stateMachine.reader.members()) {
    if (member.nodeId !== options.raft.nodeId) transport.setPeer(member.nodeId, member.addr);
  }

  const voters = await resolvePeers(options.raft, store, transport, log);
  replica = new MetadataReplica({
    nodeId: options.raft.nodeId,
    store,
    stateMachine,
    transport,
    bootstrapVoters: voters,
    log: log.child({ service: 'raft' }),
    tickMs: options.raft.tickMs,
    electionTimeoutTicks: options.raft.electionTimeoutTicks,
    seed: options.raft.nodeId * 7919 + Date.now(),
    snapshotLogBytes: options.raft.snapshotLogBytes,
    snapshotChunkBytes: options.raft.snapshotChunkBytes,
    files,
    diskSpace: {
      // The state machine's directory changes as snapshots are installed; all of them, the
      // snapshots and the Raft log live under the data directory.
      paths: [raftLogPath, options.dataDir],
      minFreeBytes: options.minFreeBytes,
      checkIntervalMs: DISK_SPACE_CHECK_MS,
    },
    onNoSpace: (active) => metadataNoSpaceAlarm.set(active ? 1 : 0),
    onLeaderChange: (_leader, isLeader) => {
      raftIsLeader.set(isLeader ? 1 : 0);
      raftLeaderChanges.inc();
      monitor?.leadership(isLeader);
      options.onLeadership?.(isLeader);
      if (isLeader) syncUsers();
    },
    onMember: (nodeId, addr) => {
      if (nodeId === options.raft.nodeId) return;
      if (addr === null) transport.removePeer(nodeId);
      else transport.setPeer(nodeId, addr);
    },
  });
  const live = replica;
  syncUsers = () => {
    const users = options.configUsers ?? [];
    const usersLog = log.child({ service: 'users' });
    void (async () => {
      await syncLeaderUsers(live, users, secrets, usersLog);
      await sealLeaderSecrets(live, stateMachine, secrets, usersLog);
    })().catch(() => undefined);
  };
  const metricsTimer = setInterval(() => {
    const s = live.status();
    raftTerm.set(s.term);
    raftCommit.set(s.commitIndex);
    raftApplied.set(stateMachine.appliedIndex());
    setClusterGauges(stateMachine.reader.dataServers());
  }, 1000);
  metricsTimer.unref();

  const forward = (method: string, header: unknown, timeoutMs = FORWARD_TIMEOUT_MS) =>
    forwardToLeader(live, transport, method, header, timeoutMs);
  // A forwarded command's or read's answer names the leader (LEADER_HINT_FIELD), so a client
  // that was given that address sends its next calls there and saves the two hops through this
  // member: at one client, the forwarding was a third of a create's latency.
  const withLeaderHint = (answer: unknown): unknown => {
    const addr = transport.addrOf(live.leaderId);
    if (addr === undefined || answer === null || typeof answer !== 'object') return answer;
    return { ...answer, [LEADER_HINT_FIELD]: addr };
  };
  // Directories others wait for, told to their mounts in dirBatch answers.
  const recalls = new Recalls();
  // A command refused for a directory a mount holds: the mount is asked to give it back (the
  // caller tries again).
  const recallIfDelegated = (result: CommandResult): void => {
    if (!result.ok && result.code === 'EDELEGATED' && result.delegatedDir !== undefined) {
      recalls.ask(result.delegatedDir, Date.now());
      metadataDelegationRecalls.inc({ kind: 'command' });
    }
  };
  // The leader's own background work (lifecycle, collectors, expiry) commits through this.
  const committer: MetadataCommitter = {
    reader: stateMachine.reader,
    apply: async (command) => {
      const result = await live.propose({ command });
      recallIfDelegated(result);
      return result;
    },
    isLeader: () => live.isLeader,
  };
  const leaderAccess: LeaderAccess = { ...committer, readBarrier: () => live.readBarrier() };
  const liveness = new LivenessMonitor(leaderAccess, log.child({ service: 'liveness' }), {
    downAfterMs: options.serverDownAfterMs,
  });
  monitor = liveness;
  if (live.isLeader) {
    liveness.leadership(true);
    options.onLeadership?.(true);
    syncUsers();
  }
  const clusterConfig = new ClusterConfigKeeper(leaderAccess, options.cluster, log);
  const backups = new BackupSource({
    files,
    stateMachine,
    termAt: (index) => live.raft.logTerm(index),
    nodeId: options.raft.nodeId,
    addr: () => selfAddr,
    minFreeBytes: options.minFreeBytes,
    log: log.child({ service: 'backup' }),
  });
  handleBackups(server, backups, live);
  handleUsers(server, live, stateMachine, forward, secrets);
  handleLogin(server, {
    replica: live,
    reader: stateMachine.reader,
    forward,
    log: log.child({ service: 'users' }),
    unseal: (key) => secrets.unseal(key),
  });

  // A user's call refused is said in the log and counted (the caller gets the EACCES itself).
  const accessLog = log.child({ service: 'access' });
  const refusalsSaid = <T>(
    actor: Actor,
    kind: 'command' | 'read',
    call: unknown,
    decide: () => T,
  ) => {
    try {
      return decide();
    } catch (error) {
      if (error instanceof AccessRefused) {
        userAccessRefusals.inc({ kind, by: error.by });
        accessLog.info('refused a user call (EACCES)', {
          user: actor.user,
          call,
          by: error.by,
          reason: error.message,
        });
      }
      throw error;
    }
  };

  // A call of a user's connection is decided by the leader, on its state, for the user the
  // connection logged in as (a follower forwards the user's name with the call): see
  // src/metadata/namespace-access.ts. Before the proposal, as the gateway decides before it.
  server.handle(METADATA_RPC.apply, async ({ header, peer }) => {
    const request = header as Envelope & { forwarded?: boolean; asUser?: unknown };
    const envelope: Envelope = 'command' in request ? request : { command: header as Command };
    if (USER_OPS.has(envelope.command?.op))
      throw new StrataError(
        'RPC_FORBIDDEN',
        'user and KMS key commands go through meta.userApply (admin)',
      );
    const actor = actorOf(stateMachine.reader, peer, request.asUser);
    if (!live.isLeader) {
      if (request.forwarded) throw notLeader(live.leaderId);
      const asUser = actor?.user;
      const forwarded = { command: envelope.command, session: envelope.session, forwarded: true };
      const answer = await forward(METADATA_RPC.apply, { ...forwarded, asUser });
      return { header: withLeaderHint(answer) };
    }
    const authorized =
      actor === undefined
        ? envelope.command
        : refusalsSaid(actor, 'command', envelope.command?.op, () =>
            authorizeCommand(stateMachine.reader, actor, envelope.command, options.bucketPolicy),
          );
    // A directory someone just waited for is not granted again at once (recalls.ts); to the mount
    // that holds it already it is (a grant whose answer it never got): told that it holds it, it
    // can give it back when its next batch's answer names it, as recalled.
    if (
      authorized.op === 'delegateDir' &&
      stateMachine.reader.delegation(authorized.dir)?.mountId !== authorized.mountId &&
      recalls.heldOff(authorized.dir, Date.now())
    ) {
      metadataCommands.inc({ op: 'delegateDir', code: 'held_off' });
      return { header: { ok: true, delegated: false } };
    }
    const stop = metadataApplyLatency.startTimer({ op: envelope.command.op });
    const command = LEADER_STAMPED_OPS.has(authorized.op)
      ? { ...authorized, nowMs: Date.now() }
      : authorized;
    const result = await live.propose({ command, session: envelope.session });
    stop();
    metadataCommands.inc({ op: envelope.command.op, code: result.ok ? 'ok' : result.code });
    recallIfDelegated(result);
    // A mount's write-behind batch learns which of its directories others wait for.
    if (result.ok && command.op === 'dirBatch') {
      const recalled = recalls.of(stateMachine.reader, command.mountId);
      if (recalled.length > 0) return { header: { ...result, recalled } };
    }
    return { header: result };
  });
  server.handle(METADATA_RPC.read, async ({ header, peer }) => {
    const { fn, args, forwarded, asUser, mount } = header as {
      fn: keyof MetadataReader;
      args: unknown[];
      forwarded?: boolean;
      asUser?: unknown;
      mount?: unknown; // the mount session the read comes from (its own directories are not refused)
    };
    if (!READ_FNS.has(fn) || !Array.isArray(args))
      throw new StrataError('EINVAL', `no reader function ${fn}`);
    const actor = actorOf(stateMachine.reader, peer, asUser);
    if (!live.isLeader) {
      if (forwarded) throw notLeader(live.leaderId);
      const request = { fn, args, forwarded: true, asUser: actor?.user, mount };
      return { header: withLeaderHint(await forward(METADATA_RPC.read, request)) };
    }
    await live.readBarrier();
    metadataReads.inc({ fn });
    const mountId = typeof mount === 'string' ? mount : undefined;
    const delegatedDir = stateMachine.reader.delegatedDirOfRead(fn, args, mountId);
    if (delegatedDir !== undefined) {
      recalls.ask(delegatedDir, Date.now());
      metadataDelegationRecalls.inc({ kind: 'read' });
      throw new StrataError('EDELEGATED', `directory ${delegatedDir} is delegated to a mount`);
    }
    const reader = stateMachine.reader as unknown as Record<string, (...a: unknown[]) => unknown>;
    if (actor === undefined) return { header: { value: reader[fn](...args) ?? null } };
    refusalsSaid(actor, 'read', fn, () =>
      authorizeRead(stateMachine.reader, actor, fn, args, options.bucketPolicy),
    );
    const value = refusalsSaid(actor, 'read', fn, () =>
      filterRead(stateMachine.reader, actor, fn, args, reader[fn](...args), options.bucketPolicy),
    );
    return { header: { value: value ?? null } };
  });
  // The recorded cluster configuration; before the first leader has recorded one, the leader
  // records its own and answers that (followers ask the leader).
  server.handle(METADATA_RPC.config, async ({ header }) => {
    const recorded = clusterConfig.recorded();
    if (recorded) return { header: recorded };
    if (live.isLeader) return { header: await clusterConfig.bootstrap() };
    if ((header as { forwarded?: boolean } | null)?.forwarded) throw notLeader(live.leaderId);
    return { header: await forward(METADATA_RPC.config, { forwarded: true }) };
  });
  // Data servers' heartbeats feed the leader's failure detector; followers pass them on.
  server.handle(METADATA_RPC.heartbeat, async ({ header }) => {
    const report = parseHeartbeat(header);
    if (!live.isLeader) {
      if ((header as { forwarded?: boolean }).forwarded) throw notLeader(live.leaderId);
      return { header: await forward(METADATA_RPC.heartbeat, { ...report, forwarded: true }) };
    }
    liveness.heartbeat(report);
    return { header: {} };
  });
  server.handle(METADATA_RPC.repair, async ({ header }) => {
    if (!live.isLeader) {
      if ((header as { forwarded?: boolean } | null)?.forwarded) throw notLeader(live.leaderId);
      return { header: await forward(METADATA_RPC.repair, { forwarded: true }) };
    }
    const progress = options.repairProgress?.();
    if (progress === undefined) throw new StrataError('ENOSYS', 'this member runs no repair');
    return { header: progress };
  });
  server.handle(METADATA_RPC.members, async () => ({
    header: {
      leaderId: live.leaderId,
      members: [
        { nodeId: options.raft.nodeId, addr: selfAddr },
        ...transport.peerIds().map((nodeId) => ({ nodeId, addr: transport.addrOf(nodeId) })),
      ],
    },
  }));
  server.handle(RAFT_RPC.addMember, async ({ header }) => {
    const { nodeId, addr, forwarded } = header as {
      nodeId: number;
      addr: string;
      forwarded?: boolean;
    };
    if (!live.isLeader) {
      if (forwarded) throw notLeader(live.leaderId);
      return {
        header: await forward(
          RAFT_RPC.addMember,
          { nodeId, addr, forwarded: true },
          CATCH_UP_DEADLINE_MS,
        ),
      };
    }
    await addMember(live, transport, nodeId, addr, log);
    return { header: {} };
  });
  server.handle(RAFT_RPC.removeMember, async ({ header }) => {
    const { nodeId, forwarded } = header as { nodeId: number; forwarded?: boolean };
    if (!live.isLeader) {
      if (forwarded) throw notLeader(live.leaderId);
      return {
        header: await forward(RAFT_RPC.removeMember, { nodeId, forwarded: true }, 60_000),
      };
    }
    // Idempotent, since a client retries when the leader it asked removed itself before answering.
    const { voters, learners } = live.status().confState;
    if (voters.includes(nodeId) || learners.includes(nodeId))
      await live.proposeConfChange({ type: 'removeNode', nodeId });
    await live.propose({ command: { op: 'setMember', nowMs: Date.now(), nodeId, addr: null } });
    log.info('metadata member removed', { nodeId });
    return { header: {} };
  });
  // The leader writes every member's address into the replicated state, so that any node that
  // becomes leader can reach all the others (initial members learn each other by hello).
  const reconcile = setInterval(() => {
    if (!live.isLeader) return;
    const known = new Map(stateMachine.reader.members().map((m) => [m.nodeId, m.addr]));
    const { voters, learners } = live.status().confState;
    for (const nodeId of [...voters, ...learners]) {
      const addr = nodeId === options.raft.nodeId ? selfAddr : transport.addrOf(nodeId);
      if (addr === undefined || known.get(nodeId) === addr) continue;
      void live
        .propose({ command: { op: 'setMember', nowMs: Date.now(), nodeId, addr } })
        .catch(() => undefined);
    }
  }, MEMBER_RECONCILE_MS);
  reconcile.unref();
  const expiry = startMountExpiry(committer, log);
  const gc = new ShardCollector(committer, log);
  const scrubber = new OrphanScrubber(committer, log, options.scrub);
  const lifecycle = new LifecycleRunner(
    committer,
    log.child({ service: 'lifecycle' }),
    runnerOptions(options.lifecycleTiming ?? AWS_TIMING),
  );
  log.info('metadata service listening', { addr: selfAddr, nodeId: options.raft.nodeId });
  return {
    host: bound.host,
    port: bound.port,
    stateMachine,
    replica: live,
    async close() {
      clearInterval(metricsTimer);
      clearInterval(reconcile);
      clearInterval(expiry);
      liveness.stop();
      clusterConfig.stop();
      // The replica first: it fails proposals still waiting for a quorum (the other members
      // may be gone already), which the collector and scrubber could otherwise wait on forever.
      live.close();
      // A snapshot being copied reads the state machine's environment: it ends first.
      await live.drained();
      await backups.closeAll();
      await scrubber.stop();
      await lifecycle.stop();
      await gc.stop();
      await server.close();
      await transport.close();
      await store.close();
      await stateMachine.close();
      // Synced and closed: whatever boot comes next finds the state whole.
      syncStateFile(files.currentStatePath());
      if (bootId !== undefined) writeStateBootMarker(options.dataDir, { bootId, clean: true });
    },
  };
}

// Before the state machine is opened: a state written without syncs in an earlier boot and not
// closed cleanly may be corrupt (state-boot.ts), and is rebuilt from the Raft store's snapshot
// file, the log then bringing it forward. Then this boot is recorded, unclean until close.
// Returns the boot id (undefined: the check is off).
async function guardStateAfterBoot(
  files: SnapshotFiles,
  store: RaftStore,
  bootIdFile: string,
  log: Logger,
): Promise<string | undefined> {
  const bootId = readBootId(bootIdFile);
  if (bootId === undefined) {
    log.warn('metadata.boot_id_file is empty: a state corrupted by a power loss is not noticed');
    removeStateBootMarker(files.dataDir);
    return undefined;
  }
  const marker = readStateBootMarker(files.dataDir);
  if (stateVerdict(marker, bootId) === 'rebuild') {
    const snapshot = store.snapshot();
    log.warn('the metadata state was written without syncs before a reboot; rebuilding it', {
      fromSnapshotIndex: snapshot.meta.index,
      markerBootId: marker?.bootId,
      bootId,
    });
    const { sizeBytes, checksum } = snapshot;
    await files.rebuildLiveState({ index: snapshot.meta.index, sizeBytes, checksum });
    metadataStateRebuilds.inc();
  }
  writeStateBootMarker(files.dataDir, { bootId, clean: false });
  return bootId;
}

function syncStateFile(statePath: string): void {
  const file = join(statePath, 'data.mdb');
  if (!existsSync(file)) return;
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// Ends the sessions of mounts that stopped renewing them (releasing their locks, freeing their
// unlinked open files). Proposes only when the replicated state shows one expired, so an idle
// cluster's log does not grow.
function startMountExpiry(committer: MetadataCommitter, log: Logger): NodeJS.Timeout {
  let running = false;
  const timer = setInterval(() => {
    if (running || !committer.isLeader()) return;
    const nowMs = Date.now();
    if (!committer.reader.mounts().some((s) => s.lastSeenMs + s.ttlMs < nowMs)) return;
    running = true;
    committer
      .apply({ op: 'expireMounts', nowMs })
      .then((result) => {
        if (result.ok && result.expired?.length)
          log.info('mount sessions expired', { mounts: result.expired });
      })
      .catch((error) => log.warn('mount expiry failed', { error }))
      .finally(() => {
        running = false;
      });
  }, MOUNT_EXPIRY_INTERVAL_MS);
  timer.unref();
  return timer;
}

// Learns the node ids behind the peer addresses (raft.hello). A new cluster waits for all of them,
// since every initial member must start from the same voter list; a restarted node already has
// its membership in its log and learns addresses in the background.
async function resolvePeers(
  raft: RaftOptions,
  store: RaftStore,
  transport: RaftTransport,
  log: Logger,
): Promise<NodeId[] | undefined> {
  const fresh = store.isEmpty();
  // A peer named by host is resolved at every attempt (by the connection), so a name that does
  // not resolve yet, or moves, is retried like a peer that is not up yet; each failed attempt is
  // logged with its reason, so a wrong name or port shows instead of a silent wait.
  const ask = async (addr: string): Promise<NodeId> => {
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await transport
          .client(addr)
          .call<{ nodeId: NodeId }>(RAFT_RPC.hello, {}, undefined, { timeoutMs: 2_000 });
        transport.setPeer(reply.header.nodeId, addr);
        if (attempt > 1) log.info('metadata peer answered', { peer: addr, attempt });
        return reply.header.nodeId;
      } catch (error) {
        // A stopped service asks no more: a restarted member whose peers stay down retried
        // forever after its stop, and the retry timer kept the process from exiting.
        if (transport.closed) throw new StrataError('RPC_UNAVAILABLE', 'metadata service stopped');
        const retryMs = Math.min(HELLO_RETRY_MS * 2 ** (attempt - 1), HELLO_RETRY_MAX_MS);
        log.warn('metadata peer not answering; retrying', { peer: addr, attempt, retryMs, error });
        await new Promise((r) => setTimeout(r, retryMs));
      }
    }
  };
  if (!fresh || raft.join) {
    // In the background: the lookup ends with an id, or with the stop (nothing else throws).
    for (const addr of raft.peers)
      ask(addr).catch((error) => log.info('metadata peer lookup ended', { peer: addr, error }));
    return undefined;
  }
  if (raft.peers.length > 0)
    log.info('waiting for the other metadata nodes', { peers: raft.peers });
  const ids = await Promise.all(raft.peers.map(ask));
  const voters = [raft.nodeId, ...ids];
  if (new Set(voters).size !== voters.length) {
    throw new StrataError(
      'CONFIG_INVALID',
      `metadata node ids are not distinct: ${voters.join(', ')}`,
    );
  }
  return voters.sort((a, b) => a - b);
}

// Adds a server as a learner, waits until it has caught up, then promotes it to voter (one
// server at a time, dissertation §4.2.1: a new voter with an empty log would stall commits).
async function addMember(
  replica: MetadataReplica,
  transport: RaftTransport,
  nodeId: NodeId,
  addr: string,
  log: Logger,
): Promise<void> {
  if (!Number.isSafeInteger(nodeId) || nodeId <= 0)
    throw new StrataError('EINVAL', 'node id must be > 0');
  transport.setPeer(nodeId, addr);
  await replica.propose({ command: { op: 'setMember', nowMs: Date.now(), nodeId, addr } });
  const { voters, learners } = replica.status().confState;
  if (voters.includes(nodeId)) return;
  if (!learners.includes(nodeId)) await replica.proposeConfChange({ type: 'addLearner', nodeId });
  log.info('metadata learner added; waiting for it to catch up', { nodeId, addr });
  const deadline = Date.now() + CATCH_UP_DEADLINE_MS;
  for (;;) {
    try {
      await replica.proposeConfChange({ type: 'addVoter', nodeId });
      log.info('metadata member promoted to voter', { nodeId });
      return;
    } catch (error) {
      if (!isStrataError(error, 'EBUSY') || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function forwardToLeader(
  replica: MetadataReplica,
  transport: RaftTransport,
  method: string,
  header: unknown,
  timeoutMs: number,
): Promise<unknown> {
  const deadline = Date.now() + LEADER_WAIT_MS;
  while (replica.leaderId === 0 || transport.addrOf(replica.leaderId) === undefined) {
    if (replica.isLeader) break;
    if (Date.now() > deadline) throw notLeader(0);
    await new Promise((r) => setTimeout(r, 50));
  }
  const addr = transport.addrOf(replica.leaderId);
  if (addr === undefined) throw notLeader(replica.leaderId);
  const reply = await transport.client(addr).call(method, header, undefined, { timeoutMs });
  return reply.header;
}

// Deletes the shards of unreferenced stripes, then records that with a gcDone command, so a
// crash between the two only repeats idempotent deletes.
class ShardCollector {
  private readonly metadata: MetadataCommitter;
  private readonly log: Logger;
  private readonly clients = new Map<string, DataClient>();
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;

  constructor(metadata: MetadataCommitter, log: Logger) {
    this.metadata = metadata;
    this.log = log;
    this.timer = setInterval(() => {
      if (!metadata.isLeader()) return;
      this.running ??= this.collect()
        .catch((error) => this.log.warn('shard collection failed', { error }))
        .finally(() => {
          this.running = undefined;
        });
    }, GC_INTERVAL_MS);
    this.timer.unref();
  }

  private async collect(): Promise<void> {
    const stripes = this.metadata.reader.pendingGc(GC_BATCH_STRIPES);
    if (stripes.length === 0) return;
    const servers = new Map(this.metadata.reader.dataServers().map((s) => [s.serverId, s.addr]));
    const done: string[] = [];
    for (const stripe of stripes) {
      if (await this.deleteStripe(stripe, servers)) done.push(stripe.id);
    }
    if (done.length > 0) {
      const result: CommandResult = await this.metadata.apply({
        op: 'gcDone',
        nowMs: Date.now(),
        stripeIds: done,
      });
      if (result.ok) this.log.debug('collected stripes', { count: done.length });
    }
  }

  private async deleteStripe(stripe: Stripe, servers: Map<string, string>): Promise<boolean> {
    try {
      await Promise.all(
        stripe.shards.map((loc, shardIndex) => {
          const addr = servers.get(loc.serverId);
          if (!addr)
            throw new StrataError('RPC_UNAVAILABLE', `unknown data server ${loc.serverId}`);
          let client = this.clients.get(addr);
          if (!client) {
            client = new DataClient(addr);
            this.clients.set(addr, client);
          }
          return client.deleteShards({
            shards: [{ stripeId: stripe.id, shardIndex, disk: loc.disk }],
          });
        }),
      );
      return true;
    } catch (error) {
      this.log.warn('cannot delete stripe shards yet', { stripeId: stripe.id, error });
      return false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }
}
