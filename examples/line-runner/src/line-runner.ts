/**
 * A third runner, to show that a runner needs nothing but `defineRunner` and the core event
 * vocabulary: it turns each line of a (big) input file into a line of an output file, and after
 * a crash it continues at the first line not yet safely written — not at the beginning.
 *
 * Every file goes through `context.storage` (docs/writing-a-runner.md, "Your own files"), so
 * the testkit's simulated disk loses power on this runner's files and on its checkpoint together.
 *
 * The restart protocol, in four rules:
 * 1. Output is written to `<output>.part`; the part file's name is made durable (directory
 *    fsync) when it is created, and its data (fdatasync) before the cursor that covers it is
 *    recorded, so a recorded cursor never points past durable output.
 * 2. On restart the part file is cut back to the cursor's `outputBytes` (anything after it was
 *    written but never recorded) and the input is read from the cursor's `inputBytes`.
 * 3. When every line is done, a cursor with `done: true` is recorded and made durable *before*
 *    the part file is renamed to the output (rename + directory fsync), then the unit completes.
 * 4. A restart that finds `done` publishes again if the part file is still there, and otherwise
 *    checks that the output is there with the recorded size: a kill after the rename and before
 *    the completion was durable needs nothing redone.
 */
import {
  createIdentity,
  defineRunner,
  errorCode,
  InterruptedError,
  InvalidInputError,
  type RunContext,
  type RunnerEmitter,
  type Storage,
  type StorageFile,
} from '@ckpt/core';
import { posix } from 'node:path';

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
  /** Every line is written and durable: what is left is publishing the output (rule 3). */
  readonly done?: boolean;
}

/** What a run produces. */
export interface LineResult {
  readonly lines: number;
  readonly outputBytes: number;
}

/** What the runner reports to views while it runs (never recorded). */
export type LineNotice = { readonly kind: 'progress'; readonly lines: number; readonly inputBytes: number };

/** Hooks for tests: `published` is called as the output is renamed into place (the runner's external effect). */
export interface LineRunnerHooks {
  readonly published?: (output: string) => void;
}

const UNIT = 'lines';
const CHUNK_BYTES = 64 * 1024;
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Runs `job` (the body of {@link lineRunner}, for runners that wrap it). */
export async function runLines(job: LineJob, context: RunContext, emit: RunnerEmitter<LineNotice>, hooks: LineRunnerHooks = {}): Promise<LineResult> {
  const { storage } = context;
  const every = job.linesPerCheckpoint ?? 10_000;
  let cursor = (context.startState.cursors.get(UNIT)?.cursor as LineCursor | undefined) ?? { inputBytes: 0, outputBytes: 0, lines: 0 };
  const partPath = `${job.output}.part`;
  const dir = posix.dirname(job.output);
  if (context.startState.completed.has(UNIT)) return { lines: cursor.lines, outputBytes: cursor.outputBytes };
  emit.record({ type: 'unit-started', unit: UNIT });

  if (!cursor.done) {
    const input = await storage.open(job.input, 'read').catch((error: unknown) => {
      throw errorCode(error) === 'ENOENT' ? new InvalidInputError(`${job.input}: no such input file`) : error;
    });
    const part = await openPart(storage, partPath, cursor.outputBytes, dir);
    try {
      let { inputBytes, outputBytes, lines } = cursor;
      let pending: string[] = [];
      const flush = async () => {
        const chunk = encoder.encode(pending.join(''));
        await part.write(chunk, outputBytes);
        outputBytes += chunk.length;
        pending = [];
        await part.datasync(); // rule 1: the data is durable before its cursor is recorded
        emit.record({ type: 'cursor-set', unit: UNIT, cursor: { inputBytes, outputBytes, lines } });
        emit.notice({ kind: 'progress', lines, inputBytes });
      };
      for await (const line of readLines(input, inputBytes)) {
        if (context.signal.aborted) {
          await flush();
          throw new InterruptedError();
        }
        inputBytes += line.bytes;
        lines++;
        pending.push(`${job.transform(line.text)}\n`);
        if (pending.length >= every) await flush();
      }
      await flush();
      cursor = { inputBytes, outputBytes, lines, done: true };
    } finally {
      await part.close();
      await input.close();
    }
    emit.record({ type: 'cursor-set', unit: UNIT, cursor: { ...cursor } });
    await context.durable(); // rule 3: `done` is durable before the rename
  }

  // Rule 4: publish, or find it published.
  if ((await storage.stat(partPath)) !== undefined) {
    // The effect: from the rename on, a crash may leave the output published. Reported just
    // before it, so a crash striking while the rename's promise settles cannot hide it.
    hooks.published?.(job.output);
    await storage.rename(partPath, job.output);
    await storage.syncDir(dir);
  } else if ((await storage.stat(job.output))?.size !== cursor.outputBytes) {
    throw new InvalidInputError(
      `${partPath} and ${job.output} are both missing (or the output is not ${cursor.outputBytes} bytes), yet the checkpoint says every line was written`,
      {
        hint: 'something removed them; delete the checkpoint file to start over',
      },
    );
  }
  emit.record({ type: 'unit-completed', unit: UNIT, outcome: 'success', result: { lines: cursor.lines, outputBytes: cursor.outputBytes } });
  return { lines: cursor.lines, outputBytes: cursor.outputBytes };
}

/** Opens the part file at `outputBytes` (rule 2), or creates it afresh with a durable name (rule 1). */
async function openPart(storage: Storage, partPath: string, outputBytes: number, dir: string): Promise<StorageFile> {
  if (outputBytes > 0) {
    const part = await storage.open(partPath, 'read-write');
    await part.truncate(outputBytes); // rule 2
    return part;
  }
  // Nothing of it was recorded: whatever an earlier attempt left is garbage.
  await storage.unlink(partPath).catch((error: unknown) => {
    if (errorCode(error) !== 'ENOENT') throw error;
  });
  const part = await storage.open(partPath, 'create-exclusive');
  await storage.syncDir(dir);
  return part;
}

/** The lines of `file` from byte `start`, each with its size in bytes (newline included). */
async function* readLines(file: StorageFile, start: number): AsyncGenerator<{ text: string; bytes: number }> {
  let position = start;
  let carry = new Uint8Array(0);
  for (;;) {
    const chunk = await file.read(position, CHUNK_BYTES);
    position += chunk.length;
    const bytes = carry.length === 0 ? chunk : concat(carry, chunk);
    let from = 0;
    for (let newline = bytes.indexOf(0x0a); newline >= 0; newline = bytes.indexOf(0x0a, from)) {
      yield { text: decoder.decode(bytes.subarray(from, newline)), bytes: newline + 1 - from };
      from = newline + 1;
    }
    carry = bytes.slice(from);
    if (chunk.length < CHUNK_BYTES) break;
  }
  if (carry.length > 0) yield { text: decoder.decode(carry), bytes: carry.length }; // a last line without a newline
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The line runner, with `hooks` (tests use them to see its effect). */
export function createLineRunner(hooks: LineRunnerHooks = {}) {
  return defineRunner<LineJob, LineResult, LineNotice>({
    kind: 'example-lines',
    identify: (job) =>
      createIdentity({ kind: 'example-lines', id: job.output, version: 2, structure: { input: job.input, transform: job.transformName } }),
    run: (job, context, emit) => runLines(job, context, emit, hooks),
  });
}

/** The line runner. */
export const lineRunner = createLineRunner();
