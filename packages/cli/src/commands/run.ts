import { dirname, isAbsolute, resolve } from 'node:path';
import {
  Engine,
  InvalidInputError,
  describeTailTruncation,
  formatDuration,
  isCkptError,
  parseDuration,
  type CheckpointStore,
  type CheckpointUsage,
  type CkptEvent,
} from '@ckpt/core/internal';
import {
  ControlFlowRunner,
  closestName,
  coerceText,
  loadPackageFile,
  rerunSelection,
  type Package,
  type PackageRun,
  type RunNotice,
  type StepResult,
  type TaskPlugin,
} from '@ckpt/control-flow';
import type { RunVerbOptions } from '../cli.js';
import { copyTaskPlugin } from './copy-task.js';
import { ExitCode, exitCodeOf } from '../exit-codes.js';
import { onInterrupt } from '../interrupt.js';
import { LiveStatus } from '../live-status.js';
import { adapterOf, connectStore, maskStoreUrl, ownerClaim, scrubPassword, storeUrlOf } from '../store.js';
import { colors, escapeControlChars as safe, reportError, writeJsonLine, type CliIo } from '../output.js';

/** Task plug-ins `ckpt run` offers to packages: the file-transfer runner's `copy`. */
export const runTaskPlugins: readonly TaskPlugin[] = [copyTaskPlugin as TaskPlugin];

function pairs(values: readonly string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const text of values ?? []) {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new InvalidInputError(`${flag} "${text}" is not NAME=VALUE`, { hint: `write it as ${flag} name=value` });
    const name = text.slice(0, eq);
    // An object would drop `__proto__` silently (the assignment sets the prototype instead).
    if (name === '__proto__') throw new InvalidInputError(`${flag} __proto__=...: "__proto__" cannot be a name`, { hint: 'use another name' });
    out[name] = text.slice(eq + 1);
  }
  return out;
}

/**
 * Refuses `--set` and `--config` names the package does not define: silently captured, a typo
 * (`--config outdir=x` for `outDir`) would stick for every restart. Values are never quoted
 * (a `--set` value may be a secret meant for a sensitive variable).
 */
export function checkSuppliedNames(file: string, pkg: Package, set: Record<string, string>, config: Record<string, string>): void {
  const refuse = (flag: '--set' | '--config', name: string, known: readonly string[]): never => {
    const what = flag === '--set' ? 'variable' : 'config key';
    const suggestion = closestName(name, known);
    throw new InvalidInputError(`unknown ${what} ${name} (${flag} ${name}=...)${suggestion !== undefined ? `; did you mean ${suggestion}?` : ''}`, {
      hint:
        known.length > 0
          ? `the ${flag === '--set' ? 'variables' : 'config keys'} of ${file} are ${known.join(', ')}`
          : `${file} has no ${flag === '--set' ? 'variables: declare it under variables:' : 'config: add it under config:'}`,
    });
  };
  const variables = [...pkg.variables.keys()];
  for (const name of Object.keys(set)) if (!pkg.variables.has(name)) refuse('--set', name, variables);
  const keys = Object.keys(pkg.config);
  for (const name of Object.keys(config)) if (!Object.hasOwn(pkg.config, name)) refuse('--config', name, keys);
}

/**
 * The checkpoint settings after the command line's overrides. `--checkpointing on` is save +
 * usage `always`, and an explicit `--usage` or `--[no-]save-checkpoints` wins over it, as dtexec's
 * `/Restart` does over `/CheckPointing on`: `--checkpointing on --usage if-exists` runs a first
 * attempt and resumes the next.
 */
export function checkpointSettingsOf(
  pkg: Package,
  options: RunVerbOptions,
  inStore = false,
): { path: string; usage: CheckpointUsage; save: boolean; retentionMs?: number } {
  const on = options.checkpointing === 'on';
  const usage: CheckpointUsage = options.usage ?? (on ? 'always' : pkg.checkpoint.usage);
  const save = options.saveCheckpoints ?? (on ? true : pkg.checkpoint.save);
  // In a store a checkpoint is named, not located: the name is used as given, as a key.
  // In files, --checkpoint-file is relative to the working directory; checkpoint.file to the package's folder.
  const path = inStore
    ? (options.checkpointFile ?? pkg.checkpoint.file ?? pkg.id)
    : options.checkpointFile !== undefined
      ? resolve(options.checkpointFile)
      : pkg.checkpoint.file !== undefined
        ? isAbsolute(pkg.checkpoint.file)
          ? pkg.checkpoint.file
          : resolve(pkg.baseDir, pkg.checkpoint.file)
        : resolve(pkg.baseDir, '.ckpt', `${pkg.id}.ckpt`);
  return { path, usage, save, ...(pkg.checkpoint.retentionMs !== undefined && { retentionMs: pkg.checkpoint.retentionMs }) };
}

/** `--wait DURATION`; a value that is not one is most likely the package file written after a bare `--wait`. */
function waitDuration(text: string): number {
  try {
    return parseDuration(text, '--wait');
  } catch (error) {
    throw new InvalidInputError(`--wait: "${text}" is not a duration`, {
      cause: error,
      hint: '--wait takes an optional duration (e.g. --wait 10m); to wait as long as it takes, write --wait after the package file: ckpt run FILE --wait',
    });
  }
}

/** Why these settings cannot restart from the point of failure, or undefined when they can. */
export function restartAdvice(settings: { usage: CheckpointUsage; save: boolean }): string | undefined {
  if (!settings.save) {
    return 'checkpoints are not saved (checkpoint.save is false): if this run fails, the next run starts from the beginning. Set checkpoint.save: true and checkpoint.usage: if-exists (or pass --save-checkpoints --usage if-exists) to restart from the point of failure.';
  }
  if (settings.usage === 'never') {
    return 'checkpoint.usage is never: every run starts from the beginning and replaces the checkpoint. Set checkpoint.usage: if-exists (or pass --usage if-exists) to restart from the point of failure.';
  }
  return undefined;
}

/** `ckpt run PACKAGE-FILE`: runs a control-flow package with checkpoint restart. */
export async function runCommand(file: string, options: RunVerbOptions, io: CliIo, plugins: readonly TaskPlugin[] = runTaskPlugins): Promise<number> {
  const pkg = await loadPackageFile(file, { plugins });
  const set = pairs(options.set, '--set');
  const config = pairs(options.config, '--config');
  checkSuppliedNames(file, pkg, set, config);
  // A value that does not fit its variable's type is a bad argument: refuse it before any work.
  for (const [name, text] of Object.entries(set)) {
    const decl = pkg.variables.get(name);
    if (decl !== undefined) coerceText(name, decl.type, text, { sensitive: decl.sensitive });
  }
  const forceText = pairs(options.forceResult, '--force-result');
  const forceResults: Record<string, StepResult> = {};
  for (const [step, result] of Object.entries(forceText)) {
    if (!pkg.stepsById.has(step))
      throw new InvalidInputError(`--force-result ${step}=${result}: ${file} has no step "${step}"`, {
        hint: `the steps are: ${[...pkg.stepsById.keys()].join(', ')}`,
      });
    if (result !== 'success' && result !== 'failure' && result !== 'completion') {
      throw new InvalidInputError(`--force-result ${step}=${result}: expected success, failure or completion`);
    }
    forceResults[step] = result;
  }
  const rerun = [...(options.rerun ?? [])];
  for (const step of rerun) {
    if (!pkg.stepsById.has(step)) {
      const closest = closestName(step, pkg.stepsById.keys());
      throw new InvalidInputError(`--rerun ${step}: ${file} has no step "${step}"`, {
        hint: closest !== undefined ? `did you mean --rerun ${closest}?` : 'name a step id of the package',
      });
    }
    // Only onError handler steps are outside the order a rerun follows.
    if (!rerunSelection(pkg, [step]).includes(step)) {
      throw new InvalidInputError(
        `--rerun ${step}: "${step}" is a step of an onError handler, which runs when a failure fires it, not from the checkpoint`,
        { hint: 'name the step whose failure fires the handler, or a step before it' },
      );
    }
  }
  const storeUrl = storeUrlOf(options.store);
  if (storeUrl !== undefined) adapterOf(storeUrl);
  const leaseMs = options.lease !== undefined ? parseDuration(options.lease, '--lease') : undefined;
  if (leaseMs !== undefined && leaseMs <= 0)
    throw new InvalidInputError(`--lease ${options.lease}: a lease must be longer than 0`, { hint: 'e.g. --lease 30s (the default)' });
  // --wait alone waits as long as the owner runs; --wait DURATION at most that long.
  const waitMs = options.wait === undefined ? undefined : options.wait === true ? Number.POSITIVE_INFINITY : waitDuration(options.wait);
  const settings = checkpointSettingsOf(pkg, options, storeUrl !== undefined);
  const secretKey = options.secretKey ?? process.env['CKPT_SECRET_KEY'];
  // A reader that goes away (`ckpt run --json | head`) does not stop the run: the entry point
  // drops the lost output (output.ts, tolerateClosedOutput) and the run keeps recording.
  const view = options.json ? new JsonView(io) : new HumanView(io, pkg);

  const controller = new AbortController();
  const stopListening = onInterrupt(io, (signal) => {
    view.interrupting(signal);
    controller.abort();
  });
  let store: CheckpointStore | undefined;
  try {
    // Connecting is part of opening: an unreachable store is refused before any step (exit 2).
    store = await connectStore(storeUrl);
    const runner = new ControlFlowRunner({ plugins });
    const execution = await new Engine({ store }).open<PackageRun, void, RunNotice>(
      runner,
      { package: pkg, set, config, forceResults, rerun },
      {
        // The user named this path: a link there is followed, so both names share one lock.
        checkpoint: {
          path: settings.path,
          followLink: true,
          usage: settings.usage,
          save: settings.save,
          owner: ownerClaim(),
          ...(settings.retentionMs !== undefined && { retentionMs: settings.retentionMs }),
          ...(leaseMs !== undefined && { leaseMs }),
          ...(waitMs !== undefined && { lockWaitMs: waitMs }),
        },
        signal: controller.signal,
        ...(secretKey !== undefined && secretKey !== '' && { secretKey }),
      },
    );
    const shown: Settings = { ...settings, ...(storeUrl !== undefined && { store: maskStoreUrl(storeUrl) }) };
    view.started(pkg, shown, execution.checkpoint.resumed, restartAdvice(settings));
    // Recovery never drops a tail silently: say what it dropped (it is also in the log).
    const truncated = execution.checkpoint.recovery?.truncatedTail;
    if (truncated !== undefined) view.notice({ kind: 'warning', message: describeTailTruncation(settings.path, truncated) });
    // What the runner says for views, and what this run records (as the log holds it: sealed, stamped).
    execution.notices().subscribe((notice) => view.notice(notice));
    // entries() first replays the file: the run starts once it has (the last record on disk at
    // open is seen), so records and notices are shown in the order they happen.
    const onDisk = execution.checkpoint.log.durableSeq;
    let replayed = () => undefined as void;
    const caughtUp = new Promise<void>((resolve) => (replayed = resolve));
    if (onDisk <= 0) replayed();
    const recorded = new Promise<void>((done) => {
      execution.entries().subscribe({
        next: (entry) => {
          if (entry.seq >= onDisk) replayed();
          if (!entry.replayed && entry.kind === 'event') view.recorded(entry.event);
        },
        complete: () => (replayed(), done()),
        error: () => (replayed(), done()),
      });
    });
    await caughtUp;
    const result = await execution.run();
    // Every record of the run is shown before its end.
    await recorded;
    if (storeUrl !== undefined && result.error !== undefined) scrubPassword(result.error, storeUrl);
    const code =
      result.outcome === 'success'
        ? ExitCode.Ok
        : result.outcome === 'interrupted'
          ? ExitCode.Interrupted
          : isCkptError(result.error, 'invalid')
            ? ExitCode.Refused
            : ExitCode.Failed;
    view.ended(pkg, shown, result, code);
    return code;
  } catch (error) {
    if (storeUrl !== undefined) scrubPassword(error, storeUrl);
    if (options.json) {
      writeJsonLine(io, {
        type: 'run-refused',
        error: error instanceof Error ? error.message.split('\n')[0] : String(error),
        exitCode: exitCodeOf(error),
      });
    }
    throw error;
  } finally {
    stopListening();
    await store?.close().catch(() => undefined);
  }
}

/** The checkpoint settings as the views show them: with the store (URL masked) when it is not files. */
type Settings = ReturnType<typeof checkpointSettingsOf> & { readonly store?: string };

/** Where the checkpoint is, for people: a file's path, or a store's name and the store. */
function whereOf(settings: Settings): string {
  return settings.store === undefined ? settings.path : `${settings.path} in ${settings.store}`;
}
type Result = Awaited<ReturnType<Awaited<ReturnType<Engine['open']>>['run']>>;

interface View {
  started(pkg: Package, settings: Settings, resumed: boolean, advice: string | undefined): void;
  notice(notice: RunNotice): void;
  /** An event this run recorded. */
  recorded(event: CkptEvent): void;
  interrupting(signal: string): void;
  ended(pkg: Package, settings: Settings, result: Result, code: number): void;
}

/** `--json`: one JSON object per line — recorded events and the run view's notices (their `kind` as `type`). */
class JsonView implements View {
  constructor(private readonly io: CliIo) {}
  started(pkg: Package, settings: Settings, resumed: boolean, advice: string | undefined): void {
    writeJsonLine(this.io, {
      type: 'run-started',
      package: pkg.id,
      version: pkg.version,
      checkpoint: settings.path,
      ...(settings.store !== undefined && { store: settings.store }),
      usage: settings.usage,
      save: settings.save,
      resumed,
    });
    if (advice !== undefined) writeJsonLine(this.io, { type: 'warning', message: advice });
  }
  notice(notice: RunNotice): void {
    const { kind, ...rest } = notice;
    if (kind !== 'variable') writeJsonLine(this.io, { type: kind, ...rest });
  }
  recorded(event: CkptEvent): void {
    writeJsonLine(this.io, event);
  }
  interrupting(signal: string): void {
    writeJsonLine(this.io, { type: 'interrupting', signal });
  }
  ended(_pkg: Package, settings: Settings, result: Result, code: number): void {
    writeJsonLine(this.io, {
      type: 'run-ended',
      outcome: result.outcome,
      attempt: result.attempt,
      resumed: result.resumed,
      checkpoint: settings.path,
      checkpointRemoved: result.checkpointRemoved,
      exitCode: code,
      ...(result.error !== undefined && { error: result.error.message.split('\n')[0] }),
    });
  }
}

/** The human view: one line per step start and finish, indented by nesting; skips say why. */
class HumanView implements View {
  private readonly c = colors;
  /** On a terminal, the steps running now, redrawn below the log with their elapsed time. */
  private readonly live: LiveStatus | undefined;
  constructor(
    private readonly io: CliIo,
    private readonly pkg: Package,
  ) {
    this.live = io.stdout.isTTY ? new LiveStatus(io.stdout) : undefined;
  }
  private write(line: string): void {
    if (this.live) this.live.log(line);
    else this.io.stdout.write(`${line}\n`);
  }
  /** Units started and not yet finished (containers included). */
  private readonly running = new Set<string>();
  /** Units whose run overlapped another step's: their output lines carry their name. */
  private readonly overlapped = new Set<string>();
  /** Records a start; two running units neither of which contains the other are steps in parallel. */
  private track(unit: string): void {
    const related = (a: string, b: string) =>
      a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`) || a.startsWith(`${b}[`) || b.startsWith(`${a}[`);
    for (const other of this.running) {
      if (!related(unit, other)) {
        this.overlapped.add(unit);
        this.overlapped.add(other);
      }
    }
    this.running.add(unit);
  }
  private indent(unit: string): string {
    return '  '.repeat(unit.split('/').length - 1);
  }
  started(pkg: Package, settings: Settings, resumed: boolean, advice: string | undefined): void {
    if (!resumed)
      this.write(
        this.c.bold(`running ${pkg.id} version ${pkg.version}`) +
          this.c.dim(`  (checkpoint ${settings.save ? whereOf(settings) : 'not saved'}, usage ${settings.usage})`),
      );
    if (advice !== undefined) this.io.stderr.write(`${this.c.yellow('warning:')} ${advice}\n`);
  }
  recorded(event: CkptEvent): void {
    if (event.type === 'control-flow/retry') {
      const e = event as { unit?: unknown; retry?: unknown; of?: unknown; waitMs?: unknown; error?: unknown };
      const unit = String(e.unit);
      this.write(
        `${this.indent(unit)}${this.c.yellow('↻')} retry ${String(e.retry)}/${String(e.of)} of step ${unit} in ${formatDuration(Number(e.waitMs))}: ${this.c.red(safe(String(e.error)))}`,
      );
    }
  }
  notice(n: RunNotice): void {
    const { c } = this;
    switch (n.kind) {
      case 'resuming': {
        const at = [...n.failed, ...n.inFlight];
        this.write(
          c.bold(`resuming ${this.pkg.id} (attempt ${n.attempt}) from its checkpoint: `) +
            `${n.completed.length} unit(s) done and skipped` +
            (at.length > 0 ? `; restarting at ${safe(at.join(', '))}` : '') +
            (n.openScopes.length > 0 ? `; rolling back and rerunning ${safe(n.openScopes.join(', '))}` : ''),
        );
        // The reasons quote recorded errors (a step's stderr): escaped like every replayed text.
        for (const reason of n.explanation) this.write(c.dim(`  · ${safe(reason)}`));
        return;
      }
      case 'step-started':
        this.track(n.unit);
        this.write(`${this.indent(n.unit)}${c.cyan('▶')} ${n.unit}`);
        this.live?.started(n.unit);
        return;
      case 'step-finished': {
        this.live?.finished(n.unit);
        this.running.delete(n.unit);
        this.overlapped.delete(n.unit);
        const mark = n.result === 'failure' ? c.red('✗') : c.green('✓');
        const how =
          n.result === 'failure'
            ? c.red(`failed${n.recorded === 'completed' ? ' (failure path taken)' : ''}`)
            : n.result === 'completion'
              ? 'completed'
              : 'done';
        this.write(
          `${this.indent(n.unit)}${mark} ${n.unit}  ${how}${n.forced ? c.yellow(' (forced)') : ''}  ${c.dim(formatDuration(n.durationMs))}${n.error ? `\n${this.indent(n.unit)}    ${c.red(safe(n.error))}` : ''}`,
        );
        return;
      }
      case 'step-skipped':
        this.write(
          n.reason === 'checkpoint'
            ? `${this.indent(n.unit)}${c.dim('↷')} ${n.unit}  ${c.dim(`skipped: the checkpoint has it (${n.result ?? 'done'})`)}`
            : `${this.indent(n.unit)}${c.dim('-')} ${n.unit}  ${c.dim('not run: its precedence constraints are not met')}`,
        );
        return;
      case 'rollback':
        this.write(c.yellow(`↺ rolling back ${n.step}${n.reason === 'left-open' ? ' (left open by an interrupted attempt)' : ''}`));
        return;
      case 'handler':
        this.write(c.yellow(`⚑ onError of ${n.container} fires for ${n.failedUnit}`));
        return;
      case 'output':
        // A step's output is data, not terminal commands: shown escaped, as `ckpt events` shows it.
        // While steps run in parallel their lines interleave: each says whose it is.
        this.write(`${this.indent(n.unit)}    ${c.dim('│')} ${this.overlapped.has(n.unit) ? `${c.dim(`[${n.unit}]`)} ` : ''}${safe(n.line)}`);
        return;
      case 'warning':
        this.io.stderr.write(`${c.yellow('warning:')} ${safe(n.message)}\n`);
        return;
      case 'variable':
        return;
    }
  }
  interrupting(signal: string): void {
    this.live?.stop();
    this.io.stderr.write(`${this.c.yellow(`${signal}: stopping; recording what is done…`)}\n`);
  }
  ended(pkg: Package, settings: Settings, result: Result, code: number): void {
    this.live?.stop();
    const { c } = this;
    if (result.outcome === 'success') {
      this.write(c.green(`✓ ${pkg.id} succeeded`) + c.dim(` (attempt ${result.attempt}${result.checkpointRemoved ? ', checkpoint deleted' : ''})`));
    } else if (result.outcome === 'interrupted') {
      this.io.stderr.write(
        `${c.yellow(`■ ${pkg.id} interrupted`)}; ${settings.save ? `progress is in ${whereOf(settings)}; rerun the same command to resume` : 'checkpoints are not saved; a rerun starts over'}\n`,
      );
    } else {
      if (result.error !== undefined && code === ExitCode.Refused) reportError(this.io, result.error);
      else this.io.stderr.write(`${c.red('✗')} ${safe(result.error?.message.split('\n')[0] ?? `${pkg.id} failed`)}\n`);
      this.io.stderr.write(
        settings.save
          ? `${c.dim(`checkpoint kept at ${whereOf(settings)}; rerun${settings.usage === 'never' ? ' with --usage if-exists' : ''} to resume from the point of failure`)}\n`
          : `${c.dim('checkpoints are not saved; a rerun starts from the beginning')}\n`,
      );
    }
  }
}

/** The folder a package file's relative paths resolve against. */
export function packageFolder(file: string): string {
  return dirname(resolve(file));
}
