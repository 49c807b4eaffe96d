import { hostname } from 'node:os';
import { join } from 'node:path';
import { CorruptCheckpointError, InvalidInputError } from '../errors.js';
import { Fold, initialState } from '../fold/fold.js';
import { FileLocker, isDeadLocalOwner } from '../lock/file-locker.js';
import type { Locker } from '../lock/locker.js';
import { MAGIC } from '../log/format.js';
import { JOURNAL_TEMPORARY_SUFFIX } from '../log/journal.js';
import { readLogBytes, readLogPrefix, readWholeFile, type LogReading } from '../log/read-log.js';
import { NodeStorage } from '../storage/node-storage.js';
import { errorCode, type Storage } from '../storage/storage.js';
import { openCheckpoint, removeCheckpointFile, resolveCheckpointPath, type OpenedCheckpoint, type StoreEnvironment } from './checkpoint-store.js';
import type {
  CheckpointOwner,
  CheckpointReading,
  CheckpointStore,
  ListedCheckpoint,
  ListOptions,
  OpenCheckpointOptions,
  ReadCheckpointOptions,
  StorePruneOptions,
} from './port.js';
import { pruneCheckpoints, type PruneReport } from './prune.js';
import { readCheckpointFile } from './read-checkpoint-file.js';

/** Folders {@link FileStore.list} never searches: other people's trees, not where ckpt keeps checkpoints. */
const SKIPPED_FOLDERS = new Set(['node_modules', '.git']);

/**
 * The default {@link CheckpointStore}: one append-only log file per checkpoint, named by its
 * path, with a `<file>.lock` writer lock beside it. The format is docs/log-format.md; this
 * class only routes the port's methods to the file code ({@link openCheckpoint},
 * `readLogBytes`, {@link FileLocker}, `pruneCheckpoints`), so files written through it are
 * byte for byte what they were before the port existed.
 */
export class FileStore implements CheckpointStore {
  readonly description = 'files';
  private readonly storage: Storage;
  private readonly locker: Locker;

  /** `environment`: storage, lock, clock, durability and compaction, as {@link openCheckpoint} takes them. */
  constructor(private readonly environment: Omit<StoreEnvironment, 'store'> = {}) {
    this.storage = environment.storage ?? new NodeStorage();
    this.locker = environment.locker ?? new FileLocker();
  }

  open(options: OpenCheckpointOptions): Promise<OpenedCheckpoint> {
    const reducers = [...(this.environment.reducers ?? []), ...(options.reducers ?? [])];
    return openCheckpoint(
      {
        path: options.name,
        identity: options.identity,
        usage: options.usage,
        save: options.save,
        ...(options.waitMs !== undefined && { lockWaitMs: options.waitMs }),
        ...(options.followLink !== undefined && { followLink: options.followLink }),
        ...(options.checkState !== undefined && { checkState: options.checkState }),
        ...(options.owner !== undefined && { owner: options.owner }),
      },
      { ...this.environment, storage: this.storage, locker: this.locker, reducers },
    );
  }

  async read(name: string, options: ReadCheckpointOptions = {}): Promise<CheckpointReading> {
    const { bytes, mtimeMs } = await this.readBytes(name);
    const fold = new Fold(options.reducers ?? [], 'count');
    const withEntries = options.withEntries === true || options.salvage === true;
    let reading: LogReading;
    try {
      reading = readLogBytes(name, bytes, fold, { withEntries });
    } catch (error) {
      if (!(error instanceof CorruptCheckpointError) || options.salvage !== true) throw error;
      // The same reader, stopped before the damage: what the hint of a corrupt checkpoint promises.
      const prefix = readLogPrefix(name, bytes, fold);
      const damage = prefix.damage ?? error;
      const owner = await this.ownerOf(name);
      return {
        name,
        identity: { kind: '?', id: '?', version: '?', structureHash: '?' },
        createdAt: mtimeMs,
        lastWriteAt: mtimeMs,
        state: initialState(),
        epoch: 0,
        entries: prefix.entries,
        sizeBytes: bytes.length,
        ...(owner !== undefined && { owner }),
        damage: { offset: damage.offset, reason: damage.reason, error: damage },
      };
    }
    const owner = await this.ownerOf(name);
    return fromLogReading(name, reading, mtimeMs, owner);
  }

  async *list(options: ListOptions = {}): AsyncIterable<ListedCheckpoint> {
    const root = options.under ?? '.';
    const info = await this.storage.stat(root).catch(() => undefined);
    if (info === undefined || !info.isDirectory) {
      throw new InvalidInputError(`${root}: no such directory`, {
        hint: 'name the directory that holds the checkpoints (default: the current directory)',
      });
    }
    for await (const found of this.findCheckpoints(root)) {
      if (found.problem !== undefined) {
        yield { name: found.name, problem: found.problem };
        continue;
      }
      const owner = await this.ownerOf(found.name);
      try {
        const reading = await this.read(found.name, options.reducers !== undefined ? { reducers: options.reducers } : {});
        yield { name: found.name, reading, ...(owner !== undefined && { owner }) };
      } catch (error) {
        yield { name: found.name, ...(owner !== undefined && { owner }), problem: firstLine(error) };
      }
    }
  }

  prune(options: StorePruneOptions = {}): Promise<PruneReport> {
    if (options.under === undefined)
      throw new InvalidInputError('pruning files needs the folder to search', { hint: 'name the directory that holds the checkpoints' });
    return pruneCheckpoints(options.under, {
      storage: this.storage,
      locker: this.locker,
      ...(this.environment.now !== undefined && { now: this.environment.now }),
      reducers: [...(this.environment.reducers ?? []), ...(options.reducers ?? [])],
      ...(options.olderThanMs !== undefined && { olderThanMs: options.olderThanMs }),
      ...(options.dryRun !== undefined && { dryRun: options.dryRun }),
      ...(options.companions !== undefined && { companions: options.companions }),
    });
  }

  async delete(name: string): Promise<boolean> {
    const path = this.storage instanceof NodeStorage ? await resolveCheckpointPath(name, { followLink: true }) : name;
    if ((await this.storage.stat(path)) === undefined) return false;
    const lock = await this.locker.acquire(path, { onCompromised: () => undefined });
    try {
      if ((await this.storage.stat(path)) === undefined) return false;
      await removeCheckpointFile(this.storage, path);
      return true;
    } finally {
      await lock.release().catch(() => undefined);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  /** The file's bytes and mtime: the hardened reader for real files (links followed, FIFOs refused), the storage otherwise. */
  private async readBytes(name: string): Promise<{ bytes: Uint8Array; mtimeMs: number }> {
    if (this.storage instanceof NodeStorage) return readCheckpointFile(name);
    const info = await this.storage.stat(name);
    if (info === undefined)
      throw new InvalidInputError(`${name}: no such checkpoint file`, { hint: 'check the path; a checkpoint is deleted when its job succeeds' });
    return { bytes: await readWholeFile(this.storage, name), mtimeMs: info.mtimeMs };
  }

  /**
   * Who holds the checkpoint's writer lock, judged as the lock itself judges it (`isDeadLocalOwner`):
   * undefined when nobody does. Reads the lock's owner record; never takes or removes the lock.
   */
  private async ownerOf(name: string): Promise<CheckpointOwner | undefined> {
    let owner;
    try {
      owner = await this.locker.owner(name);
    } catch (error) {
      return { host: '?', pid: -1, since: 0, state: 'unknown', problem: firstLine(error) };
    }
    if (owner === undefined) return undefined;
    if (owner.pid === -1) return { host: owner.host, pid: -1, since: owner.since, state: 'unknown', problem: 'the lock has no owner record' };
    const who = { host: owner.host, pid: owner.pid, since: owner.since };
    if (isDeadLocalOwner(owner)) return { ...who, state: 'stale' };
    return { ...who, state: owner.host === hostname() ? 'live' : 'remote' };
  }

  /**
   * Checkpoint files under `dir`, in name order: files named `*.ckpt` (hidden ones included: a
   * partial copy's `.NAME.ckpt`), and other regular files that start with the checkpoint magic
   * (a `checkpoint.file` of any name). Symbolic links are not followed, so a link loop cannot
   * hang the walk; a folder that cannot be read is reported, and the walk goes on.
   */
  private async *findCheckpoints(dir: string): AsyncGenerator<{ readonly name: string; readonly problem?: string }> {
    let names: string[];
    try {
      names = await this.storage.readdir(dir);
    } catch (error) {
      yield { name: dir, problem: `cannot list this folder: ${errorCode(error) ?? String(error)}` };
      return;
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      const info = await this.storage.stat(path).catch(() => undefined);
      if (info === undefined) continue;
      if (info.isDirectory) {
        // `X.ckpt.lock` is a checkpoint's writer lock, not a place checkpoints are kept.
        if (!SKIPPED_FOLDERS.has(name) && !name.endsWith('.lock') && !name.endsWith('.lock.takeover')) yield* this.findCheckpoints(path);
      } else if (name.endsWith('.ckpt')) {
        // Whatever it holds: one that is not a readable checkpoint is listed with its problem.
        yield { name: path };
      } else if (info.isFile && !JOURNAL_TEMPORARY_SUFFIX.test(name) && (await this.startsWithMagic(path))) {
        yield { name: path };
      }
    }
  }

  private async startsWithMagic(path: string): Promise<boolean> {
    try {
      // Storage.open never blocks on a FIFO swapped in after readdir, and refuses a link.
      const file = await this.storage.open(path, 'read');
      try {
        const head = await file.read(0, MAGIC.length);
        return head.length === MAGIC.length && MAGIC.every((byte, i) => head[i] === byte);
      } finally {
        await file.close();
      }
    } catch {
      return false;
    }
  }
}

/** The port's reading of a file's {@link LogReading}. */
function fromLogReading(name: string, reading: LogReading, mtimeMs: number, owner: CheckpointOwner | undefined): CheckpointReading {
  return {
    name,
    identity: reading.identity,
    createdAt: reading.header.createdAt,
    lastWriteAt: mtimeMs,
    state: reading.state,
    epoch: reading.epoch,
    ...(reading.entries !== undefined && { entries: reading.entries }),
    ...(owner !== undefined && { owner }),
    sizeBytes: reading.fileSize,
    ...(reading.tailBytes > 0 && { tail: { bytes: reading.tailBytes, offset: reading.validEnd, reason: reading.tailReason ?? 'incomplete record' } }),
    ...(reading.truncatedTails.length > 0 && { truncatedTails: reading.truncatedTails }),
  };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}
