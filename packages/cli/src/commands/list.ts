import { constants, promises as fs, type Dirent } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { FileLocker, InvalidInputError, JOURNAL_TEMPORARY_SUFFIX, MAGIC, isDeadLocalOwner, type AttemptRecord, type ExtensionReducer } from '@ckpt/core/internal';
import { colors, escapeControlChars as safe, formatTime, writeJsonLine, type CliIo } from '../output.js';
import { explanationOf, restartPointLines } from './inspect.js';
import { readCheckpointForViewing } from './read-checkpoint.js';

/** Folders never searched: other people's trees, not where ckpt keeps checkpoints. */
const SKIPPED_FOLDERS = new Set(['node_modules', '.git']);

/**
 * Who holds a checkpoint's writer lock, judged as the lock itself judges it (core
 * `FileLocker.owner` and `isDeadLocalOwner`): `live` a running process of this host; `stale`
 * a process of this host that is gone (the next run takes the lock over at once); `remote`
 * a process of another host, which cannot be checked from here; `unknown` a lock without an
 * owner record, or one that cannot be read; `none` no lock.
 */
export type OwnerState = 'live' | 'stale' | 'remote' | 'unknown' | 'none';

/** One line of `ckpt list --json`: a checkpoint, or a file or folder that could not be read, with its problem. */
export interface ListedCheckpoint {
  readonly file: string;
  readonly kind?: string;
  readonly id?: string;
  readonly version?: string;
  readonly attempts?: number;
  readonly lastAttempt?: AttemptRecord | null;
  /** The last attempt's outcome; `running` or `crashed` when it did not end (owner alive or not). */
  readonly status?: string;
  readonly owner?: { readonly state: OwnerState; readonly pid?: number; readonly host?: string; readonly since?: number; readonly problem?: string };
  /** Where the next attempt starts, one sentence each, as `ckpt inspect` shows it. */
  readonly restart?: readonly string[];
  readonly problem?: string;
}

/** `ckpt list [DIR] [--json]`: every checkpoint under DIR. Reads only: no file is changed, no lock taken. */
export async function listCommand(dir: string | undefined, options: { json?: boolean }, io: CliIo): Promise<number> {
  const root = dir ?? '.';
  const info = await fs.stat(root).catch(() => undefined);
  if (info === undefined || !info.isDirectory()) {
    throw new InvalidInputError(`${root}: no such directory`, { hint: 'name the directory that holds the checkpoints (default: the current directory)' });
  }
  const rows: ListedCheckpoint[] = [];
  for await (const found of findCheckpoints(root)) {
    const row = 'problem' in found ? found : await describe(found.file);
    if (options.json) writeJsonLine(io, row);
    else rows.push(row);
  }
  if (!options.json) io.stdout.write(renderTable(root, rows));
  return 0;
}

type Found = { readonly file: string } | { readonly file: string; readonly problem: string };

/**
 * Checkpoint files under `dir`, in name order: files named `*.ckpt` (hidden ones included: a
 * partial copy's `.NAME.ckpt`), and other regular files that start with the checkpoint magic
 * (a `checkpoint.file` of any name). Symbolic links are not followed, so a link loop cannot
 * hang the walk; a folder that cannot be read is reported, and the walk goes on.
 */
async function* findCheckpoints(dir: string): AsyncGenerator<Found> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (error) {
    yield { file: dir, problem: `cannot list this folder: ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
    return;
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      // `X.ckpt.lock` is a checkpoint's writer lock, not a place checkpoints are kept.
      if (!SKIPPED_FOLDERS.has(entry.name) && !entry.name.endsWith('.lock') && !entry.name.endsWith('.lock.takeover')) yield* findCheckpoints(path);
    } else if (entry.name.endsWith('.ckpt')) {
      // Whatever it holds: one that is not a readable checkpoint is listed with its problem.
      yield { file: path };
    } else if (entry.isFile() && !JOURNAL_TEMPORARY_SUFFIX.test(entry.name) && (await startsWithMagic(path))) {
      yield { file: path };
    }
  }
}

async function startsWithMagic(path: string): Promise<boolean> {
  try {
    // O_NONBLOCK: a FIFO swapped in after readdir must not block the listing.
    const handle = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const head = new Uint8Array(MAGIC.length);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      return bytesRead === MAGIC.length && MAGIC.every((byte, i) => head[i] === byte);
    } finally {
      await handle.close();
    }
  } catch {
    return false;
  }
}

/** One checkpoint's row; a checkpoint that cannot be read becomes a row with its problem. */
async function describe(file: string): Promise<ListedCheckpoint> {
  const owner = await ownerOf(file);
  let reading;
  try {
    // The control-flow reducer folds `--rerun` records, which the restart point accounts for.
    const { controlFlowReducer } = await import('@ckpt/control-flow');
    reading = await readCheckpointForViewing(file, false, [controlFlowReducer as ExtensionReducer]);
  } catch (error) {
    return { file, owner, problem: firstLine(error) };
  }
  const { identity, state } = reading;
  const last = state.attempts.at(-1);
  const explanation = await explanationOf(reading).catch(() => undefined);
  return {
    file,
    kind: identity.kind,
    id: identity.id,
    version: identity.version,
    attempts: state.attempts.length,
    lastAttempt: last ?? null,
    status: last === undefined ? 'none' : (last.outcome ?? (owner.state === 'live' || owner.state === 'remote' ? 'running' : 'crashed')),
    owner,
    restart: restartPointLines(state, explanation),
    ...(reading.tailBytes > 0 && { problem: `torn tail: ${reading.tailBytes} bytes after the last valid record (the next writer truncates them)` }),
  };
}

async function ownerOf(file: string): Promise<NonNullable<ListedCheckpoint['owner']>> {
  let owner;
  try {
    // Reads the lock folder's owner record; never takes or removes the lock.
    owner = await new FileLocker().owner(file);
  } catch (error) {
    return { state: 'unknown', problem: firstLine(error) };
  }
  if (owner === undefined) return { state: 'none' };
  if (owner.pid === -1) return { state: 'unknown', since: owner.since, problem: 'the lock has no owner record' };
  const who = { pid: owner.pid, host: owner.host, since: owner.since };
  if (isDeadLocalOwner(owner)) return { state: 'stale', ...who };
  return { state: owner.host === hostname() ? 'live' : 'remote', ...who };
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
}

function ownerText(owner: ListedCheckpoint['owner']): string {
  switch (owner?.state) {
    case undefined:
    case 'none':
      return 'none';
    case 'live':
      return `pid ${owner.pid} (running)`;
    case 'stale':
      return `stale (pid ${owner.pid} is gone)`;
    case 'remote':
      return `pid ${owner.pid} on ${owner.host} (not checked)`;
    case 'unknown':
      return `locked (${owner.problem ?? 'owner unknown'})`;
  }
}

/** The human view: a table, each checkpoint followed by where its next attempt starts. */
function renderTable(root: string, rows: readonly ListedCheckpoint[]): string {
  if (rows.length === 0) return `no checkpoints under ${safe(root)}\n`;
  const header = ['CHECKPOINT', 'JOB', 'ATTEMPTS', 'LAST ENDED', 'OUTCOME', 'OWNER'];
  // Everything but the headings comes from files anyone may have written: escaped.
  const cells = rows.map((row) =>
    row.kind === undefined
      ? [safe(row.file), '-', '-', '-', 'unreadable', ownerText(row.owner)]
      : [
          safe(row.file),
          `${safe(row.kind)} ${safe(row.id ?? '')} v${safe(row.version ?? '')}`,
          String(row.attempts),
          formatTime(row.lastAttempt?.endedAt),
          safe(row.status ?? '-'),
          safe(ownerText(row.owner)),
        ],
  );
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: readonly string[]) => c.map((cell, i) => (i === c.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  const out = [colors.bold(line(header))];
  rows.forEach((row, i) => {
    out.push(line(cells[i]!));
    if (row.problem !== undefined) out.push(colors.yellow(`  problem: ${safe(row.problem)}`));
    if (row.restart !== undefined) out.push(colors.dim(`  next: ${safe(row.restart.join('; '))}`));
  });
  return `${out.join('\n')}\n`;
}
