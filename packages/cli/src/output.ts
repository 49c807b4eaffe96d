import pc from 'picocolors';
import { isCkptErrorLike } from './exit-codes.js';
import { mapStackTrace } from './map-stack-trace.js';

/** Where a verb writes: stdout for results, stderr for diagnostics. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr };

/**
 * Lets a verb outlive the reader of its output (`ckpt events --json | head`): when the other end
 * of stdout or stderr closes, writes to it fail with EPIPE, which node reports as an 'error'
 * event — unhandled, a stack trace and exit 1. Here the lost stream is dropped instead: a job
 * that is running (run, copy, serve) carries on and records its progress, and every verb ends
 * with the exit code of what it did, only without the output nobody reads. Installed once, by
 * the entry point, for every verb.
 */
export function tolerateClosedOutput(streams: readonly NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      // Anything else is not a reader going away: keep it loud.
      if (error.code !== 'EPIPE') throw error;
    });
  }
}

/**
 * Text from a checkpoint, a step or the command line made safe to print on a terminal: control
 * characters are written the way JSON writes them (`\u001b` for ESC, `\n` for a newline), as
 * `ckpt events` prints them, and so are DEL and the C1 controls (U+0080–U+009F, which some
 * terminals read as ESC-sequences too). A step's stderr or a crafted checkpoint can then not
 * move the cursor, retitle the window, write to the clipboard or hide text.
 */
export function escapeControlChars(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** picocolors honours NO_COLOR, FORCE_COLOR and a non-TTY stdout. */
export const colors = pc;

/** Writes one JSON value per line (the `--json` view). */
export function writeJsonLine(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, jsonReplacer)}\n`);
}

/** Maps become objects and bigints numbers or strings, so every state prints as JSON. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return value;
}

/**
 * One line (plus its hint) per error: what happened, where, what to do. A stack trace only for
 * errors that are not ckpt's own — those are bugs, and the trace helps to report them; its
 * frames in the bundled CLI are mapped back to the TypeScript sources.
 */
export function reportError(io: CliIo, error: unknown): void {
  if (isCkptErrorLike(error)) {
    // Messages quote paths, identities and step output: each line is escaped on its own.
    const [message, ...hint] = error.message.split('\n').map(escapeControlChars);
    io.stderr.write(`${colors.red('error:')} ${message}\n${hint.map((line) => `${colors.dim(line)}\n`).join('')}`);
  } else if (error instanceof Error) {
    io.stderr.write(`${colors.red('error:')} ${escapeControlChars(error.message)}\n${colors.dim(mapStackTrace(error.stack ?? ''))}\n`);
  } else {
    io.stderr.write(`${colors.red('error:')} ${escapeControlChars(String(error))}\n`);
  }
}

/** A timestamp for people (UTC, to the second). */
export function formatTime(ms: number | undefined): string {
  return ms === undefined
    ? '-'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}
