import { availableParallelism, hostname, tmpdir } from 'node:os';
import { closeSync, fstatSync, mkdtempSync, openSync, readSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InterruptedError, InvalidInputError, type CkptEvent, type PlainValue, type VariableSet } from '@ckpt/core';
import { formatDuration } from '@ckpt/core/internal';
import type { Attempt } from './attempt.js';
import { cursorAt } from './decide.js';
import { lastLines, runProcess } from './exec-process.js';
import { expandTemplate } from './expression.js';
import { message, type Frame, type StepRun } from './frame.js';
import type { TaskStep } from './model.js';
import type { TaskContext, TaskPlugin } from './task-context.js';

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    return () => {
      this.active--;
      this.waiting.shift()?.();
    };
  }
}

/** Expands templates in every string of a plug-in spec. */
function expandSpec(spec: unknown, expand: (text: string) => string): unknown {
  if (typeof spec === 'string') return expand(spec);
  if (Array.isArray(spec)) return spec.map((v) => expandSpec(v, expand));
  if (spec !== null && typeof spec === 'object') return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, expandSpec(v, expand)]));
  return spec;
}

/**
 * Runs tasks: exec (a process, its `$CKPT_OUTPUT` read back as variables), function and plug-in
 * tasks, at most the package's `maxConcurrent` at once, each with its timeout.
 */
export class Tasks {
  private readonly slots: Semaphore;
  private outputDir: string | undefined;
  private outputCount = 0;

  constructor(
    private readonly a: Attempt,
    private readonly plugins: ReadonlyMap<string, TaskPlugin>,
  ) {
    this.slots = new Semaphore(a.pkg.root.maxConcurrent ?? availableParallelism() + 2);
  }

  /** Removes the `$CKPT_OUTPUT` files of this attempt. */
  async cleanUp(): Promise<void> {
    if (this.outputDir !== undefined) await rm(this.outputDir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** A process's environment: ours, `CKPT_VAR_*` for variables and loop locals, and `CKPT_OUTPUT`. */
  environment(frame: Frame, outputFile: string | undefined): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    const put = (name: string, value: unknown) => {
      if (value === undefined || value === null || typeof value === 'object') return;
      env[`CKPT_VAR_${name.toUpperCase().replace(/[^A-Z0-9_]/g, '_')}`] = String(value);
    };
    for (const [name, value] of this.a.vars.environment()) put(name, value);
    for (const [name, value] of frame.locals) put(name, value);
    if (outputFile !== undefined) env['CKPT_OUTPUT'] = outputFile;
    return env;
  }

  /** What a function or plug-in task sees; variables it sets wait in `pending` until its success. */
  taskContext(unit: string, stepId: string, frame: Frame, signal: AbortSignal, pending: [string, unknown][]): TaskContext {
    const { a } = this;
    const scope = a.vars.scope(frame);
    const scopeId = frame.scopes.at(-1)?.id;
    return {
      unit,
      stepId,
      signal,
      attempt: a.ctx.attempt,
      baseDir: a.pkg.baseDir,
      cursor: frame.ephemeral ? undefined : cursorAt(a.restart, unit),
      setCursor: (cursor) => a.emit({ type: 'cursor-set', unit, cursor, ...(scopeId !== undefined && { scope: scopeId }) }),
      emit: (event) => a.emit(event),
      getVariable: (name) => scope.vars(name),
      setVariable: (name, value) => {
        if (frame.locals.has(name)) throw new InvalidInputError(`"${name}" is a loop variable and cannot be set`);
        pending.push([name, value]);
      },
      getConfig: (key) => scope.config(key),
      expand: (text) => expandTemplate(text, scope),
      log: (line) => a.notify({ kind: 'output', unit, stream: 'stdout', line }),
    };
  }

  /** Runs a task once; the variables it set are returned as events, to be recorded with its success. */
  async run(step: TaskStep, unit: string, frame: Frame): Promise<{ run: StepRun; vars: VariableSet[] }> {
    const { a } = this;
    const release = await this.slots.acquire();
    const timeout = new AbortController();
    const timer = step.timeoutMs !== undefined ? setTimeout(() => timeout.abort(), step.timeoutMs) : undefined;
    timer?.unref();
    // AbortSignal.any costs a listener per task; only a task with a timeout needs two sources.
    const signal = timer !== undefined ? AbortSignal.any([a.signal, timeout.signal]) : a.signal;
    const pending: [string, unknown][] = [];
    // Events that close the task (an exec task's `process/ended`): recorded with its success, in
    // the same log record; on a failure they are recorded at once (a retry would drop them).
    const closing: CkptEvent[] = [];
    const failed = (error: string) => {
      if (closing.length > 0) a.emit(...closing);
      return { run: { outcome: 'failure' as const, error }, vars: [] };
    };
    try {
      let result: PlainValue | undefined;
      try {
        a.stopIfInterrupted();
        if (step.kind === 'exec') closing.push(...(await this.runExec(step.argv, unit, frame, signal, pending)));
        else if (step.kind === 'function') await step.run(this.taskContext(unit, step.id, frame, signal, pending));
        else {
          const plugin = this.plugins.get(step.task);
          if (plugin === undefined) {
            throw new InvalidInputError(`step ${unit} is a ${step.task} task, and no ${step.task} task plug-in is registered`, {
              hint: 'the file-transfer runner provides copy; register it with the control-flow runner',
            });
          }
          const spec = expandSpec(step.spec, (text) => expandTemplate(text, a.vars.scope(frame)));
          result = (await plugin.run(spec, this.taskContext(unit, step.id, frame, signal, pending))) ?? undefined;
        }
      } catch (error) {
        a.stopIfInterrupted();
        if (timeout.signal.aborted) return { run: { outcome: 'failure', error: `timed out after ${formatDuration(step.timeoutMs!)}` }, vars: [] };
        return { run: { outcome: 'failure', error: message(error) }, vars: [] };
      }
      if (timeout.signal.aborted) return failed(`timed out after ${formatDuration(step.timeoutMs!)}`);
      const vars: VariableSet[] = [];
      try {
        for (const [name, value] of pending) {
          const event = a.vars.assign(name, value, `step ${unit}`);
          if (event) vars.push(event);
        }
      } catch (error) {
        return failed(message(error));
      }
      return { run: { outcome: 'success', ...(result !== undefined && { result }), ...(closing.length > 0 && { closing }) }, vars };
    } finally {
      if (timer) clearTimeout(timer);
      release();
    }
  }

  private async runExec(
    argvTemplate: readonly string[],
    unit: string,
    frame: Frame,
    signal: AbortSignal,
    pending: [string, unknown][],
  ): Promise<CkptEvent[]> {
    const { a } = this;
    const argv = argvTemplate.map((arg) => expandTemplate(arg, a.vars.scope(frame)));
    this.outputDir ??= mkdtempSync(join(tmpdir(), 'ckpt-run-'));
    const outputFile = join(this.outputDir, `output-${++this.outputCount}.env`);
    // Made asynchronously on purpose: the turn lets the log finish writing `unit-started`, so
    // the fdatasync that makes `process/started` durable covers both. Spawning in the same turn
    // as `unit-started` costs a third fdatasync per step: the log syncs the write it has in
    // flight as soon as anyone waits, then writes and syncs `process/started` (FINDINGS.md,
    // exec steps). The file is read synchronously (readOutputFile).
    await writeFile(outputFile, '');
    // The task's process group is recorded as it starts and made durable while it runs, so a
    // restart after kill -9 can find it and stop it before rerunning the step.
    let group: number | undefined;
    let recorded: Promise<unknown> = Promise.resolve();
    let result: Awaited<ReturnType<typeof runProcess>>;
    // `process/ended` goes back to run() when the task succeeds, to be recorded with its
    // completion (one log write fewer per step); any failure from here on records it at once.
    const ended: CkptEvent[] = [];
    try {
      try {
        result = await runProcess(argv, {
          cwd: a.pkg.baseDir,
          env: this.environment(frame, outputFile),
          signal,
          onLine: (line, stream) => a.notify({ kind: 'output', unit, stream, line }),
          onSpawn: (started) => {
            group = started.pgid;
            a.emit({ type: 'process/started', unit, attempt: a.ctx.attempt, host: hostname(), ...started });
            recorded = a.ctx.durable().catch(() => undefined); // a log failure stops the run by itself
          },
        });
      } finally {
        await recorded;
        if (group !== undefined) ended.push({ type: 'process/ended', unit, pgid: group });
      }
      if (signal.aborted) throw new Error('stopped');
      if (result.signal === 'SIGINT' || result.signal === 'SIGTERM') {
        // A stop of the whole tree (systemd, kill -- -PGID) reaches the command too: it may die of
        // it just before our own handler aborts the run. Give the handler a moment, so this
        // counts as an interruption.
        await new Promise((resolve) => setTimeout(resolve, 100));
        if (a.interrupted()) throw new InterruptedError('the package was interrupted');
      }
      if (result.code !== 0) {
        const tail = lastLines(result.stderrTail);
        throw new Error(
          `command ${JSON.stringify(argv[0])} ${result.code !== null ? `exited with code ${result.code}` : `was killed by ${result.signal}`}${tail ? `; its stderr ends with: ${tail.replace(/\n/g, ' | ')}` : ''}`,
        );
      }
      await readOutputFile(outputFile, pending);
    } catch (error) {
      if (ended.length > 0) a.emit(...ended);
      throw error;
    }
    return ended;
  }
}

/** Up to this size `$CKPT_OUTPUT` is read synchronously (one open, fstat, read, close, no thread-pool hops). */
const SYNC_READ_BYTES = 64 * 1024;

/** The text of `$CKPT_OUTPUT`: synchronously when it is empty or small (nearly always), else through the thread pool. */
async function outputText(file: string): Promise<string> {
  const fd = openSync(file, 'r');
  try {
    const { size } = fstatSync(fd);
    if (size === 0) return '';
    if (size <= SYNC_READ_BYTES) {
      // One byte more than its size: if a background process of the task is still appending,
      // the buffer fills, and the file is read whole through the thread pool below.
      const buffer = Buffer.allocUnsafe(size + 1);
      let length = 0;
      for (let n; length < buffer.length && (n = readSync(fd, buffer, length, buffer.length - length, null)) > 0; ) length += n;
      if (length < buffer.length) return buffer.toString('utf8', 0, length);
    }
  } finally {
    closeSync(fd);
  }
  return readFile(file, 'utf8');
}

/** `$CKPT_OUTPUT`: `NAME=VALUE` lines (blank lines and `#` comments ignored) become variables the task sets. */
async function readOutputFile(file: string, pending: [string, unknown][]): Promise<void> {
  const text = await outputText(file);
  for (const [n, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`$CKPT_OUTPUT line ${n + 1} is not NAME=VALUE: ${JSON.stringify(line)}`);
    const name = line.slice(0, eq).trim();
    if (name === '__proto__') throw new Error(`$CKPT_OUTPUT line ${n + 1}: "__proto__" cannot be a variable name`);
    pending.push([name, line.slice(eq + 1)]);
  }
}
