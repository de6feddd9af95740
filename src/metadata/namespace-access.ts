// What a user may do through a mount or `strata fs` (docs/guides/security.md, "Mounts and the
// CLI as users"). A connection that logged in as a user (meta.login) has each namespace command
// and read checked here by the metadata leader, against its own state, before it proposes or
// answers. Each call is taken for the S3 request(s) AWS would require for the same effect (its
// action, and the bucket or the object key it acts on: a file's key is its path below the
// bucket, a directory's the prefix "dir/"; see requirementsOfCommand and READ_CHECKS), and each
// of those is decided as the gateway decides it (src/metadata/access-decision.ts):
// - an administrator may do everything, whatever a bucket policy says (as through the gateway);
// - an explicit Deny in the bucket's policy refuses it, even to the bucket's owner;
// - the owner may do everything else in its buckets; a policy Allow grants what it names;
// - then the bucket's ACL: a grant of READ (or FULL_CONTROL) reads the bucket and its files,
//   WRITE (or FULL_CONTROL) changes them, counting grants to AllUsers and AuthenticatedUsers,
//   except as the bucket's controls drop them (BucketOwnerEnforced drops every ACL,
//   IgnorePublicAcls the group grants), as the gateway;
// - else a file's own ACL may grant READ of it (s3:GetObject), as the gateway;
// - only the owner (or a policy Allow of the action) changes a bucket's settings or deletes it,
//   and only the owner its policy; anyone may create a bucket, which the leader records as the
//   user's;
// - a mount session opened by a user is that user's: its calls, and the files it keeps open
//   after their last name is gone (which have no key, so no policy names them), are the user's;
// - the cluster's own commands (servers, members, repair, collection) are refused.
// A mount walks directories by name, so it needs s3:ListBucket where it looks names up and lists
// (lookup, readdir: the directory's prefix as s3:prefix, "/" as s3:delimiter), as Mountpoint for
// Amazon S3 does; attributes of a named file are what a listing shows of it (s3:ListBucket on
// its directory), its contents and a stat of it by number are s3:GetObject (HeadObject). A rename
// is s3:GetObject and s3:DeleteObject of the source and s3:PutObject of the destination; in a
// bucket with a policy a directory's rename checks every key below it too (at most
// RENAME_TREE_CHECKED_MAX entries; a larger tree is an administrator's to move).
// A name deeper than PATH_DEPTH_CHECKED_MAX directories, or a file with more than
// LINKS_CHECKED_MAX names, is refused to anyone but an administrator: its keys are not all known.
import assert from 'node:assert';
import { StrataError } from '../common/errors.ts';
import {
  type BucketPolicyEvaluator,
  combineAccess,
  type PolicyDecision,
} from './access-decision.ts';
import type { ChangesAnswer } from './change-journal.ts';
import {
  type BucketAttr,
  type BucketInfo,
  type Command,
  type DirEntry,
  type Inode,
  type MetadataReader,
  ROOT_INO,
} from './types.ts';

export interface Actor {
  user: string;
  admin: boolean;
}

// The owner/ACL rule that decides when the bucket policy says nothing.
type Need = 'read' | 'write' | 'owner';

// One S3 request a call amounts to.
export interface AccessCheck {
  bucket: string;
  action: string; // 's3:GetObject'
  key?: string; // absent: the bucket itself (arn:aws:s3:::bucket)
  prefix?: string; // a listing's s3:prefix (with "/" as its s3:delimiter)
  need: Need;
  inode?: Inode; // the file read, whose own ACL may grant it
}

// A call's requirements: each entry must hold; an entry holds when any one of its checks is
// allowed (a file read through any of its names, changed only through all of them).
type Requirement = { what: string; anyOf: AccessCheck[] };

// A refusal, and what refused it: an explicit Deny of a bucket policy, or no grant at all.
export class AccessRefused extends StrataError {
  readonly by: 'policy' | 'grant';
  constructor(message: string, by: 'policy' | 'grant') {
    super('EACCES', message);
    this.by = by;
  }
}

// Hard links followed to find an inode's keys; a file with more names needs an administrator.
const LINKS_CHECKED_MAX = 16;
// Directories walked up from a name to its bucket: deeper than any key can name (1,024 bytes,
// at least two a level), as links.ts bounds its own walks; a deeper name needs an administrator.
export const PATH_DEPTH_CHECKED_MAX = 1024;
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

// The permissions a stored ACL (the bucket's, or an object's in it) gives `user`: READ, WRITE,
// FULL_CONTROL (of the stored form, src/auth/policy/acl.ts: a canned name, or a JSON list of
// { grantee, permission }), as the bucket's controls let it count.
export function aclPermissionsOf(
  bucket: BucketInfo,
  user: string,
  stored: string | undefined = bucket.acl,
): Set<string> {
  const granted = new Set<string>();
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

function aclAllows(bucket: BucketInfo, user: string, need: Need): boolean {
  if (need === 'owner') return false;
  const granted = aclPermissionsOf(bucket, user);
  return granted.has('FULL_CONTROL') || granted.has(need === 'read' ? 'READ' : 'WRITE');
}

// What an object's own ACL can grant (READ of the object), as the gateway's objectAclAllows.
const OBJECT_ACL_ACTIONS = new Set(['s3:GetObject', 's3:GetObjectVersion']);

function objectAclAllows(bucket: BucketInfo, user: string, check: AccessCheck): boolean {
  const stored = check.inode?.object?.acl;
  if (stored === undefined || !OBJECT_ACL_ACTIONS.has(check.action)) return false;
  const granted = aclPermissionsOf(bucket, user, stored);
  return granted.has('READ') || granted.has('FULL_CONTROL');
}

export function resourceOf(check: { bucket: string; key?: string }): string {
  return check.key === undefined
    ? `arn:aws:s3:::${check.bucket}`
    : `arn:aws:s3:::${check.bucket}/${check.key}`;
}

// The condition keys of a user's call, as the gateway names them (src/s3/access.ts
// conditionContext). Keys about the network (aws:SourceIp, aws:SecureTransport) are absent: the
// leader may be answering a follower that forwarded the call; a condition on an absent key
// evaluates as AWS evaluates it (a NotIpAddress Deny applies, an IpAddress Allow does not).
export function conditionContext(
  actor: Actor,
  check: AccessCheck,
  nowMs: number,
): Record<string, string[]> {
  const context: Record<string, string[]> = {
    'aws:principaltype': ['User'],
    'aws:username': [actor.user],
    'aws:userid': [actor.user],
    'aws:principalarn': [`arn:aws:iam:::user/${actor.user}`],
    'aws:currenttime': [new Date(nowMs).toISOString()],
    'aws:epochtime': [String(Math.floor(nowMs / 1000))],
  };
  if (check.prefix !== undefined) {
    context['s3:prefix'] = [check.prefix];
    context['s3:delimiter'] = ['/'];
  }
  return context;
}

export type CheckVerdict = 'allow' | 'policy' | 'grant';

// The decision for one check on one bucket: 'policy' when an explicit Deny refuses it, 'grant'
// when nothing grants it.
export function decideCheck(
  bucket: BucketInfo,
  actor: Actor,
  check: AccessCheck,
  policy: BucketPolicyEvaluator,
  nowMs: number,
): CheckVerdict {
  if (actor.admin) return 'allow';
  const decision = policyDecision(bucket, actor, check, policy, nowMs);
  const verdict = combineAccess({
    admin: false,
    owner: bucket.owner === actor.user,
    policy: decision,
    policyAllowCounts: true, // RestrictPublicBuckets concerns anonymous callers only
    bucketAclAllows: () => aclAllows(bucket, actor.user, check.need),
  });
  if (verdict === 'allow') return 'allow';
  if (verdict === 'deny') return 'policy';
  return objectAclAllows(bucket, actor.user, check) ? 'allow' : 'grant';
}

function policyDecision(
  bucket: BucketInfo,
  actor: Actor,
  check: AccessCheck,
  policy: BucketPolicyEvaluator,
  nowMs: number,
): PolicyDecision {
  if (bucket.policy === undefined) return 'NoMatch';
  // The bucket's policy itself is its owner's alone to read and change, whatever it says (as
  // the gateway's requireOwner: no policy can lock its owner out).
  if (check.action === 's3:PutBucketPolicy') return 'NoMatch';
  try {
    return policy(bucket, {
      user: actor.user,
      action: check.action,
      resource: resourceOf(check),
      context: conditionContext(actor, check, nowMs),
    });
  } catch (error) {
    // A stored policy that cannot be evaluated refuses (fails closed), saying why.
    throw new AccessRefused(
      `bucket ${bucket.name}'s policy could not be evaluated: ${(error as Error).message}`,
      'policy',
    );
  }
}

function verbOf(need: Need): string {
  return need === 'read' ? 'read' : need === 'write' ? 'change' : 'manage';
}

// Throws AccessRefused unless every requirement holds. An absent bucket passes (the call itself
// says NO_SUCH_BUCKET or ENOENT).
function enforce(
  reader: MetadataReader,
  actor: Actor,
  policy: BucketPolicyEvaluator,
  requirements: Requirement[],
): void {
  if (actor.admin) return;
  const nowMs = Date.now();
  for (const { what, anyOf } of requirements) {
    let refusal: { check: AccessCheck; by: 'policy' | 'grant' } | undefined;
    let allowed = anyOf.length === 0;
    for (const check of anyOf) {
      const bucket = reader.getBucket(check.bucket);
      const verdict =
        bucket === undefined ? 'allow' : decideCheck(bucket, actor, check, policy, nowMs);
      if (verdict === 'allow') {
        allowed = true;
        break;
      }
      if (refusal === undefined || verdict === 'policy') refusal = { check, by: verdict };
    }
    if (allowed || refusal === undefined) continue;
    const { check, by } = refusal;
    const why =
      by === 'policy'
        ? `bucket ${check.bucket}'s policy denies ${check.action} on ${resourceOf(check)}`
        : `nothing grants ${check.action} on ${resourceOf(check)}`;
    throw new AccessRefused(`user ${actor.user} may not ${verbOf(check.need)} ${what}: ${why}`, by);
  }
}

// --- what each call amounts to ---

type NamesOf = { names: Array<{ bucket: string; path: string }>; inode: Inode };

// The names of an inode (bucket and path), or a refusal when they are not all known. The root,
// an absent inode and a malformed number are the call's own to answer (no requirement).
function namesOf(
  reader: MetadataReader,
  actor: Actor,
  ino: unknown,
  need: Need,
): NamesOf | undefined {
  if (ino === ROOT_INO || typeof ino !== 'number' || !Number.isSafeInteger(ino)) return undefined;
  const inode = reader.getattr(ino);
  if (inode === undefined) return undefined; // ENOENT from the call itself
  const { names, complete } = reader.namesOfInode(ino, LINKS_CHECKED_MAX, PATH_DEPTH_CHECKED_MAX);
  if (!complete) {
    throw new AccessRefused(
      `user ${actor.user} may not ${verbOf(need)} inode ${ino}: it has more than ` +
        `${LINKS_CHECKED_MAX} names or is deeper than ${PATH_DEPTH_CHECKED_MAX} directories`,
      'grant',
    );
  }
  if (names.length === 0) {
    // A file unlinked while open, which the user's own mount session keeps; else an
    // administrator's only (another mount's open file, a noncurrent version's data).
    if (keptForUser(reader, actor, ino)) return { names, inode };
    throw new AccessRefused(
      `user ${actor.user} may not ${verbOf(need)} inode ${ino} (in no bucket)`,
      'grant',
    );
  }
  return { names, inode };
}

function keptForUser(reader: MetadataReader, actor: Actor, ino: number): boolean {
  return reader.mounts().some((s) => s.user === actor.user && reader.keepsOrphan(s.mountId, ino));
}

const isDir = (inode: Inode | undefined) => inode?.type === 'dir';
// A directory's key (and listing prefix) ends in "/"; a bucket's own directory is "".
const dirPrefix = (path: string) => (path === '' ? '' : `${path}/`);
const keyOf = (path: string, inode: Inode | undefined) => (isDir(inode) ? dirPrefix(path) : path);
const childPath = (path: string, name: string) => (path === '' ? name : `${path}/${name}`);

function describe(ino: number, found: NamesOf): string {
  const buckets = [...new Set(found.names.map((n) => n.bucket))];
  return buckets.length === 0 ? `inode ${ino}` : `inode ${ino} (in bucket ${buckets.join(', ')})`;
}

// Reading an inode by number (a stat, its contents, its locks): a file is s3:GetObject of its
// key (HeadObject, GetObject), a directory s3:ListBucket of its prefix. Any name will do.
function readInode(reader: MetadataReader, actor: Actor, ino: unknown): Requirement[] {
  const found = namesOf(reader, actor, ino, 'read');
  if (found === undefined || found.names.length === 0) return [];
  const { inode } = found;
  const anyOf = found.names.map(({ bucket, path }): AccessCheck => {
    if (isDir(inode))
      return { bucket, action: 's3:ListBucket', prefix: dirPrefix(path), need: 'read' };
    return { bucket, action: 's3:GetObject', key: path, need: 'read', inode };
  });
  return [{ what: describe(inode.ino, found), anyOf }];
}

// Changing an inode by number (its data, attributes, extended attributes): s3:PutObject of its
// key through every one of its names.
function changeInode(reader: MetadataReader, actor: Actor, ino: unknown): Requirement[] {
  const found = namesOf(reader, actor, ino, 'write');
  if (found === undefined) return [];
  const what = describe(found.inode.ino, found);
  return found.names.map(({ bucket, path }) => ({
    what,
    anyOf: [{ bucket, action: 's3:PutObject', key: keyOf(path, found.inode), need: 'write' }],
  }));
}

// What a listing shows of the entries of directory `parent` (names, attributes: a lookup,
// readdirplus): s3:ListBucket of its prefix. In the root, the entries are buckets (HeadBucket).
function listDir(
  reader: MetadataReader,
  actor: Actor,
  parent: unknown,
  name?: unknown,
): Requirement[] {
  if (parent === ROOT_INO) {
    if (typeof name !== 'string') return [];
    return [{ what: `bucket ${name}`, anyOf: [bucketCheck(name, 's3:ListBucket', 'read')] }];
  }
  const found = namesOf(reader, actor, parent, 'read');
  if (found === undefined || found.names.length === 0) return [];
  const anyOf = found.names.map(
    ({ bucket, path }): AccessCheck => ({
      bucket,
      action: 's3:ListBucket',
      prefix: dirPrefix(path),
      need: 'read',
    }),
  );
  return [{ what: describe(found.inode.ino, found), anyOf }];
}

// An entry made, removed or replaced in directory `parent` (`action` on its key, "name/" for a
// directory). In the root the entry is a bucket: its owner's (s3:DeleteBucket).
function entryIn(
  reader: MetadataReader,
  actor: Actor,
  parent: unknown,
  name: unknown,
  action: string,
  dir: boolean,
): Requirement[] {
  if (typeof name !== 'string') return [];
  if (parent === ROOT_INO) {
    if (action === 's3:PutObject') return []; // a bucket made: createBucket's, or refused there
    return [{ what: `bucket ${name}`, anyOf: [bucketCheck(name, 's3:DeleteBucket', 'owner')] }];
  }
  const need: Need = action === 's3:GetObject' ? 'read' : 'write';
  const found = namesOf(reader, actor, parent, need);
  if (found === undefined) return [];
  const what = describe(found.inode.ino, found);
  return found.names.map(({ bucket, path }) => {
    const entry = childPath(path, name);
    return { what, anyOf: [{ bucket, action, key: dir ? `${entry}/` : entry, need }] };
  });
}

function bucketCheck(bucket: string, action: string, need: Need): AccessCheck {
  return action === 's3:ListBucket'
    ? { bucket, action, prefix: '', need }
    : { bucket, action, need };
}

function onBucket(name: unknown, action: string, need: Need): Requirement[] {
  if (typeof name !== 'string') return [];
  return [{ what: `bucket ${name}`, anyOf: [bucketCheck(name, action, need)] }];
}

function onObject(
  bucket: unknown,
  key: unknown,
  action: string,
  need: Need,
  inode?: Inode,
): Requirement[] {
  if (typeof bucket !== 'string' || typeof key !== 'string') return onBucket(bucket, action, need);
  return [{ what: `${bucket}/${key}`, anyOf: [{ bucket, action, key, need, inode }] }];
}

// The action IAM checks when a call names a version: the object action's Version form, as the
// gateway (src/s3/access.ts versionAction).
const VERSION_ACTIONS: Record<string, string> = {
  's3:GetObject': 's3:GetObjectVersion',
  's3:DeleteObject': 's3:DeleteObjectVersion',
  's3:PutObjectTagging': 's3:PutObjectVersionTagging',
};
const versioned = (action: string, versionId: unknown) =>
  typeof versionId === 'string' ? (VERSION_ACTIONS[action] ?? action) : action;

function onUpload(reader: MetadataReader, uploadId: unknown, action: string): Requirement[] {
  if (typeof uploadId !== 'string') return [];
  const upload = reader.getUpload(uploadId);
  if (upload === undefined) return [];
  const need: Need = action === 's3:ListMultipartUploadParts' ? 'read' : 'write';
  return onObject(upload.bucket, upload.key, action, need);
}

// The action AWS names for each bucket setting (s3:PutBucketPolicy: the owner's alone).
const SETTING_ACTIONS: Record<BucketAttr, string> = {
  policy: 's3:PutBucketPolicy',
  tags: 's3:PutBucketTagging',
  acl: 's3:PutBucketAcl',
  versioning: 's3:PutBucketVersioning',
  encryption: 's3:PutEncryptionConfiguration',
  cors: 's3:PutBucketCORS',
  publicAccessBlock: 's3:PutBucketPublicAccessBlock',
  ownership: 's3:PutBucketOwnershipControls',
};

// A rename: s3:GetObject and s3:DeleteObject of the source, s3:PutObject of the destination
// (both ways for an exchange). A directory's keys end in "/"; in a bucket with a policy, a
// directory moves every key below it too, each checked as S3 would check its copy and delete
// (a policy may deny a deeper prefix than the directory's own).
function renameRequirements(
  reader: MetadataReader,
  actor: Actor,
  c: Extract<Command, { op: 'rename' }>,
): Requirement[] {
  const requirements = moveOf(reader, actor, c.srcParent, c.srcName, c.dstParent, c.dstName);
  if (c.exchange)
    requirements.push(...moveOf(reader, actor, c.dstParent, c.dstName, c.srcParent, c.srcName));
  // In the root the names are buckets: renaming one is its owner's (and refused by the call).
  if (c.dstParent === ROOT_INO && typeof c.dstName === 'string')
    requirements.push(...onBucket(c.dstName, 's3:DeleteBucket', 'owner'));
  return requirements;
}

// Entries below a directory a rename checks one by one; a larger tree in a bucket with a policy
// is an administrator's to move (its keys are not all checked).
export const RENAME_TREE_CHECKED_MAX = 1_000;
// Entries read at once while walking that tree.
const TREE_PAGE_ENTRIES = 1_000;

function moveOf(
  reader: MetadataReader,
  actor: Actor,
  fromParent: number,
  fromName: string,
  toParent: number,
  toName: string,
): Requirement[] {
  const inode =
    fromParent === ROOT_INO || typeof fromName !== 'string'
      ? undefined
      : reader.lookup(fromParent, fromName);
  const dir = isDir(inode);
  const from = [
    ...entryIn(reader, actor, fromParent, fromName, 's3:GetObject', dir),
    ...entryIn(reader, actor, fromParent, fromName, 's3:DeleteObject', dir),
  ];
  const to = entryIn(reader, actor, toParent, toName, 's3:PutObject', dir);
  const requirements = [...from, ...to];
  if (inode === undefined || !dir) return requirements;
  const underPolicy = requirements.some(({ anyOf }) =>
    anyOf.some((check) => check.key !== undefined && hasPolicy(reader, check.bucket)),
  );
  if (!underPolicy) return requirements; // owner and ACL rules are the bucket's: one check holds
  const below = keysBelow(reader, inode.ino, RENAME_TREE_CHECKED_MAX);
  if (!below.complete)
    throw new AccessRefused(
      `user ${actor.user} may not rename directory ${fromName}: it holds more than ` +
        `${RENAME_TREE_CHECKED_MAX} entries in a bucket with a policy (each key moved is checked)`,
      'grant',
    );
  // The same checks on each key below, its path appended to the directory's key.
  const ofDirectory = [...requirements];
  for (const relative of below.keys) {
    for (const { what, anyOf } of ofDirectory)
      requirements.push({
        what,
        anyOf: anyOf.map((check) =>
          check.key === undefined ? check : { ...check, key: check.key + relative },
        ),
      });
  }
  return requirements;
}

function hasPolicy(reader: MetadataReader, bucket: string): boolean {
  return reader.getBucket(bucket)?.policy !== undefined;
}

// The keys below directory `ino`, relative to it ("a", "sub/", "sub/b"), at most `limit` of them:
// `complete` is false when there were more.
function keysBelow(
  reader: MetadataReader,
  ino: number,
  limit: number,
): { keys: string[]; complete: boolean } {
  const keys: string[] = [];
  const pending = [{ ino, prefix: '' }];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    let after: string | undefined;
    for (;;) {
      const page = reader.readdir(dir.ino, after, TREE_PAGE_ENTRIES);
      for (const entry of page) {
        if (keys.length >= limit) return { keys, complete: false };
        if (entry.type === 'dir') {
          const prefix = `${dir.prefix}${entry.name}/`;
          keys.push(prefix);
          pending.push({ ino: entry.ino, prefix });
        } else keys.push(`${dir.prefix}${entry.name}`);
      }
      if (page.length < TREE_PAGE_ENTRIES) break;
      after = page[page.length - 1].name;
    }
  }
  return { keys, complete: true };
}

// What each command amounts to. Commands that name a mount session are checked apart
// (checkSession); a command not listed is an operator's.
export function requirementsOfCommand(
  reader: MetadataReader,
  actor: Actor,
  c: Command,
): Requirement[] | undefined {
  switch (c.op) {
    case 'mkdir':
    case 'create':
    case 'symlink':
    case 'mknod':
      return entryIn(reader, actor, c.parent, c.name, 's3:PutObject', c.op === 'mkdir');
    case 'unlink':
      return entryIn(reader, actor, c.parent, c.name, 's3:DeleteObject', false);
    case 'rmdir':
      return entryIn(reader, actor, c.parent, c.name, 's3:DeleteObject', true);
    case 'link':
      return [
        ...readInode(reader, actor, c.ino),
        ...entryIn(reader, actor, c.parent, c.name, 's3:PutObject', false),
      ];
    case 'rename':
      return renameRequirements(reader, actor, c);
    case 'setattr':
    case 'setxattr':
    case 'removexattr':
    case 'write':
    case 'punch':
      return changeInode(reader, actor, c.ino);
    case 'setLock':
      return readInode(reader, actor, c.ino);
    case 'createBucket':
    case 'mountOpen':
    case 'mountHeartbeat':
    case 'mountClose':
    case 'releaseOrphan':
    case 'releaseDirs':
      return [];
    case 'deleteBucket':
      return onBucket(c.name, 's3:DeleteBucket', 'owner');
    case 'setBucketAttr':
      return onBucket(c.name, SETTING_ACTIONS[c.attr] ?? 's3:PutBucketPolicy', 'owner');
    case 'setObjectLockConfig':
      return onBucket(c.name, 's3:PutBucketObjectLockConfiguration', 'owner');
    case 'setBucketLifecycle':
      return onBucket(c.name, 's3:PutLifecycleConfiguration', 'owner');
    case 'setBucketReplication':
      return onBucket(c.name, 's3:PutReplicationConfiguration', 'owner');
    case 'putObject':
    case 'createUpload':
      return onObject(c.bucket, c.key, 's3:PutObject', 'write');
    case 'deleteObject':
      return onObject(c.bucket, c.key, versioned('s3:DeleteObject', c.versionId), 'write');
    case 'setObjectTags':
      return onObject(c.bucket, c.key, versioned('s3:PutObjectTagging', c.versionId), 'write');
    case 'setObjectAcl':
      return onObject(c.bucket, c.key, 's3:PutObjectAcl', 'write');
    case 'setObjectRetention':
      return onObject(c.bucket, c.key, 's3:PutObjectRetention', 'write');
    case 'setObjectLegalHold':
      return onObject(c.bucket, c.key, 's3:PutObjectLegalHold', 'write');
    case 'copyObject':
      return [
        ...onObject(c.srcBucket, c.srcKey, versioned('s3:GetObject', c.srcVersionId), 'read'),
        ...onObject(c.bucket, c.key, 's3:PutObject', 'write'),
      ];
    case 'putPart':
    case 'completeUpload':
      return onUpload(reader, c.uploadId, 's3:PutObject');
    case 'abortUpload':
      return onUpload(reader, c.uploadId, 's3:AbortMultipartUpload');
    default:
      return undefined;
  }
}

// A mount session named by a call: a user's connection uses its own sessions only (an absent one
// passes: the command itself says ESTALE).
function checkSession(reader: MetadataReader, actor: Actor, mountId: unknown): void {
  if (typeof mountId !== 'string') return;
  const session = reader.mountSession(mountId);
  if (session !== undefined && session.user !== actor.user)
    throw new AccessRefused(`mount session ${mountId} is not user ${actor.user}'s`, 'grant');
}

function sessionOf(c: Command): unknown {
  switch (c.op) {
    case 'unlink':
      return c.keepForMount;
    case 'rename':
      return c.keepReplacedForMount;
    case 'setLock':
    case 'mountHeartbeat':
    case 'mountClose':
    case 'releaseOrphan':
    case 'releaseDirs':
      return c.mountId;
    default:
      return undefined;
  }
}

// Throws EACCES (AccessRefused) unless `actor` may apply `command`; may return the command as it
// must be applied (a bucket created by a user is recorded as the user's).
export function authorizeCommand(
  reader: MetadataReader,
  actor: Actor,
  c: Command,
  policy: BucketPolicyEvaluator,
): Command {
  assert(typeof actor.user === 'string' && actor.user.length > 0, 'an actor has a name');
  if (actor.admin) return c;
  const requirements = requirementsOfCommand(reader, actor, c);
  if (requirements === undefined)
    throw new AccessRefused(`user ${actor.user} may not apply ${c.op} (an operator's)`, 'grant');
  checkSession(reader, actor, sessionOf(c));
  enforce(reader, actor, policy, requirements);
  if (c.op === 'createBucket') return { ...c, owner: actor.user };
  if (c.op === 'mountOpen') return { ...c, user: actor.user };
  return c;
}

// Reads a user may make, and what each amounts to.
type ReadCheck = (reader: MetadataReader, actor: Actor, args: unknown[]) => Requirement[];
const byInode: ReadCheck = (r, a, [ino]) => readInode(r, a, ino);
// Attributes of many inodes at once (readdirplus, a mount's directory leases and its
// invalidation): what a listing of each one's directory shows.
const byListedInodes: ReadCheck = (r, a, [inos]) => {
  if (!Array.isArray(inos) || inos.length > INODES_PER_READ_MAX) return []; // the reader refuses
  return inos.flatMap((ino) => listedInode(r, a, ino));
};
// Usage below directories (statfs, `strata fs du`): a listing of each.
const byListedDirs: ReadCheck = (r, a, [inos]) => {
  if (!Array.isArray(inos) || inos.length > INODES_PER_READ_MAX) return [];
  return inos.flatMap((ino) => listDir(r, a, ino));
};
const byBucket: ReadCheck = (_r, _a, [name]) => onBucket(name, 's3:ListBucket', 'read');
const byQuery =
  (action: string): ReadCheck =>
  (_r, _a, [query]) => {
    const q = query as { bucket?: unknown; prefix?: unknown } | null;
    if (typeof q?.bucket !== 'string') return [];
    const prefix = typeof q.prefix === 'string' ? q.prefix : '';
    return [
      { what: `bucket ${q.bucket}`, anyOf: [{ bucket: q.bucket, action, prefix, need: 'read' }] },
    ];
  };
const byUpload =
  (action: string): ReadCheck =>
  (r, _a, [uploadId]) =>
    onUpload(r, uploadId, action);
const anyone: ReadCheck = () => [];

// An inode as a listing of its directory shows it: s3:ListBucket of the directory its name is in
// (for a bucket's own directory, the bucket: HeadBucket).
function listedInode(reader: MetadataReader, actor: Actor, ino: unknown): Requirement[] {
  const found = namesOf(reader, actor, ino, 'read');
  if (found === undefined || found.names.length === 0) return [];
  const anyOf = found.names.map(({ bucket, path }) => {
    const slash = path.lastIndexOf('/');
    return bucketCheckWithPrefix(bucket, path === '' ? '' : path.slice(0, slash + 1));
  });
  return [{ what: describe(found.inode.ino, found), anyOf }];
}

const bucketCheckWithPrefix = (bucket: string, prefix: string): AccessCheck => ({
  bucket,
  action: 's3:ListBucket',
  prefix,
  need: 'read',
});

// A path ("/bucket/a/b", `strata fs`): what is there, read by its key (as an S3 GET or HEAD
// would); a path that names nothing, a listing of the bucket at that key (AWS answers 404 rather
// than 403 for a missing key only to those who may list the bucket).
const byPath: ReadCheck = (r, _a, [path]) => {
  if (typeof path !== 'string') return [];
  const [bucket, ...rest] = path.split('/').filter((part) => part !== '');
  if (bucket === undefined) return []; // the root
  const key = rest.join('/');
  const inode = r.resolvePath(path);
  if (inode === undefined) return [{ what: path, anyOf: [bucketCheckWithPrefix(bucket, key)] }];
  if (isDir(inode)) return [{ what: path, anyOf: [bucketCheckWithPrefix(bucket, dirPrefix(key))] }];
  return onObject(bucket, key, 's3:GetObject', 'read', inode);
};

// A version's own ACL is not at hand here: a named version is decided without object ACLs.
const byVersion: ReadCheck = (r, _a, [bucket, key, versionId]) => {
  const current =
    typeof bucket === 'string' && typeof key === 'string' && typeof versionId !== 'string';
  const inode = current ? r.resolvePath(`/${bucket}/${key}`) : undefined;
  return onObject(bucket, key, versioned('s3:GetObject', versionId), 'read', inode);
};

const READ_CHECKS: Partial<Record<keyof MetadataReader, ReadCheck>> = {
  getattr: byInode,
  extents: byInode,
  fileLock: byInode,
  getLock: byInode,
  locks: byInode,
  readdir: (r, a, [ino]) => listDir(r, a, ino),
  lookup: (r, a, [parent, name]) => listDir(r, a, parent, name),
  getattrMany: byListedInodes,
  namespaceChanges: anyone, // filtered (filterRead)
  directoryUsage: byListedDirs,
  resolvePath: byPath,
  getBucket: byBucket,
  objectVersion: byVersion,
  // The bucket's record and the version: what getBucket and objectVersion each need.
  objectRead: (r, a, args) => [...byBucket(r, a, args), ...byVersion(r, a, args)],
  listUploads: (_r, _a, [name]) => onBucket(name, 's3:ListBucketMultipartUploads', 'read'),
  listObjects: byQuery('s3:ListBucket'),
  listObjectVersions: byQuery('s3:ListBucketVersions'),
  getUpload: byUpload('s3:ListMultipartUploadParts'),
  listParts: byUpload('s3:ListMultipartUploadParts'),
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

// What a read amounts to (undefined: an operator's read).
export function requirementsOfRead(
  reader: MetadataReader,
  actor: Actor,
  fn: keyof MetadataReader,
  args: unknown[],
): Requirement[] | undefined {
  return READ_CHECKS[fn]?.(reader, actor, args);
}

// Throws EACCES (AccessRefused) unless `actor` may make this read.
export function authorizeRead(
  reader: MetadataReader,
  actor: Actor,
  fn: keyof MetadataReader,
  args: unknown[],
  policy: BucketPolicyEvaluator,
): void {
  if (actor.admin) return;
  const requirements = requirementsOfRead(reader, actor, fn, args);
  if (requirements === undefined)
    throw new AccessRefused(`user ${actor.user} may not read ${fn} (an operator's)`, 'grant');
  enforce(reader, actor, policy, requirements);
}

// What a user sees of the root: the buckets it may list (s3:ListBucket), no other.
export function filterRead(
  reader: MetadataReader,
  actor: Actor,
  fn: keyof MetadataReader,
  args: unknown[],
  value: unknown,
  policy: BucketPolicyEvaluator,
): unknown {
  if (actor.admin) return value;
  const nowMs = Date.now();
  const listable = (bucket: BucketInfo) =>
    decideCheck(bucket, actor, bucketCheck(bucket.name, 's3:ListBucket', 'read'), policy, nowMs) ===
    'allow';
  if (fn === 'listBuckets') return (value as BucketInfo[]).filter(listable);
  if (fn === 'namespaceChanges')
    return visibleChanges(reader, actor, value as ChangesAnswer, policy);
  if (fn === 'readdir' && args[0] === ROOT_INO)
    return readableBuckets(reader, args, (name) => {
      const bucket = reader.getBucket(name);
      return bucket !== undefined && listable(bucket);
    });
  return value;
}

// Of other clients' changes (a mount's change feed), those a user could have read: names in
// directories it may list, inodes a listing would show it. Each is decided on its own, so a long
// answer is turned into a reset (the mount drops what it holds) rather than cost the leader that.
const USER_CHANGES_MAX = 1000;
function visibleChanges(
  reader: MetadataReader,
  actor: Actor,
  answer: ChangesAnswer,
  policy: BucketPolicyEvaluator,
): ChangesAnswer {
  if ('reset' in answer) return answer;
  if (answer.inos.length + answer.entries.length > USER_CHANGES_MAX)
    return { index: answer.index, reset: true };
  // Only what a requirement names and the user meets: an inode or directory gone since has no
  // names to decide by, and is left out (its own entry's removal is in the answer, if visible).
  const visible = (requirements: Requirement[]) => {
    if (requirements.length === 0) return false;
    try {
      enforce(reader, actor, policy, requirements);
      return true;
    } catch (error) {
      if (error instanceof AccessRefused) return false;
      throw error;
    }
  };
  const seenBucket = (parent: number, name: string) =>
    parent !== ROOT_INO || reader.getBucket(name) !== undefined; // a gone bucket's name is not told
  return {
    index: answer.index,
    // As a lookup or a listing shows an inode (a user who may list a file but not read it still
    // sees its attributes, and must hear of their change).
    inos: answer.inos.filter((ino) => visible(listedInode(reader, actor, ino))),
    entries: answer.entries.filter(
      ([parent, name]) => seenBucket(parent, name) && visible(listDir(reader, actor, parent, name)),
    ),
  };
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
