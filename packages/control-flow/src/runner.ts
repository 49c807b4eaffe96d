import {
  createIdentity,
  defineRunner,
  type ExtensionReducer,
  type JobIdentity,
  type ResumeCheck,
  type RunContext,
  type Runner,
  type RunnerEmission,
} from '@ckpt/core';
import type { Observable } from 'rxjs';
import { PackageExecution } from './execution.js';
import { own } from './frame.js';
import { isContainer, type Package, type Step, type StepResult } from './model.js';
import type { RunNotice } from './notices.js';
import { processReducer } from './process-groups.js';
import { controlFlowReducer } from './rerun.js';
import type { TaskPlugin } from './task-context.js';
import { unrecoverableVariable } from './variables.js';

export type { RunNotice } from './notices.js';

/** One run of a package: the package plus what the command line supplies. */
export interface PackageRun {
  readonly package: Package;
  /** `--config KEY=VALUE`: over the file's config; ignored (with a warning) once captured. */
  readonly config?: { readonly [key: string]: string };
  /** `--set NAME=VALUE`: starting values; on restart the checkpoint's values win (with a warning). */
  readonly set?: { readonly [name: string]: string };
  /** `--force-result STEP=...`: over the steps' own forceResult. */
  readonly forceResults?: { readonly [step: string]: StepResult };
  /**
   * `--rerun STEP`: on restart, these completed steps run again with everything after them
   * (`rerunSelection`); recorded as `control-flow/rerun`. Ids must exist (the CLI checks).
   */
  readonly rerun?: readonly string[];
}

/** Options of the runner: task plug-ins (`copy`). */
export interface ControlFlowRunnerOptions {
  readonly plugins?: readonly TaskPlugin[];
}

const KIND = 'control-flow';

/** The step structure that identifies a package's checkpoints (no commands, no volatile options). */
export function structureOf(pkg: Package): unknown {
  const of = (step: Step): unknown => ({
    id: step.id,
    kind: step.kind === 'plugin' ? `task:${step.task}` : step.kind,
    after: step.after?.map((c) => ({ step: c.step, on: c.on, when: c.whenSource })),
    afterLogic: step.afterLogic,
    transaction: step.transaction,
    ...(isContainer(step) && {
      steps: step.steps.map(of),
      onError: step.onError.map(of),
      ...(step.kind !== 'sequence' && { checkpointIterations: step.checkpointIterations }),
    }),
  });
  return { root: of(pkg.root) };
}

/**
 * Runs control-flow packages with SSIS checkpoint semantics. The task is the smallest restart
 * unit; transactions and loops without `checkpointIterations` are atomic scopes. It records
 * events, tells views {@link RunNotice}s (`Execution.notices()`), and has no result: a failed
 * package ends with PackageFailedError.
 */
export class ControlFlowRunner implements Runner<PackageRun, void, RunNotice> {
  readonly kind = KIND;
  readonly reducers: readonly ExtensionReducer[];
  private readonly plugins: ReadonlyMap<string, TaskPlugin>;
  private readonly runner: Runner<PackageRun, void, RunNotice>;

  constructor(options: ControlFlowRunnerOptions = {}) {
    this.plugins = new Map((options.plugins ?? []).map((p) => [p.kind, p]));
    this.reducers = [processReducer, controlFlowReducer, ...(options.plugins ?? []).flatMap((p) => p.reducers ?? [])];
    this.runner = defineRunner<PackageRun, void, RunNotice>({
      kind: KIND,
      identify: (job) => this.identify(job),
      run: async (job, context, emit) => {
        const execution = new PackageExecution(job, context, this.plugins, emit);
        try {
          await execution.execute();
        } catch (error) {
          // The error becomes the attempt-ended record and the CLI's last line: masked like the rest.
          throw execution.masked(error);
        }
      },
    });
  }

  /** Refuses, before anything is written, a restart that needs a value the checkpoint cannot give back. */
  check(job: PackageRun, checkpoint: ResumeCheck): void {
    for (const [name, revealed] of checkpoint.variables) {
      if (revealed.status !== 'known' && own(job.set, name) === undefined) throw unrecoverableVariable(name, revealed.reason);
    }
  }

  /** The package's identity: id, version and step structure. */
  identify(job: PackageRun): JobIdentity {
    return createIdentity({ kind: KIND, id: job.package.id, version: job.package.version, structure: structureOf(job.package) });
  }

  run(job: PackageRun, context: RunContext): Observable<RunnerEmission<void, RunNotice>> {
    return this.runner.run(job, context);
  }
}
