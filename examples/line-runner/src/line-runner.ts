/**
 * A third runner, to show that a runner needs nothing but the `Runner` interface: it turns each
 * line of a (big) input file into a line of an output file, and after a crash it continues at
 * the first line not yet safely written — not at the beginning.
 *
 * The restart protocol, in three rules:
 * 1. Output is written to `<output>.part` and fdatasynced *before* the cursor that covers it is
 *    recorded, so a recorded cursor never points past durable output.
 * 2. On restart the part file is cut back to the cursor's `outputBytes` (anything after it was
 *    written but never recorded) and the input is read from the cursor's `inputBytes`.
 * 3. The output is published (rename + directory fsync) only when every line is done.
 */
import { createReadStream } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { createIdentity, InterruptedError, InvalidInputError, type EventEmission, type Runner } from '@ckpt/core';
import { Observable } from 'rxjs';

/** A job: transform every line of `input` into `output`. */
export interface LineJob {
  readonly input: string;
  readonly output: string;
  /** The transformation; part of the identity through `transformName`. */
  readonly transform: (line: string) => string;
  readonly transformName: string;
  /** Lines between checkpoints (default 10 000). */
  readonly linesPerCheckpoint?: number;
}

/** The cursor this runner records: how far input and output are, in bytes and lines. */
export interface LineCursor {
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly lines: number;
}

const UNIT = 'lines';

export const lineRunner: Runner<LineJob> = {
  kind: 'example-lines',
  identify: (job) => createIdentity({ kind: 'example-lines', id: job.output, version: 1, structure: { input: job.input, transform: job.transformName } }),
  run: (job, context) =>
    new Observable<EventEmission>((subscriber) => {
      const every = job.linesPerCheckpoint ?? 10_000;
      const cursor = (context.startState.cursors.get(UNIT)?.cursor as LineCursor | undefined) ?? { inputBytes: 0, outputBytes: 0, lines: 0 };
      const partPath = `${job.output}.part`;
      void (async () => {
        if ((await stat(job.input).catch(() => undefined)) === undefined) throw new InvalidInputError(`${job.input}: no such input file`);
        subscriber.next({ type: 'unit-started', unit: UNIT });
        const part = await open(partPath, cursor.outputBytes > 0 ? 'r+' : 'w', 0o600);
        try {
          await part.truncate(cursor.outputBytes); // rule 2
          let { inputBytes, outputBytes, lines } = cursor;
          let pending: string[] = [];
          const flush = async () => {
            const chunk = Buffer.from(pending.join(''));
            await part.write(chunk, 0, chunk.length, outputBytes);
            outputBytes += chunk.length;
            pending = [];
            await part.datasync(); // rule 1: the data is durable before its cursor is recorded
            subscriber.next({ type: 'cursor-set', unit: UNIT, cursor: { inputBytes, outputBytes, lines } });
          };
          const reader = createInterface({ input: createReadStream(job.input, { start: inputBytes }), crlfDelay: Infinity });
          for await (const line of reader) {
            if (context.signal.aborted) {
              await flush();
              throw new InterruptedError();
            }
            inputBytes += Buffer.byteLength(line) + 1;
            lines++;
            pending.push(`${job.transform(line)}\n`);
            if (pending.length >= every) await flush();
          }
          await flush();
        } finally {
          await part.close();
        }
        await rename(partPath, job.output); // rule 3
        const dir = await open(dirname(job.output), 'r');
        await dir.sync().finally(() => dir.close());
        subscriber.next({ type: 'unit-completed', unit: UNIT, outcome: 'success' });
        subscriber.complete();
      })().catch((error: unknown) => subscriber.error(error));
    }),
};
