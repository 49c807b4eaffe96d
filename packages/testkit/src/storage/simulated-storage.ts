// One file over ~400 lines on purpose: the disk model (what is durable, what sits in the page
// cache, what a crash may leave) is one state machine whose invariants are read in one place.
import { posix } from 'node:path';
import type { FileInfo, OpenMode, Storage, StorageFile } from '@ckpt/core';
import { SimulatedCrash, storageError } from './simulated-crash.js';

/**
 * An in-memory disk that remembers what is durable and what only sits in the page cache, so a
 * test can pull the plug after any operation and look at what a real machine could show after
 * power loss (the fault model is in docs/testing-restart-semantics.md):
 *
 * - file data and size are durable after `datasync`; each write since then survives a crash
 *   whole, not at all, torn at any byte, or torn with the rest of its 512-byte sector garbled;
 * - a create, rename or unlink is durable only after `syncDir` of its directory; at a crash a
 *   prefix (in order) of a directory's unsynced changes survives;
 * - directories made by `mkdir` are durable at once (a simplification: ckpt syncs the
 *   checkpoint's directory, not its parents).
 */

/** The kinds of operation a {@link SimulatedStorage} records. */
export const OperationKind = {
  Open: 'open',
  Stat: 'stat',
  Rename: 'rename',
  Unlink: 'unlink',
  Mkdir: 'mkdir',
  Readdir: 'readdir',
  SyncDir: 'syncDir',
  SetMtime: 'setMtime',
  Size: 'size',
  Read: 'read',
  Write: 'write',
  Truncate: 'truncate',
  Datasync: 'datasync',
  Close: 'close',
} as const;
export type OperationKind = (typeof OperationKind)[keyof typeof OperationKind];

/** One recorded call. */
export interface OperationRecord {
  /** Position in the storage's history, from 0. */
  readonly index: number;
  readonly kind: OperationKind;
  readonly path: string;
  /** For rename: the destination. */
  readonly to?: string;
  readonly position?: number;
  readonly length?: number;
  /** The error code, when the call failed by injection or otherwise. */
  readonly error?: string;
  /**
   * A blocking call (`writeSync`, `datasyncSync`): same kind, effects, faults and crash points
   * as the asynchronous one, recorded so a test can tell which path a writer took.
   */
  readonly blocking?: true;
}

/** An injected I/O error: the `nth` call (from 1) that matches `kind` and `path` fails with `code`. */
export interface FaultRule {
  readonly kind?: OperationKind | readonly OperationKind[];
  readonly path?: string | RegExp;
  readonly nth: number;
  readonly code: 'EIO' | 'ENOSPC' | (string & {});
}

/** What a crash does to one unsynced write. */
export type WriteFate =
  | { readonly kind: 'keep' }
  | { readonly kind: 'drop' }
  /**
   * The first `keep mod length` bytes reach the disk, the rest do not. With `garble`, the rest
   * of the 512-byte sector holding the tear is filled with garbage instead of left as it was.
   */
  | { readonly kind: 'torn'; readonly keep: number; readonly garble?: boolean };

/** A write that is not yet durable, as {@link SimulatedStorage.unsyncedWrites} lists it. */
export interface UnsyncedWrite {
  /** Position among all unsynced writes (the index into {@link CrashPlan.writes}). */
  readonly index: number;
  readonly operationIndex: number;
  readonly position: number;
  readonly length: number;
  /** A durable or current name of the file, for messages. */
  readonly path: string;
}

/** What a power loss does to everything not yet durable. */
export interface CrashPlan {
  /**
   * Fate of each unsynced write, by {@link UnsyncedWrite.index}; a shorter list is repeated.
   * A function is called for each write. Default: every unsynced write is dropped.
   */
  readonly writes?: readonly WriteFate[] | ((write: UnsyncedWrite) => WriteFate);
  /**
   * For each directory with unsynced changes (in the order of {@link SimulatedStorage.unsyncedDirectories}),
   * how many of those changes survive, oldest first, taken modulo (changes + 1); a shorter list
   * is repeated. Default: none survive.
   */
  readonly directories?: readonly number[];
  /** Unsynced truncations survive (default true; a dropped one leaves the old size). */
  readonly keepTruncations?: boolean;
}

/** Options of {@link SimulatedStorage}. */
export interface SimulatedStorageOptions {
  /** Operations with this index or later throw {@link SimulatedCrash} and have no effect. */
  readonly crashAt?: number;
  /** Injected I/O errors. */
  readonly faults?: readonly FaultRule[];
  /** Clock for modification times (default: always 0, for determinism). */
  readonly now?: () => number;
  /**
   * What a failed (injected) `datasync` does to the writes it should have made durable.
   * `true` (default, Linux after a writeback error — "fsyncgate"): they are lost for good; the
   * page cache still shows them but the disk never gets them, not even with a later successful
   * datasync. `false`: they stay pending, at the next crash's mercy.
   */
  readonly failedSyncLosesWrites?: boolean;
}

type PendingFileOp =
  | { readonly kind: 'write'; readonly operationIndex: number; readonly position: number; readonly data: Uint8Array }
  | { readonly kind: 'truncate'; readonly operationIndex: number; readonly size: number };

interface FileNode {
  readonly kind: 'file';
  readonly id: number;
  /** Current contents (page cache): `buffer[0, size)`. */
  buffer: Uint8Array;
  size: number;
  /** Contents as of the last datasync. */
  synced: Uint8Array;
  pending: PendingFileOp[];
  /** Writes a failed datasync lost: their ranges keep the disk's old bytes (`base`) for good. */
  lost: { readonly base: Uint8Array; readonly ranges: readonly (readonly [number, number])[] }[];
  mtimeMs: number;
}

interface DirNode {
  readonly kind: 'dir';
  readonly id: number;
  entries: Map<string, Node>;
  durable: Map<string, Node>;
  /** Unsynced changes, each applied atomically: name → node, or undefined for removal. */
  pending: { readonly operationIndex: number; readonly changes: readonly (readonly [string, Node | undefined])[] }[];
  mtimeMs: number;
}

type Node = FileNode | DirNode;

const SECTOR = 512;

/** A small deterministic generator for garbage bytes (mulberry32). */
function garbage(seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let a = seed >>> 0;
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (t ^ (t >>> 14)) & 0xff;
  }
  return out;
}

function applyWrite(target: { bytes: Uint8Array }, position: number, data: Uint8Array): void {
  const end = position + data.length;
  if (end > target.bytes.length) {
    const grown = new Uint8Array(end);
    grown.set(target.bytes, 0);
    target.bytes = grown;
  }
  target.bytes.set(data, position);
}

function applyTruncate(target: { bytes: Uint8Array }, size: number): void {
  if (size <= target.bytes.length) target.bytes = target.bytes.slice(0, size);
  else {
    const grown = new Uint8Array(size);
    grown.set(target.bytes, 0);
    target.bytes = grown;
  }
}

/**
 * A simulated disk implementing core's {@link Storage}. Every call is recorded in
 * {@link SimulatedStorage.operations}; {@link SimulatedStorage.crash} returns the disk a
 * machine could show after losing power at this moment, as a new storage.
 */
export class SimulatedStorage implements Storage {
  private readonly root: DirNode;
  private nextId = 1;
  private readonly log: OperationRecord[] = [];
  private readonly faults: readonly FaultRule[];
  private readonly faultCounts: number[];
  private readonly now: () => number;
  /** @internal */
  readonly failedSyncLosesWrites: boolean;
  private crashAt: number | undefined;
  private crashedAt: number | undefined;
  private readonly handles = new Set<SimulatedFile>();

  constructor(options: SimulatedStorageOptions = {}, root?: DirNode) {
    this.root = root ?? this.newDir();
    this.crashAt = options.crashAt;
    this.faults = options.faults ?? [];
    this.faultCounts = this.faults.map(() => 0);
    this.now = options.now ?? (() => 0);
    this.failedSyncLosesWrites = options.failedSyncLosesWrites ?? true;
  }

  /** Every call made so far, in order. */
  get operations(): readonly OperationRecord[] {
    return this.log;
  }

  /** Whether the simulated machine has lost power (every call now throws {@link SimulatedCrash}). */
  get crashed(): boolean {
    return this.crashedAt !== undefined;
  }

  /** Crash before the operation with this index (counting from the history so far). */
  crashBefore(operationIndex: number): void {
    this.crashAt = operationIndex;
  }

  /** Loses power now: every later call throws {@link SimulatedCrash}. */
  powerOff(): void {
    this.crashedAt ??= this.log.length;
  }

  /** Writes not yet made durable by a datasync, across all files, oldest first. */
  unsyncedWrites(): UnsyncedWrite[] {
    const out: UnsyncedWrite[] = [];
    const names = this.namesOf();
    for (const file of this.allFiles()) {
      for (const op of file.pending) {
        if (op.kind !== 'write') continue;
        out.push({
          index: 0,
          operationIndex: op.operationIndex,
          position: op.position,
          length: op.data.length,
          path: names.get(file) ?? '(unlinked)',
        });
      }
    }
    out.sort((a, b) => a.operationIndex - b.operationIndex);
    return out.map((w, index) => ({ ...w, index }));
  }

  /** Directories with unsynced changes and how many, in the order {@link CrashPlan.directories} uses. */
  unsyncedDirectories(): { readonly path: string; readonly changes: number }[] {
    const out: { path: string; changes: number }[] = [];
    const walk = (dir: DirNode, path: string) => {
      if (dir.pending.length > 0) out.push({ path, changes: dir.pending.length });
      for (const [name, node] of [...dir.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (node.kind === 'dir') walk(node, posix.join(path, name));
      }
    };
    walk(this.root, '/');
    return out;
  }

  /**
   * The disk after a power loss now, as a fresh storage (with its own history, everything on it
   * durable). This storage is crashed from then on. May be called several times with different
   * plans: the pre-crash state is not changed.
   */
  crash(plan: CrashPlan = {}, options: SimulatedStorageOptions = {}): SimulatedStorage {
    this.powerOff();
    const writes = this.unsyncedWrites();
    const fateOf = new Map<number, WriteFate>();
    for (const write of writes) {
      let fate: WriteFate;
      if (typeof plan.writes === 'function') fate = plan.writes(write);
      else if (plan.writes && plan.writes.length > 0) fate = plan.writes[write.index % plan.writes.length]!;
      else fate = { kind: 'drop' };
      fateOf.set(write.operationIndex, fate);
    }
    const dirKeep = new Map<DirNode, number>();
    const dirs = this.unsyncedDirectoryNodes();
    dirs.forEach((dir, i) => {
      const list = plan.directories ?? [];
      const wanted = list.length > 0 ? list[i % list.length]! : 0;
      dirKeep.set(dir, wanted % (dir.pending.length + 1));
    });
    const after = new SimulatedStorage(options);
    const copies = new Map<Node, Node>();
    const copyNode = (node: Node): Node => {
      const known = copies.get(node);
      if (known) return known;
      let copy: Node;
      if (node.kind === 'file') copy = after.newFile(this.survivingData(node, fateOf, plan.keepTruncations ?? true), node.mtimeMs);
      else {
        const dir = after.newDir();
        dir.mtimeMs = node.mtimeMs;
        copies.set(node, dir);
        const entries = new Map(node.durable);
        for (const change of node.pending.slice(0, dirKeep.get(node) ?? 0)) {
          for (const [name, target] of change.changes) {
            if (target === undefined) entries.delete(name);
            else entries.set(name, target);
          }
        }
        for (const [name, target] of entries) {
          const child = copyNode(target);
          dir.entries.set(name, child);
          dir.durable.set(name, child);
        }
        copy = dir;
      }
      copies.set(node, copy);
      return copy;
    };
    const root = copyNode(this.root) as DirNode;
    after.root.entries = root.entries;
    after.root.durable = root.durable;
    return after;
  }

  /**
   * Makes `path` a durable file holding `bytes` (test setup; not recorded). Parents are
   * created.
   */
  putFile(path: string, bytes: Uint8Array): void {
    const { dir, name } = this.parentOf(posix.resolve('/', path), true);
    const file = this.newFile(bytes.slice(), this.now());
    dir.entries.set(name, file);
    dir.durable.set(name, file);
  }

  /** The current (page cache) contents of `path`, or undefined (test inspection; not recorded). */
  peekFile(path: string): Uint8Array | undefined {
    const node = this.lookup(posix.resolve('/', path));
    return node?.kind === 'file' ? node.buffer.slice(0, node.size) : undefined;
  }

  /**
   * Media damage, not a crash: XORs the byte at `offset` of `path` with `mask` in both the
   * durable and the current contents (test setup; not recorded).
   */
  damage(path: string, offset: number, mask = 0xff): void {
    const node = this.lookup(posix.resolve('/', path));
    if (node?.kind !== 'file' || offset >= node.size) throw new Error(`cannot damage ${path} at ${offset}`);
    node.buffer[offset] = node.buffer[offset]! ^ mask;
    if (offset < node.synced.length) node.synced[offset] = node.synced[offset]! ^ mask;
  }

  // Storage ----------------------------------------------------------------------------------

  async open(path: string, mode: OpenMode): Promise<StorageFile> {
    const p = posix.resolve('/', path);
    this.begin(OperationKind.Open, p);
    const { dir, name } = this.parentOf(p, false, 'open');
    let node = dir.entries.get(name);
    if (mode === 'create-exclusive') {
      if (node) throw this.fail('EEXIST', 'open', p);
      node = this.newFile(new Uint8Array(0), this.now());
      this.changeDir(dir, [[name, node]]);
    } else if (!node) throw this.fail('ENOENT', 'open', p);
    if (node.kind === 'dir') throw this.fail('EISDIR', 'open', p);
    const file = new SimulatedFile(this, node, p, mode !== 'read');
    this.handles.add(file);
    return file;
  }

  async stat(path: string): Promise<FileInfo | undefined> {
    const p = posix.resolve('/', path);
    this.begin(OperationKind.Stat, p);
    const node = this.lookup(p);
    if (!node) return undefined;
    return {
      size: node.kind === 'file' ? node.size : 4096,
      mtimeMs: node.mtimeMs,
      isFile: node.kind === 'file',
      isDirectory: node.kind === 'dir',
      isSymbolicLink: false,
    };
  }

  async rename(from: string, to: string): Promise<void> {
    const f = posix.resolve('/', from);
    const t = posix.resolve('/', to);
    this.begin(OperationKind.Rename, f, { to: t });
    const source = this.parentOf(f, false, 'rename');
    const target = this.parentOf(t, false, 'rename');
    const node = source.dir.entries.get(source.name);
    if (!node) throw this.fail('ENOENT', 'rename', f);
    const existing = target.dir.entries.get(target.name);
    if (existing?.kind === 'dir') throw this.fail('EISDIR', 'rename', t);
    if (f === t) return;
    if (source.dir === target.dir) {
      this.changeDir(source.dir, [
        [target.name, node],
        [source.name, undefined],
      ]);
    } else {
      // Two directories: each change is durable with its own directory's sync.
      this.changeDir(target.dir, [[target.name, node]]);
      this.changeDir(source.dir, [[source.name, undefined]]);
    }
  }

  async unlink(path: string): Promise<void> {
    const p = posix.resolve('/', path);
    this.begin(OperationKind.Unlink, p);
    const { dir, name } = this.parentOf(p, false, 'unlink');
    const node = dir.entries.get(name);
    if (!node) throw this.fail('ENOENT', 'unlink', p);
    if (node.kind === 'dir') throw this.fail('EISDIR', 'unlink', p);
    this.changeDir(dir, [[name, undefined]]);
  }

  async mkdir(path: string): Promise<void> {
    const p = posix.resolve('/', path);
    this.begin(OperationKind.Mkdir, p);
    let dir = this.root;
    for (const part of p.split('/').filter(Boolean)) {
      const next = dir.entries.get(part);
      if (next?.kind === 'file') throw this.fail('ENOTDIR', 'mkdir', p);
      if (next) dir = next;
      else {
        const made = this.newDir();
        made.mtimeMs = this.now();
        dir.entries.set(part, made);
        dir.durable.set(part, made);
        dir = made;
      }
    }
  }

  async readdir(path: string): Promise<string[]> {
    const p = posix.resolve('/', path);
    this.begin(OperationKind.Readdir, p);
    const node = this.lookup(p);
    if (!node) throw this.fail('ENOENT', 'readdir', p);
    if (node.kind !== 'dir') throw this.fail('ENOTDIR', 'readdir', p);
    return [...node.entries.keys()];
  }

  async syncDir(path: string): Promise<void> {
    const p = posix.resolve('/', path);
    this.begin(OperationKind.SyncDir, p);
    const node = this.lookup(p);
    if (!node) throw this.fail('ENOENT', 'syncDir', p);
    if (node.kind !== 'dir') throw this.fail('ENOTDIR', 'syncDir', p);
    node.durable = new Map(node.entries);
    node.pending = [];
  }

  async setMtime(path: string, mtimeMs: number): Promise<void> {
    const p = posix.resolve('/', path);
    this.begin(OperationKind.SetMtime, p);
    const node = this.lookup(p);
    if (!node) throw this.fail('ENOENT', 'setMtime', p);
    node.mtimeMs = mtimeMs;
  }

  // Internals used by SimulatedFile ------------------------------------------------------------

  /** @internal Records an operation; throws a crash or an injected fault. */
  begin(kind: OperationKind, path: string, extra: { to?: string; position?: number; length?: number; blocking?: true } = {}): number {
    if (this.crashedAt !== undefined) throw new SimulatedCrash(this.crashedAt);
    const index = this.log.length;
    if (this.crashAt !== undefined && index >= this.crashAt) {
      this.crashedAt = index;
      throw new SimulatedCrash(index);
    }
    const record: OperationRecord = { index, kind, path, ...extra };
    this.log.push(record);
    this.faults.forEach((rule, i) => {
      const kinds = rule.kind === undefined ? undefined : typeof rule.kind === 'string' ? [rule.kind] : rule.kind;
      if (kinds && !kinds.includes(kind)) return;
      if (rule.path !== undefined && !(typeof rule.path === 'string' ? rule.path === path : rule.path.test(path))) return;
      this.faultCounts[i] = this.faultCounts[i]! + 1;
      if (this.faultCounts[i] === rule.nth) {
        this.log[index] = { ...record, error: rule.code };
        throw storageError(rule.code, kind, path);
      }
    });
    return index;
  }

  /** @internal Marks the last operation failed and returns the error. */
  fail(code: string, operation: string, path: string): Error {
    const last = this.log.at(-1);
    if (last) this.log[this.log.length - 1] = { ...last, error: code };
    return storageError(code, operation, path);
  }

  /** @internal */
  touch(node: FileNode): void {
    node.mtimeMs = this.now();
  }

  private newFile(bytes: Uint8Array, mtimeMs: number): FileNode {
    return { kind: 'file', id: this.nextId++, buffer: bytes, size: bytes.length, synced: bytes.slice(), pending: [], lost: [], mtimeMs };
  }

  private newDir(): DirNode {
    return { kind: 'dir', id: this.nextId++, entries: new Map(), durable: new Map(), pending: [], mtimeMs: 0 };
  }

  private changeDir(dir: DirNode, changes: readonly (readonly [string, Node | undefined])[]): void {
    for (const [name, node] of changes) {
      if (node === undefined) dir.entries.delete(name);
      else dir.entries.set(name, node);
    }
    dir.mtimeMs = this.now();
    dir.pending.push({ operationIndex: this.log.length - 1, changes });
  }

  private lookup(path: string): Node | undefined {
    let node: Node = this.root;
    for (const part of path.split('/').filter(Boolean)) {
      if (node.kind !== 'dir') return undefined;
      const next: Node | undefined = node.entries.get(part);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  private parentOf(path: string, create: boolean, operation = 'open'): { dir: DirNode; name: string } {
    const parentPath = posix.dirname(path);
    const name = posix.basename(path);
    let node = this.lookup(parentPath);
    if (!node && create) {
      let dir = this.root;
      for (const part of parentPath.split('/').filter(Boolean)) {
        let next = dir.entries.get(part);
        if (!next) {
          next = this.newDir();
          dir.entries.set(part, next);
          dir.durable.set(part, next);
        }
        if (next.kind !== 'dir') throw storageError('ENOTDIR', operation, path);
        dir = next;
      }
      node = dir;
    }
    if (!node) throw this.fail('ENOENT', operation, path);
    if (node.kind !== 'dir') throw this.fail('ENOTDIR', operation, path);
    return { dir: node, name };
  }

  private *allFiles(): Generator<FileNode> {
    const seen = new Set<Node>();
    const stack: Node[] = [this.root];
    for (const handle of this.handles) stack.push(handle.node);
    while (stack.length > 0) {
      const node = stack.pop()!;
      if (seen.has(node)) continue;
      seen.add(node);
      if (node.kind === 'file') yield node;
      else {
        stack.push(...node.entries.values(), ...node.durable.values());
        for (const change of node.pending) for (const [, target] of change.changes) if (target) stack.push(target);
      }
    }
  }

  private namesOf(): Map<Node, string> {
    const names = new Map<Node, string>();
    const walk = (dir: DirNode, path: string) => {
      for (const map of [dir.entries, dir.durable]) {
        for (const [name, node] of map) {
          const child = posix.join(path, name);
          if (!names.has(node)) names.set(node, child);
          if (node.kind === 'dir') walk(node, child);
        }
      }
    };
    walk(this.root, '/');
    return names;
  }

  private unsyncedDirectoryNodes(): DirNode[] {
    return this.unsyncedDirectories().map(({ path }) => this.lookup(path) as DirNode);
  }

  private survivingData(file: FileNode, fates: ReadonlyMap<number, WriteFate>, keepTruncations: boolean): Uint8Array {
    const target = { bytes: file.synced.slice() };
    for (const op of file.pending) {
      if (op.kind === 'truncate') {
        if (keepTruncations) applyTruncate(target, op.size);
        continue;
      }
      const fate = fates.get(op.operationIndex) ?? { kind: 'drop' };
      if (fate.kind === 'drop') continue;
      if (fate.kind === 'keep') {
        applyWrite(target, op.position, op.data);
        continue;
      }
      const keep = op.data.length === 0 ? 0 : fate.keep % op.data.length;
      applyWrite(target, op.position, op.data.subarray(0, keep));
      if (fate.garble) {
        // The sector holding the tear was half written: the rest of it (within this write)
        // holds garbage rather than the old bytes.
        const tear = op.position + keep;
        const sectorEnd = Math.min((Math.floor(tear / SECTOR) + 1) * SECTOR, op.position + op.data.length);
        if (sectorEnd > tear) applyWrite(target, tear, garbage(op.operationIndex * 7919 + keep, sectorEnd - tear));
      }
    }
    return target.bytes;
  }
}

/** An open file of a {@link SimulatedStorage}. */
class SimulatedFile implements StorageFile {
  private closed = false;

  constructor(
    private readonly storage: SimulatedStorage,
    readonly node: FileNode,
    readonly path: string,
    private readonly writable: boolean,
  ) {}

  async size(): Promise<number> {
    this.check(OperationKind.Size);
    return this.node.size;
  }

  async read(position: number, length: number): Promise<Uint8Array> {
    this.check(OperationKind.Read, { position, length });
    const end = Math.min(this.node.size, position + length);
    return end > position ? this.node.buffer.slice(position, end) : new Uint8Array(0);
  }

  async write(data: Uint8Array, position: number): Promise<void> {
    this.writeNow(data, position, {});
  }

  /** The blocking write: the same operation, recorded as blocking. */
  writeSync(data: Uint8Array, position: number): void {
    this.writeNow(data, position, { blocking: true });
  }

  private writeNow(data: Uint8Array, position: number, how: { blocking?: true }): void {
    const index = this.check(OperationKind.Write, { position, length: data.length, ...how });
    if (!this.writable) throw this.storage.fail('EBADF', 'write', this.path);
    const node = this.node;
    const end = position + data.length;
    if (end > node.buffer.length) {
      const grown = new Uint8Array(Math.max(end, node.buffer.length * 2, 256));
      grown.set(node.buffer.subarray(0, node.size), 0);
      node.buffer = grown;
    }
    // Bytes between the old end and `position` read as zeros (a hole).
    if (position > node.size) node.buffer.fill(0, node.size, position);
    node.buffer.set(data, position);
    node.size = Math.max(node.size, end);
    node.pending.push({ kind: 'write', operationIndex: index, position, data: data.slice() });
    this.storage.touch(node);
  }

  async truncate(size: number): Promise<void> {
    const index = this.check(OperationKind.Truncate, { length: size });
    if (!this.writable) throw this.storage.fail('EBADF', 'truncate', this.path);
    const node = this.node;
    if (size > node.buffer.length) {
      const grown = new Uint8Array(size);
      grown.set(node.buffer.subarray(0, node.size), 0);
      node.buffer = grown;
    } else if (size > node.size) node.buffer.fill(0, node.size, size);
    node.size = size;
    node.pending.push({ kind: 'truncate', operationIndex: index, size });
    this.storage.touch(node);
  }

  async datasync(): Promise<void> {
    this.datasyncNow({});
  }

  /** The blocking fdatasync: the same operation (and the same loss when it fails), recorded as blocking. */
  datasyncSync(): void {
    this.datasyncNow({ blocking: true });
  }

  private datasyncNow(how: { blocking?: true }): void {
    try {
      this.check(OperationKind.Datasync, how);
    } catch (error) {
      if (!(error instanceof SimulatedCrash) && !this.closed && this.storage.failedSyncLosesWrites) this.loseUnsynced();
      throw error;
    }
    const node = this.node;
    const synced = node.buffer.slice(0, node.size);
    // Writes lost by an earlier failed datasync never reach the disk.
    for (const { base, ranges } of node.lost) {
      for (const [start, end] of ranges) {
        for (let i = start; i < Math.min(end, synced.length); i++) synced[i] = i < base.length ? base[i]! : 0;
      }
    }
    node.synced = synced;
    node.pending = [];
    node.lost = [];
  }

  /** A failed writeback: the pending writes are marked clean without reaching the disk. */
  private loseUnsynced(): void {
    const node = this.node;
    const ranges = node.pending.filter((op) => op.kind === 'write').map((op) => [op.position, op.position + op.data.length] as const);
    if (ranges.length > 0) node.lost.push({ base: node.synced.slice(), ranges });
    node.pending = node.pending.filter((op) => op.kind !== 'write');
  }

  async close(): Promise<void> {
    this.check(OperationKind.Close);
    this.closed = true;
  }

  private check(kind: OperationKind, extra: { position?: number; length?: number; blocking?: true } = {}): number {
    const index = this.storage.begin(kind, this.path, extra);
    if (this.closed) throw this.storage.fail('EBADF', kind, this.path);
    return index;
  }
}
