/**
 * Where the built ckpt lives, and how to ask the CLI whether a verb is built yet. The bench
 * drives the built JavaScript — `tsc -b` output for the libraries, the CLI's bundle through
 * its `bin/ckpt.js` — exactly what users run.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

/** Paths inside the repository. */
export function ckptPaths(root) {
  return {
    root,
    // The internal entry: a superset of @ckpt/core with the format's constants (RECORD_HEADER_BYTES).
    coreDist: join(root, 'packages', 'core', 'dist', 'internal.js'),
    cliMain: join(root, 'packages', 'cli', 'bin', 'ckpt.js'),
    cliBundle: join(root, 'packages', 'cli', 'dist', 'ckpt.mjs'),
  };
}

/** Imports the built @ckpt/core, or explains how to build it. */
export async function loadCore(paths) {
  const missing = [paths.coreDist, paths.cliBundle].find((path) => path !== undefined && !existsSync(path));
  if (missing !== undefined || !existsSync(paths.cliMain)) {
    throw new Error(
      `ckpt is not built (${missing ?? paths.cliMain} missing): run \`pnpm build\` (tsc -b, then the CLI bundle) at the repository root first`,
    );
  }
  // The format constants (RECORD_HEADER_BYTES) are exported from @ckpt/core/internal.
  const internal = join(paths.coreDist, '..', 'internal.js');
  return { ...(existsSync(internal) ? await import(internal) : {}), ...(await import(paths.coreDist)) };
}

/** msgpackr as @ckpt/core resolves it: the same version the journal encodes with. */
export function loadMsgpackr(root) {
  return createRequire(join(root, 'packages', 'core', 'package.json'))('msgpackr');
}

/**
 * Runs a process to completion; resolves with its exit code, output and wall time (ms).
 * `onStdoutLine` sees each stdout line as it arrives.
 */
export function runProcess(command, args, { cwd, env, onStdoutLine, timeoutMs = 10 * 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(command, args, { cwd, env: env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      if (onStdoutLine) {
        partial += chunk;
        const lines = partial.split('\n');
        partial = lines.pop();
        for (const line of lines) onStdoutLine(line, child);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - start, child });
    });
  });
}

const NOT_BUILT = /not available in this build|unknown (verb|command)/i;

/**
 * Whether the CLI's `verb` is built: runs it with `args` (which must make a real
 * implementation do trivial work or refuse on its own arguments) and looks for the
 * placeholder's "not available in this build" message or commander's unknown command.
 * Resolves `{ available: true }` or `{ available: false, reason }`.
 */
export async function probeVerb(paths, verb, args, cwd) {
  const result = await runProcess(process.execPath, [paths.cliMain, verb, ...args], { cwd, timeoutMs: 60_000 });
  const text = `${result.stderr}\n${result.stdout}`;
  if (NOT_BUILT.test(text)) {
    const line = text
      .split('\n')
      .find((l) => NOT_BUILT.test(l))
      ?.trim();
    return { available: false, reason: `not available in this build: \`ckpt ${verb}\` says "${line}"` };
  }
  return { available: true, probe: { code: result.code, stderr: result.stderr.trim().split('\n').slice(-2).join(' | ') } };
}

/** Writes `text` to `path` and returns the path. */
export function writeText(path, text) {
  writeFileSync(path, text);
  return path;
}
