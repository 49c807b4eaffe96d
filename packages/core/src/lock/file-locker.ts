import * as fs from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { CheckpointLockedError, InvalidInputError, StorageIoError } from '../errors.js';
import type { AcquireOptions, LockHandle, LockOwner, Locker } from './locker.js';

const OWNER_FILE = 'owner.json';
/** A takeover mutex older than this belongs to a process that died mid-takeover. */
const TAKEOVER_STALE_MS = 10_000;
const RETRY_DELAY_MS = 50;

/** Linux start time of process `pid` in clock ticks since boot, if /proc tells. */
/** Fields 3 onwards of /proc/PID/stat (Linux), or undefined elsewhere or when PID is gone. */
function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function processStartTime(pid: number): number | undefined {
  const value = Number(procStatFields(pid)?.[19]); // field 22: start time in clock ticks since boot
  return Number.isFinite(value) ? value : undefined;
}

/** A killed process stays a zombie until its parent reaps it; kill(pid, 0) still succeeds. */
function isZombie(pid: number): boolean {
  const state = procStatFields(pid)?.[0]; // field 3: state
  return state === 'Z' || state === 'X';
}

function readOwner(lockDir: string): LockOwner | undefined {
  try {
    // O_NOFOLLOW: a link planted as the owner record must not make us read (and show) another file.
    const fd = fs.openSync(join(lockDir, OWNER_FILE), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    let text: string;
    try {
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string' || typeof parsed.since !== 'number') {
      return undefined;
    }
    return parsed as LockOwner;
  } catch {
    return undefined;
  }
}

/** Whether `owner` is a process of this host that no longer runs. */
export function isDeadLocalOwner(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return false;
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  if (isZombie(owner.pid)) return true;
  // The pid is alive; it is our owner only if it is the same process (not a reused pid).
  const start = processStartTime(owner.pid);
  return owner.processStart !== undefined && start !== undefined && start !== owner.processStart;
}

/** The code our file system gives proper-lockfile for a lock path that is not a plain directory. */
const NOT_A_LOCK = 'ECKPTNOTALOCK';

/**
 * What is at `lockDir` when it is not a directory ckpt could have made (a symbolic link, a
 * file), or undefined when it is a directory or absent. Uses lstat: a link is never followed.
 */
function foreignLockEntry(lockDir: string): string | undefined {
  let info: fs.Stats;
  try {
    info = fs.lstatSync(lockDir);
  } catch {
    return undefined;
  }
  if (info.isSymbolicLink()) return 'a symbolic link';
  if (!info.isDirectory()) return 'not a directory';
  return undefined;
}

function foreignLockError(lockDir: string, what: string): InvalidInputError {
  return new InvalidInputError(`the writer lock ${lockDir} is ${what}; ckpt creates its lock as a directory and never follows a link there`, {
    hint: `nothing was changed; remove ${lockDir} (it was not made by ckpt) and rerun`,
  });
}

/**
 * proper-lockfile takes the lock by creating `<file>.lock` with mkdir and removes it with
 * rmdir. This file system records the owner inside the directory as it is created (so others
 * can say who holds it, and see that the holder died) and removes the record before rmdir.
 */
function ownerRecordingFs(): typeof fs {
  return {
    ...fs,
    mkdir(path: fs.PathLike, callback: (error: NodeJS.ErrnoException | null) => void) {
      fs.mkdir(path, { mode: 0o700 }, (error) => {
        if (!error) {
          const owner: LockOwner = {
            pid: process.pid,
            host: hostname(),
            since: Date.now(),
            ...(processStartTime(process.pid) !== undefined && { processStart: processStartTime(process.pid)! }),
          };
          try {
            fs.writeFileSync(join(String(path), OWNER_FILE), JSON.stringify(owner), { mode: 0o600 });
          } catch {
            // Without the record the lock still excludes others; they just cannot name us.
          }
        }
        callback(error);
      });
    },
    // proper-lockfile stats the lock to judge it stale, then removes it: a planted link must
    // be neither followed (its target's mtime) nor removed through (the owner record inside).
    stat(path: fs.PathLike, callback: (error: NodeJS.ErrnoException | null, stats?: fs.Stats) => void) {
      fs.lstat(path, (error, stats) => {
        if (!error && !stats.isDirectory()) {
          callback(Object.assign(new Error(`${String(path)} is not a lock directory`), { code: NOT_A_LOCK }));
          return;
        }
        callback(error, stats);
      });
    },
    rmdir(path: fs.PathLike, callback: (error: NodeJS.ErrnoException | null) => void) {
      fs.rm(join(String(path), OWNER_FILE), { force: true }, () => fs.rmdir(path, callback));
    },
    rmdirSync(path: fs.PathLike) {
      fs.rmSync(join(String(path), OWNER_FILE), { force: true });
      fs.rmdirSync(path);
    },
  } as unknown as typeof fs;
}

/** Options of {@link FileLocker}. */
export interface FileLockerOptions {
  /** A lock not refreshed for this long (ms) is stale and may be taken over (default 10 s). */
  readonly staleMs?: number;
  /** How often the holder refreshes it (default staleMs / 2). */
  readonly updateMs?: number;
}

/**
 * The real writer lock: proper-lockfile's `<file>.lock` directory, refreshed while held. A
 * lock whose recorded owner is a dead process of this host is taken over at once, instead of
 * after the stale period, so a restart right after kill -9 does not wait.
 */
export class FileLocker implements Locker {
  private readonly fs = ownerRecordingFs();

  constructor(private readonly options: FileLockerOptions = {}) {}

  async owner(file: string): Promise<LockOwner | undefined> {
    const dir = `${file}.lock`;
    const foreign = foreignLockEntry(dir);
    if (foreign !== undefined) throw foreignLockError(dir, foreign);
    return fs.existsSync(dir) ? (readOwner(dir) ?? { pid: -1, host: '?', since: fs.statSync(dir).mtimeMs }) : undefined;
  }

  async acquire(file: string, options: AcquireOptions): Promise<LockHandle> {
    const lockDir = `${file}.lock`;
    const deadline = Date.now() + (options.waitMs ?? 0);
    let compromised = false;
    for (;;) {
      const foreign = foreignLockEntry(lockDir);
      if (foreign !== undefined) throw foreignLockError(lockDir, foreign);
      try {
        const release = await lockfile.lock(file, {
          realpath: false,
          lockfilePath: lockDir,
          stale: this.options.staleMs ?? 10_000,
          ...(this.options.updateMs !== undefined && { update: this.options.updateMs }),
          fs: this.fs,
          onCompromised: (error: Error) => {
            if (compromised) return;
            compromised = true;
            try {
              options.onCompromised(error);
            } catch {
              // A listener's failure must not become an uncaught exception in proper-lockfile's timer.
            }
          },
        });
        return {
          get compromised() {
            return compromised;
          },
          release: async () => {
            if (compromised) return;
            try {
              await release();
            } catch (error) {
              if ((error as NodeJS.ErrnoException).code !== 'ERELEASED') throw error;
            }
          },
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === NOT_A_LOCK) {
          throw foreignLockError(lockDir, foreignLockEntry(lockDir) ?? 'not a directory');
        }
        if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') {
          throw new StorageIoError(lockDir, 'taking the writer lock', { cause: error });
        }
        const owner = readOwner(lockDir);
        if (owner !== undefined && isDeadLocalOwner(owner)) {
          if (!this.takeOver(lockDir, owner)) await sleep(RETRY_DELAY_MS);
          continue;
        }
        if (Date.now() >= deadline) throw new CheckpointLockedError(file, owner);
        await sleep(RETRY_DELAY_MS);
      }
    }
  }

  /**
   * Removes a lock whose owner died. Serialised by a second mkdir-lock so two restarts racing
   * for the same dead lock cannot remove the lock the winner has just taken: under the mutex the
   * owner record is read again and the lock removed only if it still names the dead process.
   */
  private takeOver(lockDir: string, dead: LockOwner): boolean {
    const mutex = `${lockDir}.takeover`;
    try {
      fs.mkdirSync(mutex, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new StorageIoError(mutex, 'mkdir', { cause: error });
      const foreign = foreignLockEntry(mutex);
      if (foreign !== undefined) throw foreignLockError(mutex, foreign);
      try {
        if (Date.now() - fs.statSync(mutex).mtimeMs > TAKEOVER_STALE_MS) fs.rmdirSync(mutex);
      } catch {
        // Someone else finished the takeover meanwhile.
      }
      return false;
    }
    try {
      const current = readOwner(lockDir);
      if (current !== undefined && current.pid === dead.pid && current.host === dead.host && current.since === dead.since) {
        fs.rmSync(join(lockDir, OWNER_FILE), { force: true });
        fs.rmdirSync(lockDir);
      }
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new StorageIoError(lockDir, "removing a dead owner's lock", { cause: error });
      }
      return true;
    } finally {
      fs.rmdirSync(mutex);
    }
  }
}
