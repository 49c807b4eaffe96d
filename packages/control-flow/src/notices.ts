import type { CkptEvent, PlainValue } from '@ckpt/core';
import type { StepResult } from './model.js';
import type { SecretMask } from './secret-mask.js';

/** What the runner reports for the run view (not recorded; sensitive values never appear). */
export type RunNotice =
  | {
      readonly type: 'resuming';
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
  | { readonly type: 'step-started'; readonly unit: string; readonly step: string }
  | { readonly type: 'step-finished'; readonly unit: string; readonly step: string; readonly result: StepResult; readonly durationMs: number; readonly recorded: 'completed' | 'failed'; readonly error?: string; readonly forced?: boolean }
  | { readonly type: 'step-skipped'; readonly unit: string; readonly step: string; readonly reason: 'checkpoint' | 'precedence'; readonly result?: StepResult }
  | { readonly type: 'variable'; readonly name: string; readonly value?: PlainValue; readonly redacted?: boolean }
  /** An event handed to the engine to record (sensitive values already replaced by `redacted`). */
  | { readonly type: 'recorded'; readonly event: CkptEvent }
  | { readonly type: 'rollback'; readonly scope: string; readonly step: string; readonly reason: 'failed' | 'left-open' }
  | { readonly type: 'handler'; readonly container: string; readonly failedUnit: string }
  | { readonly type: 'output'; readonly unit: string; readonly stream: 'stdout' | 'stderr'; readonly line: string }
  | { readonly type: 'warning'; readonly message: string };

/**
 * The two doors out of an attempt: events to the log ({@link RunOutput.emit}) and notices to the
 * view ({@link RunOutput.notify}). Both mask every value a sensitive variable held in this run.
 */
export class RunOutput {
  /**
   * @param observer the run view, if any
   * @param record hands events to the engine
   * @param secrets the mask
   * @param knowSecrets registers the current values of sensitive variables with the mask (values change during a run)
   */
  constructor(
    private readonly observer: ((notice: RunNotice) => void) | undefined,
    private readonly record: (events: readonly CkptEvent[]) => void,
    private readonly secrets: SecretMask,
    private readonly knowSecrets: () => void,
  ) {}

  /** Tells the view; a broken view must not break the run. */
  notify(notice: RunNotice): void {
    if (this.observer === undefined) return;
    try {
      this.knowSecrets();
      this.observer(this.secrets.notice(notice));
    } catch {
      // A broken view must not break the run.
    }
  }

  /** Hands events to the engine to record, and tells the view what was recorded. */
  emit(...events: CkptEvent[]): void {
    if (events.length === 0) return;
    // The one door to the log: sensitive values in error texts, results and cursors are masked here.
    this.knowSecrets();
    events = events.map((event) => this.secrets.event(event));
    this.record(events);
    if (this.observer === undefined) return;
    for (const event of events) {
      if (event.type === 'variable-set' && event.sensitive) {
        const { value: _value, ...rest } = event;
        this.notify({ type: 'recorded', event: { ...rest, redacted: true } });
      } else this.notify({ type: 'recorded', event });
    }
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
