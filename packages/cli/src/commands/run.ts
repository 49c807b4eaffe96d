import { dirname, isAbsolute, resolve } from 'node:path';
import {
  Engine,
  InvalidInputError,
  describeTailTruncation,
  isCkptError,
  parseDuration,
  type CheckpointStore,
  type CheckpointUsage,
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
import { adapterOf, connectStore, maskStoreUrl, ownerClaim, scrubPassword, storeUrlOf } from '../store.js';
import { writeJsonLine, type CliIo } from '../output.js';
import { HumanView, JsonView, type Settings } from './run-view.js';

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

/** The folder a package file's relative paths resolve against. */
export function packageFolder(file: string): string {
  return dirname(resolve(file));
}
