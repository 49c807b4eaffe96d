/**
 * The two views of `ckpt run` (the human one and `--json`): what a run shows, from the engine's
 * notices and entries. run.ts drives them; they decide nothing about the run.
 */
import { formatDuration, type CheckpointUsage, type CkptEvent, type RunResult } from '@ckpt/core/internal';
import type { Package, RunNotice } from '@ckpt/control-flow';
import { ExitCode } from '../exit-codes.js';
import { LiveStatus } from '../live-status.js';
import { colors, escapeControlChars as safe, reportError, writeJsonLine, type CliIo } from '../output.js';

/** The checkpoint settings as the views show them: with the store (URL masked) when it is not files. */
export interface Settings {
  readonly path: string;
  readonly usage: CheckpointUsage;
  readonly save: boolean;
  readonly retentionMs?: number;
  /** The store's URL, password masked, when the checkpoint is not in files. */
  readonly store?: string;
}

/** Where the checkpoint is, for people: a file's path, or a store's name and the store. */
function whereOf(settings: Settings): string {
  return settings.store === undefined ? settings.path : `${settings.path} in ${settings.store}`;
}
type Result = RunResult<void>;

/** What `ckpt run` shows of a run: the human view, or `--json`. */
export interface View {
  started(pkg: Package, settings: Settings, resumed: boolean, advice: string | undefined): void;
  notice(notice: RunNotice): void;
  /** An event this run recorded. */
  recorded(event: CkptEvent): void;
  interrupting(signal: string): void;
  ended(pkg: Package, settings: Settings, result: Result, code: number): void;
}

/** `--json`: one JSON object per line — recorded events and the run view's notices (their `kind` as `type`). */
export class JsonView implements View {
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
export class HumanView implements View {
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
