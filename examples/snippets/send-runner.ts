// The runner of docs/writing-a-runner.md, type-checked and run by snippets.test.ts.
import { createIdentity, defineRunner, InterruptedError } from '@ckpt/core';

/** The job: send each item, in order, to a sink (an API, a queue, a table). */
export interface SendJob {
  readonly id: string;
  readonly items: readonly string[];
  readonly send: (item: string) => Promise<void>;
}

/** What the runner tells views while it runs; never recorded. */
export type SendNotice =
  | { readonly kind: 'progress'; readonly sent: number; readonly of: number }
  | { readonly kind: 'skipped'; readonly item: string };

/** What a successful run returns (`RunResult.result`). */
export interface SendResult {
  readonly sent: number;
  readonly skipped: number;
}

export const sendRunner = defineRunner<SendJob, SendResult, SendNotice>({
  kind: 'example-send',
  identify: (job) => createIdentity({ kind: 'example-send', id: job.id, version: 1, structure: job.items }),
  run: async (job, context, emit) => {
    let sent = 0;
    let skipped = 0;
    for (const item of job.items) {
      if (context.startState.completed.has(item)) {
        skipped++;
        emit.notice({ kind: 'skipped', item });
        continue;
      }
      if (context.signal.aborted) throw new InterruptedError();
      emit.record({ type: 'unit-started', unit: item });
      await job.send(item); // the effect
      emit.record({ type: 'unit-completed', unit: item, outcome: 'success' });
      await context.durable(); // barrier: the completion is on disk before the next item starts
      emit.notice({ kind: 'progress', sent: ++sent, of: job.items.length });
    }
    return { sent, skipped };
  },
});
