// The file-system layer of the mount (go-fuse's `fs/`): FUSE node ids are the metadata inode
// numbers (the root is 1 in both), open handles, and each operation as a call into the client
// library. Errors are StrataError codes, turned into errno values in one place (errno.ts).
import type { StrataClientApi } from '../client/types.ts';
import type { DirEntry, Inode } from '../metadata/types.ts';
import { type Attr, DT } from './protocol.ts';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const HANDLES_MAX = 65_536;
const STATFS_CACHE_MS = 5_000;

export function attrOf(inode: Inode): Attr {
  const type = inode.type === 'dir' ? S_IFDIR : inode.type === 'symlink' ? S_IFLNK : S_IFREG;
  return {
    ino: inode.ino,
    size: inode.type === 'symlink' ? Buffer.byteLength(inode.target ?? '') : inode.size,
    blocks: Math.ceil(inode.size / 512),
    atimeMs: inode.atimeMs,
    mtimeMs: inode.mtimeMs,
    ctimeMs: inode.ctimeMs,
    mode: type | (inode.mode & 0o7777),
    nlink: inode.nlink,
    uid: inode.uid,
    gid: inode.gid,
  };
}

export function direntType(entry: DirEntry): number {
  return entry.type === 'dir' ? DT.DIR : entry.type === 'symlink' ? DT.LNK : DT.REG;
}

export class StrataFileSystem {
  readonly client: StrataClientApi;
  private nextHandle = 1;
  // Directory handles keep the listing taken at opendir, so readdir offsets stay stable.
  private readonly directories = new Map<number, DirEntry[]>();
  private capacity: { atMs: number; totalBytes: number; freeBytes: number } | undefined;

  constructor(client: StrataClientApi) {
    this.client = client;
  }

  lookup(parent: number, name: string): Promise<Inode> {
    return this.client.lookup(parent, name);
  }

  getattr(ino: number): Promise<Inode> {
    return this.client.getattr(ino);
  }

  async opendir(ino: number): Promise<number> {
    if (this.directories.size >= HANDLES_MAX)
      throw Object.assign(new Error('too many open directories'), { code: 'EMFILE' });
    const entries = await this.client.readdirIno(ino);
    const handle = this.nextHandle++;
    this.directories.set(handle, entries);
    return handle;
  }

  directory(handle: number): DirEntry[] | undefined {
    return this.directories.get(handle);
  }

  releasedir(handle: number): void {
    this.directories.delete(handle);
  }

  // The cluster's real capacity: the data disks' bytes scaled by k / (k + m), since parity takes
  // the rest. Cached briefly: df and many programs ask often.
  async statfs(): Promise<{ totalBytes: number; freeBytes: number }> {
    const now = Date.now();
    if (this.capacity && this.capacity.atMs > now - STATFS_CACHE_MS) return this.capacity;
    const status = await this.client.clusterStatus();
    const disks = status.dataServers.flatMap((s) => s.disks);
    const { k, m } = status.erasure;
    const usable = (bytes: number) => Math.floor((bytes * k) / (k + m));
    this.capacity = {
      atMs: now,
      totalBytes: usable(disks.reduce((sum, d) => sum + d.totalBytes, 0)),
      freeBytes: usable(disks.reduce((sum, d) => sum + d.freeBytes, 0)),
    };
    return this.capacity;
  }

  read(ino: number, offset: number, length: number): Promise<Buffer> {
    return this.client.read(ino, offset, length);
  }
}
