import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  InvalidInputError,
  formatBytes,
  type CheckpointOwner,
  type CheckpointReading,
  type CheckpointState,
  type ExtensionReducer,
} from '@ckpt/core/internal';
import { colors, escapeControlChars as safe, formatTime, writeJsonLine, type CliIo } from '../output.js';
import { maskStoreUrl, storeUrlOf, withStore } from '../store.js';

/**
 * The restart point as core's folded state alone tells it, for a checkpoint of any runner: what
 * the next attempt skips and what it runs again. It does not know the job, so it cannot say
 * more; a runner that does answers a finer question (control-flow's `restartPointOf` reads the
 * package: precedence, rolled-back transactions, `--rerun`s).
 */
export interface GenericRestartPoint {
  /** Units recorded complete: the next attempt skips them. */
  readonly skipped: readonly string[];
  /** Units started and not finished (in flight at a crash): they run again. */
  readonly inFlight: readonly string[];
  /** Units recorded failed: they run again. */
  readonly failed: readonly string[];
  /** Scopes (transactions) left open: rolled back and rerun whole. */
  readonly openScopes: readonly string[];
}

/** The {@link GenericRestartPoint} of a folded state (`ckpt inspect --json`'s `restartPoint`, and the lines for a runner the CLI does not know). */
export function genericRestartPointOf(state: CheckpointState): GenericRestartPoint {
  return {
    skipped: [...state.completed.keys()],
    inFlight: [...state.running.keys()],
    failed: [...state.failed.keys()].filter((unit) => !state.completed.has(unit) && !state.running.has(unit)),
    openScopes: [...state.scopes.keys()],
  };
}

/** A unit's state for the tree view. */
type UnitMark = 'done' | 'failed-done' | 'rerun' | 'running' | 'failed' | 'pending';

/**
 * The units as a tree: unit ids are paths (`per-region[1]/load-region`), so the tree needs no
 * knowledge of the runner. Units inside open scopes are shown as not yet restart points.
 */
export function renderUnitTree(state: CheckpointState, rerun: ReadonlySet<string> = new Set()): string[] {
  const marks = new Map<string, UnitMark>();
  // In the order the units were recorded: completed first, then what the next attempt reruns.
  for (const [unit, record] of state.completed) marks.set(unit, rerun.has(unit) ? 'rerun' : record.outcome === 'success' ? 'done' : 'failed-done');
  for (const unit of state.failed.keys()) if (!marks.has(unit) || marks.get(unit) === 'rerun') marks.set(unit, 'failed');
  for (const unit of state.running.keys()) marks.set(unit, 'running');
  for (const scope of state.scopes.values()) for (const unit of scope.completed.keys()) if (!marks.has(unit)) marks.set(unit, 'pending');
  interface Node {
    readonly children: Map<string, Node>;
    mark?: UnitMark;
  }
  const root: Node = { children: new Map() };
  for (const [unit, mark] of marks) {
    let node = root;
    for (const part of unit.split('/')) {
      let child = node.children.get(part);
      if (child === undefined) node.children.set(part, (child = { children: new Map() }));
      node = child;
    }
    node.mark = mark;
  }
  const symbol: Record<UnitMark, string> = {
    done: colors.green('✓'),
    'failed-done': colors.yellow('✓'),
    rerun: colors.yellow('↻'),
    running: colors.yellow('…'),
    failed: colors.red('✗'),
    pending: colors.dim('○'),
  };
  const note: Record<UnitMark, string> = {
    done: 'completed: skipped on restart',
    'failed-done': 'failed, handled by its failure path: not repeated',
    rerun: 'completed before a --rerun of it: runs again',
    running: 'in flight when the attempt stopped: runs again',
    failed: 'failed: runs again',
    pending: 'completed inside an open scope: not a restart point',
  };
  const lines: string[] = [];
  const walk = (node: Node, prefix: string) => {
    const entries = [...node.children];
    entries.forEach(([name, child], index) => {
      const last = index === entries.length - 1;
      const mark = child.mark;
      lines.push(`${prefix}${last ? '└─ ' : '├─ '}${mark ? `${symbol[mark]} ` : ''}${safe(name)}${mark ? colors.dim(`  ${note[mark]}`) : ''}`);
      walk(child, `${prefix}${last ? '   ' : '│  '}`);
    });
  };
  walk(root, '  ');
  return lines;
}

/** Runner-specific restart point (its explanation, and the units a `--rerun` voided), for runners the CLI knows. */
async function runnerRestartPoint(
  reading: Pick<CheckpointReading, 'identity' | 'state'>,
): Promise<{ readonly explanation: readonly string[]; readonly rerun: readonly string[] } | undefined> {
  if (reading.identity.kind !== 'control-flow') return undefined;
  const { restartPointOf } = await import('@ckpt/control-flow');
  return restartPointOf(reading.state);
}

/** Runner-specific explanation of the restart point, for runners the CLI knows. */
export async function explanationOf(reading: Pick<CheckpointReading, 'identity' | 'state'>): Promise<readonly string[] | undefined> {
  return (await runnerRestartPoint(reading))?.explanation;
}

/** `ckpt inspect CHECKPOINT [--json] [--store URL]`: the folded state of a checkpoint file, or of a named checkpoint in a store. */
export async function inspectCommand(path: string, options: { json?: boolean; html?: string; store?: string }, io: CliIo): Promise<number> {
  // The control-flow reducer folds its `--rerun` records, which the restart point explains.
  const { controlFlowReducer } = await import('@ckpt/control-flow');
  const url = storeUrlOf(options.store);
  const reading = await withStore(url, (store) =>
    store.read(path, { withEntries: options.html !== undefined, reducers: [controlFlowReducer as ExtensionReducer] }),
  );
  const where = url === undefined ? undefined : maskStoreUrl(url);
  if (options.html !== undefined) {
    const { renderTimelineHtml } = await import('./timeline.js');
    await writeTimeline(options.html, renderTimelineHtml(path, reading));
    io.stderr.write(`wrote the timeline of ${reading.state.attempts.length} attempt(s) to ${safe(options.html)}\n`);
  }
  const point = await runnerRestartPoint(reading);
  const explanation = point?.explanation;
  if (options.json) writeJsonLine(io, { ...inspection(path, reading, where), ...(explanation && { explanation }) });
  else io.stdout.write(renderInspection(path, reading, where, explanation, new Set(point?.rerun ?? [])));
  return 0;
}

/** Writes the --html page; a path that cannot be written is refused (exit 2), naming the folder at fault. */
async function writeTimeline(file: string, html: string): Promise<void> {
  try {
    await writeFile(file, html, { mode: 0o600 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const folder = dirname(resolve(file));
    const problem =
      code === 'ENOENT'
        ? `the directory ${folder} does not exist`
        : code === 'ENOTDIR'
          ? `a part of ${folder} is not a directory`
          : code === 'EISDIR'
            ? `${file} is a directory`
            : code === 'EACCES' || code === 'EPERM'
              ? `permission denied in ${folder}`
              : (code ?? String(error));
    throw new InvalidInputError(`--html ${file}: cannot write the timeline: ${problem}`, {
      cause: error,
      hint:
        code === 'ENOENT' ? `create ${folder} first, or name a file in an existing directory` : 'name a file you may write, in an existing directory',
    });
  }
}

function inspection(path: string, reading: CheckpointReading, store: string | undefined) {
  const { state } = reading;
  return {
    // A file is located; a store's checkpoint is named.
    ...(store === undefined ? { file: path } : { name: path, store }),
    identity: reading.identity,
    createdAt: reading.createdAt,
    lastWriteAt: reading.lastWriteAt,
    ...(reading.sizeBytes !== undefined && { sizeBytes: reading.sizeBytes }),
    epoch: reading.epoch,
    ...(reading.owner !== undefined && { owner: reading.owner }),
    eventCount: state.eventCount,
    ...(reading.tail !== undefined && { tornTailBytes: reading.tail.bytes, tornTailReason: reading.tail.reason }),
    ...(reading.truncatedTails !== undefined && reading.truncatedTails.length > 0 && { truncatedTails: reading.truncatedTails }),
    attempts: state.attempts,
    completed: [...state.completed.values()],
    running: [...state.running.values()],
    failed: [...state.failed.values()],
    cursors: [...state.cursors.values()],
    variables: [...state.variables.values()].map(({ sealed, ...variable }) => ({ ...variable, ...(sealed && { sealed: true }) })),
    config: state.config ?? null,
    scopes: [...state.scopes.values()].map((scope) => ({
      ...scope,
      completed: [...scope.completed.keys()],
      cursors: [...scope.cursors.keys()],
      // Names only: a pending value may be sensitive, and the committed ones are in `variables`.
      variables: [...scope.variables.keys()],
    })),
    extensions: Object.fromEntries([...state.extensions.keys()].map((namespace) => [namespace, true])),
    restartPoint: genericRestartPointOf(state),
  };
}

function renderInspection(
  path: string,
  reading: CheckpointReading,
  store: string | undefined,
  explanation: readonly string[] | undefined,
  rerun: ReadonlySet<string>,
): string {
  const { state, identity } = reading;
  const lines: string[] = [];
  const heading = (text: string) => lines.push('', colors.bold(text));
  // Everything below comes from the checkpoint, which may have been written by anyone: escaped.
  lines.push(`${colors.bold('checkpoint')} ${safe(path)}${store !== undefined ? colors.dim(` in ${safe(store)}`) : ''}`);
  lines.push(`  job        ${safe(identity.kind)} "${safe(identity.id)}" version ${safe(identity.version)}`);
  lines.push(`  structure  ${safe(identity.structureHash.slice(0, 16))}`);
  lines.push(`  created    ${formatTime(reading.createdAt)}`);
  lines.push(
    `  size       ${reading.sizeBytes !== undefined ? `${formatBytes(reading.sizeBytes)}, ` : ''}${state.eventCount} events, writer session ${reading.epoch}`,
  );
  if (reading.owner !== undefined) lines.push(`  owner      ${safe(ownerLine(reading.owner))}`);
  if (reading.tail !== undefined) {
    lines.push(
      colors.yellow(
        `  torn tail  ${reading.tail.bytes} bytes after the last valid record (${safe(reading.tail.reason)}); the next writer truncates them and records it`,
      ),
    );
  }
  for (const tail of reading.truncatedTails ?? []) {
    lines.push(
      colors.yellow(
        `  truncated  ${tail.bytes} bytes at offset ${tail.offset}, after record ${tail.lastGoodSeq}, by recovery (${safe(tail.reason)})`,
      ),
    );
  }
  heading(`attempts (${state.attempts.length})`);
  for (const attempt of state.attempts) {
    const outcome = safe(attempt.outcome ?? 'did not end (crashed or killed)');
    const color = attempt.outcome === 'success' ? colors.green : colors.red;
    lines.push(
      `  #${attempt.attempt}  ${formatTime(attempt.startedAt)}  ${color(outcome)}${attempt.error ? `: ${safe(attempt.error.message)}` : ''}`,
    );
  }
  const tree = renderUnitTree(state, rerun);
  heading(`units (${state.completed.size} completed, ${state.running.size} in flight, ${state.failed.size} failed)`);
  lines.push(...(tree.length > 0 ? tree : ['  none recorded yet']));
  if (state.cursors.size > 0) {
    heading('cursors');
    for (const cursor of state.cursors.values()) lines.push(`  ${safe(cursor.unit)}  ${safe(JSON.stringify(cursor.cursor))}`);
  }
  if (state.variables.size > 0) {
    heading('variables');
    for (const variable of state.variables.values()) {
      const shown = variable.sealed
        ? colors.dim('(sensitive, encrypted)')
        : variable.redacted
          ? colors.dim('(sensitive, not persisted)')
          : safe(JSON.stringify(variable.value) ?? 'undefined');
      lines.push(`  ${safe(variable.name)}${variable.valueType ? `: ${safe(variable.valueType)}` : ''} = ${shown}`);
    }
  }
  if (state.config !== undefined) {
    heading('configuration (captured on the first attempt, reused on restart)');
    for (const [key, value] of Object.entries(state.config)) lines.push(`  ${safe(key)} = ${safe(JSON.stringify(value) ?? 'undefined')}`);
  }
  if (state.scopes.size > 0) {
    heading('open scopes (rolled back and rerun whole on restart)');
    for (const scope of state.scopes.values()) {
      const pending = scope.variables.size > 0 ? `; variables set inside (dropped with it): ${[...scope.variables.keys()].map(safe).join(', ')}` : '';
      lines.push(`  ${safe(scope.scope)}  ${safe(scope.kind)}, ${scope.completed.size} units inside${pending}`);
    }
  }
  heading('restart point');
  for (const line of restartPointLines(state, explanation)) lines.push(`  ${safe(line)}`);
  return `${lines.join('\n')}\n`;
}

/** One line about who owns a checkpoint: host, pid, since when, ownership epoch and lease, and whether it is alive. */
export function ownerLine(owner: CheckpointOwner): string {
  const state: Record<CheckpointOwner['state'], string> = {
    live: 'running',
    stale: 'gone: the next run takes over at once',
    expired: 'lease ran out: the next run takes over',
    remote: 'on another host, not checked',
    unknown: owner.problem ?? 'owner unknown',
  };
  return (
    `pid ${owner.pid} on ${owner.host} since ${formatTime(owner.since)}` +
    (owner.epoch !== undefined ? `, ownership epoch ${owner.epoch}` : '') +
    (owner.leaseExpiresAt !== undefined ? `, lease until ${formatTime(owner.leaseExpiresAt)}` : '') +
    ` (${state[owner.state]})`
  );
}

/**
 * Where the next attempt starts, one sentence a line (not escaped), as `ckpt inspect` and
 * `ckpt list` show it: the runner's explanation when there is one ({@link explanationOf}).
 */
export function restartPointLines(state: CheckpointState, explanation: readonly string[] | undefined): string[] {
  if (state.attempts.at(-1)?.outcome === 'success') return ['the last attempt succeeded: nothing to resume (the checkpoint was kept on purpose)'];
  if (explanation !== undefined) return [...explanation];
  const restart = genericRestartPointOf(state);
  const again = [...restart.inFlight, ...restart.failed];
  return [
    `skips ${restart.skipped.length} completed unit(s)`,
    again.length > 0 ? `runs again first: ${again.join(', ')}` : 'runs again: the units not yet recorded complete',
    ...(restart.openScopes.length > 0 ? [`rolls back and reruns: ${restart.openScopes.join(', ')}`] : []),
  ];
}
