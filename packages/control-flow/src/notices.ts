import type { CkptEvent, PlainValue, RunnerEmitter } from '@ckpt/core';
import type { StepResult } from './model.js';
import type { SecretMask } from './secret-mask.js';

/**
 * What the runner tells views (`Execution.notices()`), never recorded; sensitive values never
 * appear. What it records, a view reads from `Execution.entries()`.
 */
export type RunNotice =
  | {
      readonly kind: 'resuming';
      readonly attempt: number;
      /** Completed units this attempt skips (`restartPointOf`). */
      readonly completed: readonly string[];
      /** Failed units that run again (a rolled-back transaction whole, not its inner failure). */
      readonly failed: readonly string[];
      readonly inFlight: readonly string[];
      readonly openScopes: readonly string[];
      /** Where this attempt starts and why, one sentence per reason (`restartPointOf`). */
      readonly explanation: readonly string[];
    }
  | { readonly kind: 'step-started'; readonly unit: string; readonly step: string }
  | {
      readonly kind: 'step-finished';
      readonly unit: string;
      readonly step: string;
      readonly result: StepResult;
      readonly durationMs: number;
      readonly recorded: 'completed' | 'failed';
      readonly error?: string;
      readonly forced?: boolean;
    }
  | {
      readonly kind: 'step-skipped';
      readonly unit: string;
      readonly step: string;
      readonly reason: 'checkpoint' | 'precedence';
      readonly result?: StepResult;
    }
  | { readonly kind: 'variable'; readonly name: string; readonly value?: PlainValue; readonly redacted?: boolean }
  | { readonly kind: 'rollback'; readonly scope: string; readonly step: string; readonly reason: 'failed' | 'left-open' }
  | { readonly kind: 'handler'; readonly container: string; readonly failedUnit: string }
  | { readonly kind: 'output'; readonly unit: string; readonly stream: 'stdout' | 'stderr'; readonly line: string }
  | { readonly kind: 'warning'; readonly message: string };

/**
 * The two doors out of an attempt: records to the log ({@link RunOutput.emit}) and notices to
 * views ({@link RunOutput.notify}). Both mask every value a sensitive variable held in this run.
 *
 * The masking stays here rather than in `Runner.redactNotice`: the mask is the attempt's (the
 * values its sensitive variables held so far), and `redactNotice` is the runner's, shared by
 * every run. Each notice is still masked exactly once, before the engine sees it.
 */
export class RunOutput {
  /**
   * @param emit the engine's emitter
   * @param secrets the mask
   * @param knowSecrets registers the current values of sensitive variables with the mask (values change during a run)
   */
  constructor(
    private readonly emitter: RunnerEmitter<RunNotice>,
    private readonly secrets: SecretMask,
    private readonly knowSecrets: () => void,
  ) {}

  /** Tells views. */
  notify(notice: RunNotice): void {
    this.knowSecrets();
    this.emitter.notice(this.secrets.notice(notice));
  }

  /** Hands events to the engine to record as one record. */
  emit(...events: CkptEvent[]): void {
    if (events.length === 0) return;
    // The one door to the log: sensitive values in error texts, results and cursors are masked here.
    this.knowSecrets();
    this.emitter.record(events.map((event) => this.secrets.event(event)));
  }

  /** `text` with every known sensitive value masked. */
  text(text: string): string {
    this.knowSecrets();
    return this.secrets.text(text);
  }

  /** `error` with every known sensitive value masked (what a run ends with). */
  error(error: unknown): unknown {
    this.knowSecrets();
    return this.secrets.error(error);
  }
}
