import { InvalidInputError, type AttemptRecord, type CheckpointOwner, type ExtensionReducer, type ListedCheckpoint as StoreRow } from '@ckpt/core';
import { colors, escapeControlChars as safe, formatTime, writeJsonLine, type CliIo } from '../output.js';
import { maskStoreUrl, storeUrlOf, withStore } from '../store.js';
import { explanationOf, restartPointLines } from './inspect.js';

/**
 * Who owns a checkpoint, as the store judges it (core `CheckpointOwner.state`): `live` a running
 * owner (a process of this host, or a store owner with an open session and a lease); `stale`
 * one that is gone (the next run takes over at once); `expired` a store owner whose lease ran
 * out; `remote` a file lock of another host, which cannot be checked from here; `unknown` an
 * owner record that cannot be read; `none` nobody.
 */
export type OwnerState = CheckpointOwner['state'] | 'none';

/** One line of `ckpt list --json`: a checkpoint, or a file or folder that could not be read, with its problem. */
export interface ListedCheckpoint {
  /** Files: the checkpoint's path. */
  readonly file?: string;
  /** Stores: the checkpoint's name. */
  readonly name?: string;
  readonly kind?: string;
  readonly id?: string;
  readonly version?: string;
  readonly attempts?: number;
  readonly lastAttempt?: AttemptRecord | null;
  /** The last attempt's outcome; `running` or `crashed` when it did not end (owner alive or not). */
  readonly status?: string;
  readonly owner?: {
    readonly state: OwnerState;
    readonly pid?: number;
    readonly host?: string;
    readonly since?: number;
    readonly epoch?: number;
    readonly leaseExpiresAt?: number;
    readonly problem?: string;
  };
  /** Where the next attempt starts, one sentence each, as `ckpt inspect` shows it. */
  readonly restart?: readonly string[];
  readonly problem?: string;
}

/** `ckpt list [DIR | --store URL] [--json]`: every checkpoint under DIR or in the store. Reads only: nothing is changed, no owner taken. */
export async function listCommand(dir: string | undefined, options: { json?: boolean; store?: string }, io: CliIo): Promise<number> {
  const url = storeUrlOf(options.store);
  if (url !== undefined && dir !== undefined) {
    throw new InvalidInputError(`ckpt list ${dir} --store ${maskStoreUrl(url)}: give a directory or a store, not both`, {
      hint: `a store has no directories; to list files while $CKPT_STORE is set, pass --store ""`,
    });
  }
  const root = dir ?? '.';
  const rows: ListedCheckpoint[] = [];
  // The control-flow reducer folds `--rerun` records, which the restart point accounts for.
  const { controlFlowReducer } = await import('@ckpt/control-flow');
  await withStore(url, async (store) => {
    for await (const found of store.list({ ...(url === undefined && { under: root }), reducers: [controlFlowReducer as ExtensionReducer] })) {
      const row = await describe(found, url !== undefined);
      if (options.json) writeJsonLine(io, row);
      else rows.push(row);
    }
  });
  if (!options.json) io.stdout.write(renderTable(url === undefined ? root : maskStoreUrl(url), rows));
  return 0;
}

/** One checkpoint's row; a checkpoint that cannot be read is a row with its problem. */
async function describe(found: StoreRow, inStore: boolean): Promise<ListedCheckpoint> {
  const where = inStore ? { name: found.name } : { file: found.name };
  const owner: NonNullable<ListedCheckpoint['owner']> = found.owner === undefined ? { state: 'none' } : ownerRow(found.owner);
  const { reading } = found;
  if (reading === undefined)
    return {
      ...where,
      ...(found.owner !== undefined || found.problem?.startsWith('cannot list') !== true ? { owner } : {}),
      problem: found.problem ?? 'unreadable',
    };
  const { identity, state } = reading;
  const last = state.attempts.at(-1);
  const explanation = await explanationOf(reading).catch(() => undefined);
  return {
    ...where,
    kind: identity.kind,
    id: identity.id,
    version: identity.version,
    attempts: state.attempts.length,
    lastAttempt: last ?? null,
    status: last === undefined ? 'none' : (last.outcome ?? (owner.state === 'live' || owner.state === 'remote' ? 'running' : 'crashed')),
    owner,
    restart: restartPointLines(state, explanation),
    ...(reading.tail !== undefined && {
      problem: `torn tail: ${reading.tail.bytes} bytes after the last valid record (the next writer truncates them)`,
    }),
  };
}

function ownerRow(owner: CheckpointOwner): NonNullable<ListedCheckpoint['owner']> {
  if (owner.state === 'unknown')
    return { state: 'unknown', ...(owner.since > 0 && { since: owner.since }), ...(owner.problem !== undefined && { problem: owner.problem }) };
  return {
    state: owner.state,
    pid: owner.pid,
    host: owner.host,
    since: owner.since,
    ...(owner.epoch !== undefined && { epoch: owner.epoch }),
    ...(owner.leaseExpiresAt !== undefined && { leaseExpiresAt: owner.leaseExpiresAt }),
  };
}

function ownerText(owner: ListedCheckpoint['owner']): string {
  switch (owner?.state) {
    case undefined:
    case 'none':
      return 'none';
    case 'live':
      return owner.leaseExpiresAt !== undefined
        ? `pid ${owner.pid} on ${owner.host} (running, lease until ${formatTime(owner.leaseExpiresAt)})`
        : `pid ${owner.pid} (running)`;
    case 'expired':
      return `pid ${owner.pid} on ${owner.host} (lease ran out)`;
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
  if (rows.length === 0) return `no checkpoints ${root.includes('://') ? 'in' : 'under'} ${safe(root)}\n`;
  const header = ['CHECKPOINT', 'JOB', 'ATTEMPTS', 'LAST ENDED', 'OUTCOME', 'OWNER'];
  // Everything but the headings comes from files anyone may have written: escaped.
  const cells = rows.map((row) =>
    row.kind === undefined
      ? [safe(row.file ?? row.name ?? ''), '-', '-', '-', 'unreadable', ownerText(row.owner)]
      : [
          safe(row.file ?? row.name ?? ''),
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
