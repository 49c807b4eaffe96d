import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, type CheckpointUsage, type RunResult } from '@ckpt/core';
import { task, type StepOptions } from '../builder.js';
import type { StepDefinition } from '../compile.js';
import type { Package, StepResult } from '../model.js';
import { ControlFlowRunner, type PackageRun, type RunNotice } from '../runner.js';
import type { TaskContext, TaskPlugin } from '../task-context.js';

/** A temporary folder for checkpoints, removed by `cleanup`. */
export async function tempDir(): Promise<{ readonly dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ckpt-cf-test-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Function tasks that count their effects and fail on demand. */
export class Effects {
  readonly counts = new Map<string, number>();
  readonly failing = new Set<string>();
  readonly log: string[] = [];
  /** Called before each task's effect; throw or abort from here to simulate a crash point. */
  beforeEffect: (unit: string) => void = () => undefined;

  count(unit: string): number {
    return this.counts.get(unit) ?? 0;
  }

  /** A function task that records one effect per successful run; fails while its id is in `failing`. */
  task(id: string, options: StepOptions = {}, body?: (ctx: TaskContext) => void): StepDefinition {
    return task(
      id,
      async (ctx) => {
        this.beforeEffect(ctx.unit);
        await Promise.resolve();
        if (ctx.signal.aborted) throw new Error('aborted');
        if (this.failing.has(id) || this.failing.has(ctx.unit)) throw new Error(`${id} failed on purpose`);
        body?.(ctx);
        this.counts.set(ctx.unit, this.count(ctx.unit) + 1);
        this.log.push(ctx.unit);
      },
      options,
    );
  }
}

/** Runs `pkg` once on the checkpoint at `path`. */
export async function runPackage(
  pkg: Package,
  path: string,
  options: {
    readonly usage?: CheckpointUsage;
    readonly save?: boolean;
    readonly signal?: AbortSignal;
    readonly set?: Record<string, string>;
    readonly config?: Record<string, string>;
    readonly forceResults?: Record<string, StepResult>;
    readonly plugins?: readonly TaskPlugin[];
    readonly secretKey?: string;
  } = {},
): Promise<{ readonly result: RunResult; readonly notices: RunNotice[] }> {
  const notices: RunNotice[] = [];
  const runner = new ControlFlowRunner(options.plugins !== undefined ? { plugins: options.plugins } : {});
  // Explicit: the engine cannot infer a class runner's notice type from `run` (NoInfer).
  const execution = await new Engine().open<PackageRun, void, RunNotice>(
    runner,
    {
      package: pkg,
      ...(options.set !== undefined && { set: options.set }),
      ...(options.config !== undefined && { config: options.config }),
      ...(options.forceResults !== undefined && { forceResults: options.forceResults }),
    },
    {
      checkpoint: { path, usage: options.usage ?? 'if-exists', save: options.save ?? true },
      ...(options.signal !== undefined && { signal: options.signal }),
      ...(options.secretKey !== undefined && { secretKey: options.secretKey }),
    },
  );
  execution.notices().subscribe((n) => notices.push(n));
  const result = await execution.run();
  return { result, notices };
}

/** The units skipped because the checkpoint had them. */
export function skippedByCheckpoint(notices: readonly RunNotice[]): string[] {
  return notices.flatMap((n) => (n.kind === 'step-skipped' && n.reason === 'checkpoint' ? [n.unit] : []));
}
