import { absentShards } from './absent-shards.ts';
import {
  replicationBacklog,
  replicationQueue,
  withReplicationStatus,
} from './bucket-replication.ts';
import { delegatedDirOfRead } from './delegated-reads.ts';
import { directoryUsage } from './dir-usage.ts';
import * as K from './keys.ts';
import { keyFacts } from './lifecycle/facts.ts';
import { namesOfInode } from './links.ts';
import { listObjects } from './list-objects.ts';
import { clusterConfig, normaliseServer, server } from './ops-cluster.ts';
import { keyByRef, listKmsKeys } from './ops-kms.ts';
import { getLock, mountSession, readLocks } from './ops-locks.ts';
import { keepsOrphan, orphansOf, sessions } from './ops-mounts.ts';
import * as users from './ops-users.ts';
import { shardCounts } from './shard-counts.ts';
import { dataIno } from './storage-class.ts';
import type { Store } from './store.ts';
import { crowdedWrites, placementEpoch } from './stripe-placement.ts';
import { scanStripes } from './stripe-scan.ts';
import {
  type DirEntry,
  type Inode,
  type MetadataReader,
  ROOT_INO,
  type ShardLocation,
  type Stripe,
  type UploadInfo,
} from './types.ts';
import { fileLock, listObjectVersions, objectVersion } from './version-reads.ts';

const READDIR_LIMIT_MAX = 10_000;
// Absent shards per read: a bounded transaction and reply (the rest after those are rebuilt).
const ABSENT_PAGE_MAX = 10_000;
const RESTORES_PAGE_MAX = 1000;
// The extents objectRead returns with a version: the window the object reader asks for at a
// time (src/client/file-reader.ts), so the reply is bounded as an extents read is.
export const OBJECT_READ_WINDOW_BYTES = 256 * 1024 * 1024;

// Reads of the committed state. With Raft, the service answers these after ReadIndex.
export function createReader(store: Store): MetadataReader {
  const lookup = (parent: number, name: string): Inode | undefined => {
    const entry = store.dirent(parent, name);
    return entry ? store.inode(entry.ino) : undefined;
  };
  return {
    delegatedDirOfRead: (fn, args, mountId) => delegatedDirOfRead(store, fn, args, mountId),
    delegation: (dir) => store.delegation(dir),
    getattr: (ino) => store.inode(ino),
    getattrMany: (inos) => inos.slice(0, 1000).map((ino) => store.inode(ino) ?? null),
    namespaceChanges: (since, exceptSession) =>
      store.journal.since(
        since,
        (store.db.get(K.appliedKey()) as number | undefined) ?? 0,
        typeof exceptSession === 'string' ? exceptSession : undefined,
      ),
    lookup,
    resolvePath(path) {
      let at = store.inode(ROOT_INO);
      for (const name of path.split('/').filter((s) => s.length > 0)) {
        if (at?.type !== 'dir') return undefined;
        at = lookup(at.ino, name);
      }
      return at;
    },
    readdir(ino, afterName, limit) {
      const max = Math.min(Math.max(1, limit), READDIR_LIMIT_MAX);
      let from = '';
      let skip: string | undefined;
      if (afterName !== undefined) {
        const entry = store.dirent(ino, afterName);
        from = entry?.sortName ?? afterName;
        skip = from;
      }
      const out: DirEntry[] = [];
      for (const entry of store.dirents(ino, from, max + 1)) {
        if (entry.sortName === skip) continue;
        if (out.length === max) break;
        out.push({ name: entry.name, ino: entry.ino, type: entry.type });
      }
      return out;
    },
    extents(ino, offset, length, archived) {
      const inode = archived === true ? undefined : store.inode(ino);
      return store.extents(inode === undefined ? ino : dataIno(inode), offset, length);
    },
    pendingRestores: (afterIno, limit) =>
      store.restoringInodes(
        Number.isSafeInteger(afterIno) ? afterIno : 0,
        Math.min(Math.max(1, Math.trunc(Number(limit)) || 1), RESTORES_PAGE_MAX),
      ),
    getBucket: (name) => store.bucket(name),
    listBuckets: () =>
      [...store.db.getRange({ start: K.bucketPrefix(), end: K.bucketPrefixEnd() })].map(
        ({ value }) => value,
      ),
    directoryUsage: (inos) => inos.slice(0, 1000).map((ino) => directoryUsage(store, ino)),
    listObjects(query) {
      const bucket = store.bucket(query.bucket);
      if (!bucket) return { objects: [], commonPrefixes: [], isTruncated: false };
      return listObjects(store, bucket.ino, query);
    },
    listObjectVersions(query) {
      const bucket = store.bucket(query.bucket);
      if (!bucket) return { versions: [], commonPrefixes: [], isTruncated: false };
      return listObjectVersions(store, bucket, query);
    },
    fileLock: (ino) => fileLock(store, ino),
    lifecycleFacts(bucketName, key) {
      const bucket = store.bucket(bucketName);
      return bucket === undefined ? undefined : keyFacts(store, bucket, key);
    },
    objectVersion: (bucket, key, versionId) =>
      withReplicationStatus(
        store,
        bucket,
        key,
        objectVersion(store, bucket, key, versionId ?? undefined),
      ),
    objectRead(bucketName, key, versionId, dataFrom) {
      const bucket = store.bucket(bucketName);
      if (bucket === undefined) return undefined;
      const version = withReplicationStatus(
        store,
        bucketName,
        key,
        objectVersion(store, bucketName, key, versionId ?? undefined),
      );
      const inode = version?.inode;
      if (inode === undefined || typeof dataFrom !== 'number' || !(dataFrom >= 0))
        return { bucket, version };
      // The same extents `extents` gives (an archived version: its restored copy's).
      const offset = Math.min(Math.trunc(dataFrom), inode.size);
      const length = Math.min(OBJECT_READ_WINDOW_BYTES, inode.size - offset);
      const extents = length > 0 ? store.extents(dataIno(inode), offset, length) : [];
      return { bucket, version, extents: { offset, length, extents } };
    },
    getUpload: (id) => store.upload(id),
    listParts: (id) => store.parts(id),
    listUploads: (bucket) =>
      [...store.db.getRange({ start: K.uploadPrefix(), end: K.uploadPrefixEnd() })]
        .map(({ value }) => value as UploadInfo)
        .filter((u) => u.bucket === bucket),
    dataServers: () => store.servers().map(normaliseServer),
    placementView: () => ({
      epoch: placementEpoch(store),
      servers: store.servers().map(normaliseServer),
      crowdedWrites: crowdedWrites(store),
    }),
    dataServer: (serverId) => (typeof serverId === 'string' ? server(store, serverId) : undefined),
    clusterConfig: () => clusterConfig(store),
    members: () =>
      [...store.db.getRange({ start: K.memberPrefix(), end: K.memberPrefixEnd() })].map(
        ({ key, value }) => ({
          nodeId: Number((key as Buffer).readBigUInt64BE(1)),
          addr: value as string,
        }),
      ),
    stripeState(stripeId) {
      if (store.refCount(stripeId) > 0) return 'referenced';
      return store.db.get(K.gcKey(stripeId)) === undefined ? 'unknown' : 'collecting';
    },
    getLock: (ino, mountId, owner, kind, type, start, end) =>
      getLock(store, ino, { mountId, owner, kind, type, start, end }),
    locks: (ino) => readLocks(store, ino),
    mounts: () => sessions(store),
    orphans: (mountId) => orphansOf(store, mountId),
    listUsers: () => users.listUsers(store),
    accessKeys: () => users.accessKeys(store),
    accessKey: (accessKeyId) => users.accessKey(store, accessKeyId),
    usersVersion: () => users.usersVersion(store),
    user: (name) => users.userSummary(store, name),
    namesOfInode: (ino, linkLimit, depthMax) => namesOfInode(store, ino, linkLimit, depthMax),
    mountSession: (mountId) => mountSession(store, mountId),
    keepsOrphan: (mountId, ino) => keepsOrphan(store, mountId, ino),
    kmsKey: (ref) => keyByRef(store, ref),
    listKmsKeys: () => listKmsKeys(store),
    scanStripes: (cursor, limit) => scanStripes(store, cursor ?? undefined, limit),
    relocatedShards: (stripeId) =>
      typeof stripeId === 'string'
        ? (store.db.get(K.stripeShardsKey(stripeId)) as ShardLocation[] | undefined)
        : undefined,
    replicationQueue: (limit) => replicationQueue(store, limit),
    replicationBacklog: () => replicationBacklog(store),
    absentShards: (limit) =>
      absentShards(store, Math.min(Math.max(1, Math.trunc(Number(limit)) || 1), ABSENT_PAGE_MAX)),
    shardCounts: (serverId) =>
      shardCounts(store, typeof serverId === 'string' ? serverId : undefined),
    pendingGc: (limit) =>
      [...store.db.getRange({ start: K.gcPrefix(), end: K.gcPrefixEnd(), limit })].map(
        ({ value }) => value as Stripe,
      ),
  };
}
