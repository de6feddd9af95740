// The RPC methods behind users (docs/guides/security.md, "Users"). Who may call which is in
// src/rpc/permissions.ts: commands and the list are the operator's (the CLI's admin role), the
// access keys with their secrets go to gateways and consoles only. meta.apply refuses the user
// commands (USER_OPS), so a mount or a data server cannot make itself an administrator.
import { StrataError } from '../common/errors.ts';
import type { Logger } from '../observability/logger.ts';
import type { RpcServer } from '../rpc/index.ts';
import type { Envelope } from './replication/envelope.ts';
import { type MetadataReplica, notLeader } from './replication/replica.ts';
import type { MetadataStateMachine } from './state-machine.ts';
import { type Command, type ConfigUser, METADATA_RPC } from './types.ts';
import type { UserSecrets } from './user-secrets.ts';

// The KMS commands of `strata kms` and of a master key rotation (src/metadata/ops-kms.ts): the
// operator's, like the users. (createDefaultKmsKey goes through meta.apply: a gateway makes the
// default key on first use.)
const KMS_ADMIN_OPS: readonly Command['op'][] = [
  'createKmsKey',
  'setKmsKeyState',
  'rotateKmsKey',
  'rewrapKmsKeys',
  // A master key rotation re-seals the users' secrets too (strata encryption rotate-master-key).
  'sealUserSecrets',
];
export const USER_OPS: ReadonlySet<Command['op']> = new Set([
  'createUser',
  'deleteUser',
  'rotateAccessKey',
  'syncConfigUsers',
  ...KMS_ADMIN_OPS,
]);
// The commands `strata user` and `strata kms` propose (syncConfigUsers comes from the servers'
// configurations).
const CLI_USER_OPS: ReadonlySet<Command['op']> = new Set([
  'createUser',
  'deleteUser',
  'rotateAccessKey',
  ...KMS_ADMIN_OPS,
]);
const SYNC_ATTEMPTS_MAX = 10;
const SYNC_RETRY_MS = 1_000;

type Forward = (method: string, header: unknown) => Promise<unknown>;

export function handleUsers(
  server: RpcServer,
  replica: MetadataReplica,
  stateMachine: MetadataStateMachine,
  forward: Forward,
  secrets: UserSecrets,
): void {
  // A follower passes the request to the leader once; the leader proposes or reads after a
  // ReadIndex round, so a key removed by an answered command is absent from every later answer.
  const onLeader = async (
    method: string,
    header: unknown,
    run: () => Promise<unknown>,
  ): Promise<{ header: unknown }> => {
    if (replica.isLeader) return { header: await run() };
    if ((header as { forwarded?: boolean } | null)?.forwarded) throw notLeader(replica.leaderId);
    return { header: await forward(method, { ...(header as object), forwarded: true }) };
  };
  server.handle(METADATA_RPC.userApply, async ({ header }) => {
    const envelope = (header ?? {}) as Partial<Envelope>;
    const command = envelope.command;
    if (command === null || typeof command !== 'object' || !CLI_USER_OPS.has(command.op))
      throw new StrataError('EINVAL', `userApply takes one of ${[...CLI_USER_OPS].join(', ')}`);
    return onLeader(METADATA_RPC.userApply, header, () =>
      // The leader's clock stamps the user's creation time; the leader seals the secret, so the
      // Raft log never holds it in the clear (a follower forwards it over the member's RPC).
      replica.propose({
        command: secrets.sealCommand({ ...command, nowMs: Date.now() }),
        session: envelope.session,
      }),
    );
  });
  // { sealedSecrets: true }: the sealed secrets with the users version (a master key rotation
  // re-seals them); never a secret in the clear.
  server.handle(METADATA_RPC.userList, async ({ header }) =>
    onLeader(METADATA_RPC.userList, header ?? {}, async () => {
      await replica.readBarrier();
      if ((header as { sealedSecrets?: unknown } | null)?.sealedSecrets === true)
        return sealedSecretsOf(stateMachine);
      return stateMachine.reader.listUsers();
    }),
  );
  server.handle(METADATA_RPC.userKeys, async ({ header }) => {
    const { sinceVersion } = (header ?? {}) as { sinceVersion?: unknown };
    if (sinceVersion !== undefined && !Number.isSafeInteger(sinceVersion))
      throw new StrataError('EINVAL', 'userKeys takes { sinceVersion? }');
    return onLeader(METADATA_RPC.userKeys, header ?? {}, async () => {
      await replica.readBarrier();
      const version = stateMachine.reader.usersVersion();
      if (version === sinceVersion) return { version };
      const stored = stateMachine.reader.accessKeys();
      return { version: stored.version, keys: secrets.resolve(stored.keys) };
    });
  });
  // A gateway's own credentials (configured, or generated at its first start): added, never
  // removing anyone (complete = false; only the leader's whole configuration demotes).
  server.handle(METADATA_RPC.userSync, async ({ header }) => {
    const { users } = (header ?? {}) as { users?: unknown };
    if (!Array.isArray(users)) throw new StrataError('EINVAL', 'userSync takes { users }');
    return onLeader(METADATA_RPC.userSync, header, () =>
      replica.propose({
        command: secrets.sealCommand({
          op: 'syncConfigUsers',
          nowMs: Date.now(),
          users: users as ConfigUser[],
          complete: false,
        }),
      }),
    );
  });
}

// When this member starts to lead, the users of its configuration go into the table (created,
// or brought in step). Retried a few times: the first proposals of a new term may fail while
// the leadership settles. Logs names and codes only, never a secret.
export async function syncLeaderUsers(
  replica: MetadataReplica,
  users: ConfigUser[],
  secrets: UserSecrets,
  log: Logger,
): Promise<void> {
  if (users.length === 0) return;
  let sealed: ConfigUser[];
  try {
    sealed = secrets.sealUsers(users);
  } catch (error) {
    // A secret that breaks the rules is refused before it is proposed (never in the log).
    log.error('the configured users (s3.auth.credentials) were refused', { error });
    return;
  }
  for (let attempt = 1; attempt <= SYNC_ATTEMPTS_MAX && replica.isLeader; attempt++) {
    try {
      const command: Command = {
        op: 'syncConfigUsers',
        nowMs: Date.now(),
        users: sealed,
        complete: true,
      };
      const result = await replica.propose({ command });
      if (result.ok) {
        if (result.changed)
          log.info('configured users applied', { users: users.map((u) => u.name) });
        return;
      }
      // A configuration that breaks a rule will not pass on a retry: say why and stop.
      log.error('the configured users (s3.auth.credentials) were refused', {
        code: result.code,
        reason: result.message,
      });
      return;
    } catch (error) {
      log.warn('applying the configured users failed; retrying', { attempt, error });
      await new Promise((r) => setTimeout(r, SYNC_RETRY_MS));
    }
  }
}

function sealedSecretsOf(stateMachine: MetadataStateMachine) {
  const { version, keys } = stateMachine.reader.accessKeys();
  const sealed = keys.flatMap((k) =>
    k.sealedSecret === undefined
      ? []
      : [{ accessKeyId: k.accessKeyId, sealedSecret: k.sealedSecret }],
  );
  return { usersVersion: version, secrets: sealed };
}

// When this member starts to lead with encryption at rest on: the secrets still in the clear
// (stored before it was on) and those under a retired master key of its key file are sealed
// under the active key, once. Retried when a change of the users came between the read and the
// commit (the command is refused whole then). Logs counts only.
export async function sealLeaderSecrets(
  replica: MetadataReplica,
  stateMachine: MetadataStateMachine,
  secrets: UserSecrets,
  log: Logger,
): Promise<void> {
  if (!secrets.sealsNew) return;
  for (let attempt = 1; attempt <= SYNC_ATTEMPTS_MAX && replica.isLeader; attempt++) {
    try {
      await replica.readBarrier();
      const { usersVersion, keys } = secrets.pendingSeals(stateMachine.reader);
      if (keys.length === 0) return;
      const command: Command = { op: 'sealUserSecrets', nowMs: Date.now(), usersVersion, keys };
      const result = await replica.propose({ command });
      if (result.ok) {
        log.info('user secrets sealed by the master key', { sealed: keys.length });
        return;
      }
      if (result.code !== 'PRECONDITION_FAILED') {
        log.error('sealing the user secrets was refused', {
          code: result.code,
          reason: result.message,
        });
        return;
      }
    } catch (error) {
      log.warn('sealing the user secrets failed; retrying', { attempt, error });
      await new Promise((r) => setTimeout(r, SYNC_RETRY_MS));
    }
  }
}
