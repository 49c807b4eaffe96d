import { InterruptedError, type CkptEvent, type RunContext, type RunnerEmitter } from '@ckpt/core';
import { NOTHING_RECORDED, type DecideState } from './decide.js';
import { own, type Frame } from './frame.js';
import type { Package } from './model.js';
import { RunOutput, type RunNotice } from './notices.js';
import type { PackageRun } from './runner.js';
import { SecretMask } from './secret-mask.js';
import { Variables } from './variables.js';

/**
 * What the parts of one attempt share: the job, the engine's context, the two doors out
 * (log and view), the variables, what the checkpoint says (for
 * {@link decide}), and the failures so far.
 */
export class Attempt {
  readonly pkg: Package;
  readonly out: RunOutput;
  readonly vars: Variables;
  /** The checkpoint as the decisions read it; set once the attempt's `--rerun` is known (resume.ts). */
  restart: DecideState = NOTHING_RECORDED;
  /** A step with failPackageOnFailure failed: nothing new starts. */
  packageFailed = false;
  /** Where the package failed, for its error: innermost first. */
  readonly failures: { unit: string; message: string }[] = [];
  /** The engine's stop (SIGINT/SIGTERM, or it stopped listening). */
  readonly signal: AbortSignal;

  constructor(
    readonly job: PackageRun,
    readonly ctx: RunContext,
    emitter: RunnerEmitter<RunNotice>,
  ) {
    this.pkg = job.package;
    // Every value a sensitive variable held in this run: masked in all that is recorded or shown.
    const secrets = new SecretMask();
    for (const [name, decl] of this.pkg.variables) {
      if (!decl.sensitive) continue;
      secrets.add(decl.value);
      secrets.add(own(job.set, name));
    }
    this.out = new RunOutput(emitter, secrets, () => this.vars.registerSecrets(secrets));
    this.vars = new Variables(this.pkg, (notice) => this.notify(notice));
    this.signal = ctx.signal;
  }

  /** Events to record (masked). */
  emit(...events: CkptEvent[]): void {
    this.out.emit(...events);
  }

  /**
   * Opens atomic scope `id` inside `frame`'s innermost scope, recorded at once; returns the frame
   * inside it. Its commit (`scope-committed`) lands with the completion of what opened it; what
   * is recorded inside it (completions, cursors, variables) names it and counts only then.
   */
  openScope(id: string, kind: 'transaction' | 'loop', frame: Frame): Frame {
    const parent = frame.scopes.at(-1)?.id;
    this.emit({ type: 'scope-opened', scope: id, kind, ...(parent !== undefined && { parent }) });
    return { ...frame, scopes: [...frame.scopes, { id, kind }] };
  }

  /** A notice for the view (masked). */
  notify(notice: RunNotice): void {
    this.out.notify(notice);
  }

  interrupted(): boolean {
    return this.signal.aborted;
  }

  /** Throws the interruption once the attempt is stopped. */
  stopIfInterrupted(): void {
    if (this.interrupted()) throw new InterruptedError('the package was interrupted');
  }

  /** Waits `ms` before a retry; a stop (SIGINT/SIGTERM) ends the wait at once as an interruption. */
  async pause(ms: number): Promise<void> {
    this.stopIfInterrupted();
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.signal.addEventListener('abort', done, { once: true });
    });
    this.stopIfInterrupted();
  }
}
