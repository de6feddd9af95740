// What a user may do through a mount or `strata fs` (docs/guides/security.md, "Mounts and the
// CLI as users"). A connection that logged in as a user (meta.login) has each namespace command
// and read checked here by the metadata leader, against its own state, before it proposes or
// answers:
// - an administrator may do everything;
// - anyone else may read and change the buckets it owns, read a bucket whose ACL grants it READ
//   (or FULL_CONTROL) and change one whose ACL grants it WRITE (or FULL_CONTROL), counting
//   grants to AllUsers and AuthenticatedUsers, except as the bucket's controls drop them
//   (BucketOwnerEnforced drops every ACL, IgnorePublicAcls the group grants), as the gateway;
// - only the owner changes a bucket's settings or deletes it; anyone may create a bucket, which
//   the leader records as the user's;
// - a mount session opened by a user is that user's: its calls, and the files it keeps open
//   after their last name is gone, are the user's only;
// - the cluster's own commands (servers, members, repair, collection) are refused.
// Bucket policies are not evaluated here: they are the gateway's (src/auth/policy sits above this
// layer), so a policy's Allow does not open a bucket to a mount, nor its Deny close one.
// Object ACLs are not consulted either: a bucket READ grant reads every file of the bucket.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import {
  type BucketInfo,
  type Command,
  type DirEntry,
  type MetadataReader,
  ROOT_INO,
} from './types.ts';

export interface Actor {
  user: string;
  admin: boolean;
}

type Need = 'read' | 'write' | 'owner';

// Hard links followed to find an inode's buckets; a file with more names needs an administrator.
const LINKS_CHECKED_MAX = 16;
// At most this many inodes in one getattrMany / directoryUsage (as the reader's own limit).
const INODES_PER_READ_MAX = 1_000;

// The reader's own bound on a readdir page (src/metadata/reader.ts).
const ROOT_PAGE_MAX = 10_000;

const GROUP_GRANTEES = new Set(['AllUsers', 'AuthenticatedUsers']);
const CANNED_GRANTS: Record<string, ReadonlyArray<'READ' | 'WRITE'>> = {
  private: [],
  'public-read': ['READ'],
  'public-read-write': ['READ', 'WRITE'],
  'authenticated-read': ['READ'],
};

// The permissions a bucket's ACL gives `user`: READ, WRITE, FULL_CONTROL (of the stored form,
// src/auth/policy/acl.ts: a canned name, or a JSON list of { grantee, permission }).
export function aclPermissionsOf(bucket: BucketInfo, user: string): Set<string> {
  const granted = new Set<string>();
  const stored = bucket.acl;
  if (stored === undefined || bucket.ownership === 'BucketOwnerEnforced') return granted;
  const ignoreGroups = bucket.publicAccessBlock?.ignorePublicAcls === true;
  if (!stored.startsWith('[')) {
    if (!ignoreGroups) for (const p of CANNED_GRANTS[stored] ?? []) granted.add(p);
    return granted;
  }
  let grants: unknown;
  try {
    grants = JSON.parse(stored);
  } catch {
    return granted; // the gateway validated it when it was put; unreadable grants grant nothing
  }
  if (!Array.isArray(grants)) return granted;
  for (const grant of grants as Array<{
    grantee?: Record<string, unknown>;
    permission?: unknown;
  }>) {
    const grantee = grant?.grantee ?? {};
    const toUser = grantee.user === user;
    const toGroup = GROUP_GRANTEES.has(grantee.group as string) && !ignoreGroups;
    if ((toUser || toGroup) && typeof grant.permission === 'string') granted.add(grant.permission);
  }
  return granted;
}

export function mayAccessBucket(bucket: BucketInfo, actor: Actor, need: Need): boolean {
  if (actor.admin || bucket.owner === actor.user) return true;
  if (need === 'owner') return false;
  const granted = aclPermissionsOf(bucket, actor.user);
  if (granted.has('FULL_CONTROL')) return true;
  return granted.has(need === 'read' ? 'READ' : 'WRITE');
}

function denied(actor: Actor, what: string, need: Need): StrataError {
  const verb = need === 'read' ? 'read' : need === 'write' ? 'change' : 'manage';
  return new StrataError('EACCES', `user ${actor.user} may not ${verb} ${what}`);
}

// A bucket by name: absent buckets pass (the command or read itself says NO_SUCH_BUCKET).
function checkBucket(reader: MetadataReader, actor: Actor, name: unknown, need: Need): void {
  if (typeof name !== 'string') return;
  const bucket = reader.getBucket(name);
  if (bucket !== undefined && !mayAccessBucket(bucket, actor, need))
    throw denied(actor, `bucket ${name}`, need);
}

// An inode by number: reading needs one of its buckets readable, writing needs every one of them
// writable. The root passes (what it lists is filtered). An inode in no bucket is a file unlinked
// while open, which the user's own mount session keeps, or else an administrator's only (another
// mount's open file, a noncurrent version's data).
function checkInode(reader: MetadataReader, actor: Actor, ino: unknown, need: Need): void {
  if (actor.admin || ino === ROOT_INO) return;
  if (typeof ino !== 'number' || !Number.isSafeInteger(ino)) return; // the call refuses it
  if (reader.getattr(ino) === undefined) return; // ENOENT from the call itself
  const { buckets, complete } = reader.bucketsOfInode(ino, LINKS_CHECKED_MAX);
  const what = `inode ${ino}`;
  if (complete && buckets.length === 0 && keptForUser(reader, actor, ino)) return;
  if (!complete || buckets.length === 0) throw denied(actor, what, need);
  const allowed = buckets.map((name) => {
    const bucket = reader.getBucket(name);
    return bucket !== undefined && mayAccessBucket(bucket, actor, need);
  });
  const ok = need === 'read' ? allowed.some(Boolean) : allowed.every(Boolean);
  if (!ok) throw denied(actor, `${what} (in bucket ${buckets.join(', ')})`, need);
}

function keptForUser(reader: MetadataReader, actor: Actor, ino: number): boolean {
  return reader.mounts().some((s) => s.user === actor.user && reader.keepsOrphan(s.mountId, ino));
}

// A mount session named by a call: a user's connection uses its own sessions only (an absent one
// passes: the command itself says ESTALE).
function checkSession(reader: MetadataReader, actor: Actor, mountId: unknown): void {
  if (typeof mountId !== 'string') return;
  const session = reader.mountSession(mountId);
  if (session !== undefined && session.user !== actor.user)
    throw new StrataError('EACCES', `mount session ${mountId} is not user ${actor.user}'s`);
}

// An entry named in a directory: in the root, the name is a bucket's.
function checkEntry(
  reader: MetadataReader,
  actor: Actor,
  parent: unknown,
  name: unknown,
  need: Need,
): void {
  if (parent === ROOT_INO) checkBucket(reader, actor, name, need === 'read' ? 'read' : 'owner');
  else checkInode(reader, actor, parent, need);
}

function checkUpload(reader: MetadataReader, actor: Actor, uploadId: unknown, need: Need) {
  if (typeof uploadId !== 'string') return;
  const upload = reader.getUpload(uploadId);
  if (upload !== undefined) checkBucket(reader, actor, upload.bucket, need);
}

// Throws EACCES unless `actor` may apply `command`; may return the command as it must be applied
// (a bucket created by a user is recorded as the user's).
export function authorizeCommand(reader: MetadataReader, actor: Actor, c: Command): Command {
  assert(typeof actor.user === 'string' && actor.user.length > 0, 'an actor has a name');
  if (actor.admin) return c;
  switch (c.op) {
    case 'mkdir':
    case 'create':
    case 'symlink':
    case 'mknod':
      checkInode(reader, actor, c.parent, 'write');
      return c;
    case 'unlink':
      checkEntry(reader, actor, c.parent, c.name, 'write');
      checkSession(reader, actor, c.keepForMount);
      return c;
    case 'rmdir':
      checkEntry(reader, actor, c.parent, c.name, 'write');
      return c;
    case 'link':
      checkInode(reader, actor, c.ino, 'read');
      checkInode(reader, actor, c.parent, 'write');
      return c;
    case 'rename':
      checkEntry(reader, actor, c.srcParent, c.srcName, 'write');
      checkEntry(reader, actor, c.dstParent, c.dstName, 'write');
      checkSession(reader, actor, c.keepReplacedForMount);
      return c;
    case 'setattr':
    case 'setxattr':
    case 'removexattr':
    case 'write':
    case 'punch':
      checkInode(reader, actor, c.ino, 'write');
      return c;
    case 'setLock':
      checkSession(reader, actor, c.mountId);
      checkInode(reader, actor, c.ino, 'read');
      return c;
    case 'createBucket':
      return { ...c, owner: actor.user };
    case 'deleteBucket':
    case 'setBucketAttr':
    case 'setObjectLockConfig':
    case 'setBucketLifecycle':
    case 'setBucketReplication':
      checkBucket(reader, actor, c.name, 'owner');
      return c;
    case 'putObject':
    case 'deleteObject':
    case 'createUpload':
    case 'setObjectTags':
    case 'setObjectAcl':
    case 'setObjectRetention':
    case 'setObjectLegalHold':
      checkBucket(reader, actor, c.bucket, 'write');
      return c;
    case 'copyObject':
      checkBucket(reader, actor, c.srcBucket, 'read');
      checkBucket(reader, actor, c.bucket, 'write');
      return c;
    case 'putPart':
    case 'completeUpload':
    case 'abortUpload':
      checkUpload(reader, actor, c.uploadId, 'write');
      return c;
    case 'mountOpen':
      return { ...c, user: actor.user };
    case 'mountHeartbeat':
    case 'mountClose':
    case 'releaseOrphan':
      checkSession(reader, actor, c.mountId);
      return c;
    default:
      throw new StrataError('EACCES', `user ${actor.user} may not apply ${c.op} (an operator's)`);
  }
}

// Reads a user may make, and which argument names what they read.
type ReadCheck = (reader: MetadataReader, actor: Actor, args: unknown[]) => void;
const byInode: ReadCheck = (r, a, [ino]) => checkInode(r, a, ino, 'read');
const byBucket: ReadCheck = (r, a, [name]) => checkBucket(r, a, name, 'read');
const byQuery: ReadCheck = (r, a, [query]) =>
  checkBucket(r, a, (query as { bucket?: unknown } | null)?.bucket, 'read');
const byUpload: ReadCheck = (r, a, [uploadId]) => checkUpload(r, a, uploadId, 'read');
const byInodes: ReadCheck = (r, a, [inos]) => {
  if (!Array.isArray(inos) || inos.length > INODES_PER_READ_MAX) return; // the reader refuses it
  for (const ino of inos) checkInode(r, a, ino, 'read');
};
const anyone: ReadCheck = () => undefined;

const READ_CHECKS: Partial<Record<keyof MetadataReader, ReadCheck>> = {
  getattr: byInode,
  readdir: byInode,
  extents: byInode,
  fileLock: byInode,
  getLock: byInode,
  locks: byInode,
  getattrMany: byInodes,
  directoryUsage: byInodes,
  lookup: (r, a, [parent, name]) => checkEntry(r, a, parent, name, 'read'),
  resolvePath: (r, a, [path]) =>
    checkBucket(r, a, typeof path === 'string' ? path.split('/')[1] : undefined, 'read'),
  getBucket: byBucket,
  objectVersion: byBucket,
  listUploads: byBucket,
  listObjects: byQuery,
  listObjectVersions: byQuery,
  getUpload: byUpload,
  listParts: byUpload,
  // What a writer needs to place stripes, and a mount's statfs.
  listBuckets: anyone, // filtered (filterRead)
  dataServers: anyone,
  placementView: anyone,
  dataServer: anyone,
  clusterConfig: anyone,
  shardCounts: anyone,
  // A mount reading an SSE-KMS file unwraps each stripe's data key with the KMS key's material,
  // which the record holds wrapped by the master key only (useless without the key file); the
  // key's state is read on every stripe read. Not listKmsKeys: listing keys is an operator's.
  kmsKey: anyone,
};

// Throws EACCES unless `actor` may make this read.
export function authorizeRead(
  reader: MetadataReader,
  actor: Actor,
  fn: keyof MetadataReader,
  args: unknown[],
): void {
  if (actor.admin) return;
  const check = READ_CHECKS[fn];
  if (check === undefined)
    throw new StrataError('EACCES', `user ${actor.user} may not read ${fn} (an operator's)`);
  check(reader, actor, args);
}

// What a user sees of the root: the buckets it may read, no other.
export function filterRead(
  reader: MetadataReader,
  actor: Actor,
  fn: keyof MetadataReader,
  args: unknown[],
  value: unknown,
): unknown {
  if (actor.admin) return value;
  const readable = (name: string) => {
    const bucket = reader.getBucket(name);
    return bucket !== undefined && mayAccessBucket(bucket, actor, 'read');
  };
  if (fn === 'listBuckets')
    return (value as BucketInfo[]).filter((bucket) => mayAccessBucket(bucket, actor, 'read'));
  if (fn === 'readdir' && args[0] === ROOT_INO) return readableBuckets(reader, args, readable);
  return value;
}

// A page of the root for a user: pages of the root are read until `limit` readable buckets are
// found or the root ends, so a page is short only at the end (the contract of readdir), however
// many buckets before it the user may not see.
function readableBuckets(
  reader: MetadataReader,
  [, afterName, limit]: unknown[],
  readable: (name: string) => boolean,
): DirEntry[] {
  // As the reader clamps it, so a page shorter than this is the root's end.
  const pageMax = Math.min(Math.max(1, Math.trunc(Number(limit)) || 1), ROOT_PAGE_MAX);
  const found: DirEntry[] = [];
  let after = typeof afterName === 'string' ? afterName : undefined;
  for (;;) {
    const page = reader.readdir(ROOT_INO, after, pageMax);
    for (const entry of page) {
      if (found.length < pageMax && readable(entry.name)) found.push(entry);
    }
    if (found.length >= pageMax || page.length < pageMax || page.length === 0) return found;
    after = page[page.length - 1].name;
  }
}
