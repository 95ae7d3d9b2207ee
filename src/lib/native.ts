// The native addon, native/*.c built into dist/dray_sys.node: system calls Node.js does not offer
// (mount, umount2, network namespaces) and process creation without fork() (see spawn.ts). Where it
// cannot be loaded, each user falls back to the external tool or to node:child_process.
import * as path from 'node:path';
import { log } from './log';

export interface SysAddon {
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): Promise<void>;
  umount2(target: string, flags: number): Promise<void>;
  netnsAdd(path: string): Promise<void>;
  socketpair(): [number, number];
  spawn(file: string, argv: string[], env: string[], cwd: string | null, fds: number[], setsid: boolean, nice?: number): [number, number];
  watchExit(pidfd: number, cb: (code: number, signal: number) => void): object;
  unrefWatch(handle: object): void;
  pidfdSupported(): boolean;
  mallocTrim(): boolean;
  /** flock(fd, LOCK_EX | LOCK_NB): true when this process now holds the lock. */
  tryLock(fd: number): boolean;
  /**
   * openat2(rootFd, path, flags, mode) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS (native/inroot.c);
   * `beneath`: RESOLVE_BENEATH instead, a walk that leaves rootFd fails with EXDEV.
   */
  openInRoot(rootFd: number, path: string, flags: number, mode: number, beneath?: boolean): number;
  mknodAt(dirFd: number, name: string, mode: number, major: number, minor: number): void;
  setxattr(path: string, name: string, value: Buffer): void;
  /** Every extended attribute under root, root included, links not followed: [path, name, value] (native/xattrs.c). */
  xattrTree(root: string): Promise<[string, string, Buffer][]>;
  /** A user namespace with these uid_map/gid_map texts, as an fd (native/idmap.c). */
  idmapUserns(uidMap: string, gidMap: string): number;
  /** An idmapped bind of source on target, the mapping the user namespace usernsFd carries. */
  idmapMount(source: string, target: string, usernsFd: number): Promise<void>;
  /** A new user namespace with these uid_map/gid_map texts, kept by a bind mount on `file` (made; must not exist). */
  usernsAt(file: string, uidMap: string, gidMap: string): Promise<void>;
  /** A new network namespace owned by the user namespace at usernsFile, kept on `file` (made; must not exist). */
  netnsAt(file: string, usernsFile: string): Promise<void>;
  /** A new file in dirFd (an existing non-directory replaced, a directory EISDIR): its fd, or -1 once finished. */
  createFileAt(dirFd: number, name: string, data: Buffer | null, finish: boolean, mode: number, uid: number, gid: number, mtimeMs: number): Promise<number>;
  finishFile(fd: number, mode: number, uid: number, gid: number, mtimeMs: number): Promise<number>;
  /** Directory `name` in dirFd, made when missing (a non-directory in the way: ENOTDIR), owned and moded: its fd. */
  mkdirAt(dirFd: number, name: string, mode: number, uid: number, gid: number): Promise<number>;
  /** A BLAKE3 hasher (native/blake3.c). */
  blake3New(): unknown;
  blake3Update(hasher: unknown, data: Buffer): void;
  /** The hash as hex; the hasher is spent. */
  blake3Digest(hasher: unknown): string;
  /** A SHA-256 hasher whose updates run on libuv's thread pool (native/sha256.c; src/lib/stream-hash.ts). */
  sha256New(): unknown;
  /** Hashes the buffers in order on the pool, then calls cb; one call in flight per hasher. */
  sha256Update(hasher: unknown, bufs: Buffer[], cb: (err?: Error) => void): void;
  /** The hash so far as hex; the hasher goes on. */
  sha256Hex(hasher: unknown): string;
  /** A sealed memfd copy of the executable at path: its fd, close-on-exec. */
  sealedCopy(path: string, name: string): number;
  // The warm CLI (native/warm.c): drayd's side, then the waiting CLI process's.
  warmListen(path: string): number;
  warmIdentity(bundle: string): string;
  warmServe(drayFd: number): { spare: number } | { quit: true } | { stale: true } | { failed: true };
  warmTake(listenFd: number, tell: number, identity: string, bundle: string): WarmJob;
  warmClaim(fds: number[]): void;
  warmReport(conn: number, status: number): void;
  warmExit(status: number): never;
}

/** A command taken from the `dray` launcher, in the forked process that took it: its pid, the
 * connection, stdio and cwd fds, and what it runs with. */
export interface WarmJob { pid: number; conn: number; fds: number[]; umask: number; argv: string[]; env: string[] }

let addon: SysAddon | null | undefined;

export function nativeAddon(): SysAddon | null {
  if (addon !== undefined) return addon;
  // dist/ in the bundle; from src/lib/ under tsx.
  for (const p of [path.join(__dirname, 'dray_sys.node'), path.join(__dirname, '..', '..', 'dist', 'dray_sys.node')]) {
    try {
      addon = require(p) as SysAddon;
      return addon;
    } catch { /* next */ }
  }
  log.warn('native addon dist/dray_sys.node not found: mounting through mount(8) and umount(8), spawning through node:child_process');
  addon = null;
  return addon;
}
