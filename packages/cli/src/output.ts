import pc from 'picocolors';
import { isCkptErrorLike } from './exit-codes.js';
import { mapStackTrace } from './map-stack-trace.js';

/** Where a verb writes: stdout for results, stderr for diagnostics. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr };

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
    const [message, ...hint] = error.message.split('\n');
    io.stderr.write(`${colors.red('error:')} ${message}\n${hint.map((line) => `${colors.dim(line)}\n`).join('')}`);
  } else if (error instanceof Error) {
    io.stderr.write(`${colors.red('error:')} ${error.message}\n${colors.dim(mapStackTrace(error.stack ?? ''))}\n`);
  } else {
    io.stderr.write(`${colors.red('error:')} ${String(error)}\n`);
  }
}

/** A timestamp for people (UTC, to the second). */
export function formatTime(ms: number | undefined): string {
  return ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
