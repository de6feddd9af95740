// Which role may call which internal RPC method: one table, exhaustive over the methods. A server
// registering a method that is not here fails at start-up (RpcServer.handle), so a new method
// cannot ship without a decision about who may call it. A call the table refuses gets
// RPC_FORBIDDEN before any handler runs.
//
// The roles (docs/guides/security.md, "Roles"):
//   metadata  a metadata member: Raft among members, forwarding to the leader, and the leader's
//             repair and scrub, which read, rebuild, list and delete shards on data servers.
//   data      a data server: registers and heartbeats; reads peers' shards to rebuild one.
//   gateway   an S3 gateway: the namespace, and shards (it deletes what its failed writes left).
//   mount     a FUSE mount: the namespace, reading and writing shards, never deleting them (what
//             a failed write leaves is collected by the metadata scrub after its grace period).
//   admin     the CLI of an operator: everything.
import type { PeerRole } from './security.ts';

export const RPC_METHODS = [
  'raft.step',
  'raft.hello',
  'raft.status',
  'raft.addMember',
  'raft.removeMember',
  'meta.apply',
  'meta.read',
  'meta.config',
  'meta.members',
  'meta.heartbeat',
  'meta.repair',
  'meta.backupOpen',
  'meta.backupRead',
  'meta.backupClose',
  'meta.userApply',
  'meta.userList',
  'meta.userKeys',
  'meta.userSync',
  'meta.login',
  'data.putShard',
  'data.rebuildShard',
  'data.getShard',
  'data.deleteShards',
  'data.status',
  'data.listShards',
  'data.scrubFindings',
  'data.repairAddress',
] as const;
export type RpcMethod = (typeof RPC_METHODS)[number];

const ALL: readonly PeerRole[] = ['metadata', 'data', 'gateway', 'mount', 'admin'];
const NAMESPACE: readonly PeerRole[] = ['metadata', 'data', 'gateway', 'mount', 'admin'];

export const PERMISSIONS: Readonly<Record<RpcMethod, readonly PeerRole[]>> = {
  // Raft itself is members only. Its status and data servers' status are read by `cluster
  // status` and by a mount's statfs (capacity).
  'raft.step': ['metadata'],
  'raft.hello': ['metadata'],
  'raft.status': ['metadata', 'gateway', 'mount', 'admin'],
  'raft.addMember': ['metadata', 'admin'],
  'raft.removeMember': ['metadata', 'admin'],
  // The namespace. A data server applies its own registration. A connection logged in as a user
  // (meta.login) is limited further to that user's buckets (src/metadata/namespace-access.ts),
  // and a mount's certificate reaches nothing without a user (src/metadata/user-login.ts).
  'meta.apply': NAMESPACE,
  'meta.read': NAMESPACE,
  'meta.config': ALL,
  'meta.members': ALL,
  'meta.heartbeat': ['metadata', 'data'],
  'meta.repair': ['metadata', 'admin'],
  // A backup is every bucket and key name, and the wrapped data keys: the operator's alone.
  'meta.backupOpen': ['admin'],
  'meta.backupRead': ['admin'],
  'meta.backupClose': ['admin'],
  // Users (src/metadata/user-handlers.ts): managed by the operator (members forward to the
  // leader); the secrets go to what verifies signatures: gateways, and consoles, which run in a
  // metadata member. A gateway adds its own configured or generated pair.
  'meta.userApply': ['metadata', 'admin'],
  'meta.userList': ['metadata', 'admin'],
  'meta.userKeys': ['metadata', 'gateway'],
  'meta.userSync': ['metadata', 'gateway'],
  // A mount or a CLI command logs in as a user on its connection (src/metadata/user-login.ts),
  // which then limits its namespace calls to that user's buckets; a follower has the leader
  // verify the proof. Gateways authorize their users themselves (src/s3/access.ts).
  'meta.login': ['metadata', 'mount', 'admin'],
  'data.putShard': ['metadata', 'gateway', 'mount', 'admin'],
  'data.rebuildShard': ['metadata', 'admin'],
  'data.getShard': ['metadata', 'data', 'gateway', 'mount', 'admin'],
  'data.deleteShards': ['metadata', 'gateway', 'admin'],
  'data.status': ['metadata', 'gateway', 'mount', 'admin'],
  'data.listShards': ['metadata', 'admin'],
  'data.scrubFindings': ['metadata', 'admin'],
  'data.repairAddress': ['data', 'admin'],
};

// Decides one call: true when `role` may call `method`.
export type PermissionCheck = (role: PeerRole, method: string) => boolean;

export function isRpcMethod(method: string): method is RpcMethod {
  return Object.hasOwn(PERMISSIONS, method);
}

export const strataPermissions: PermissionCheck = (role, method) =>
  isRpcMethod(method) && PERMISSIONS[method].includes(role);
