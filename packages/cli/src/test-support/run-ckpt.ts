import { spawn } from 'node:child_process';
import { ckptBin } from './ckpt-bin.js';

/** What one `ckpt` process did. */
export interface CkptOutcome {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  readonly ms: number;
}

/**
 * Runs the installed `ckpt` (the bundle users run) in `cwd` with `args` and collects its output;
 * colours off, so lines read as text (picocolors colours output under CI=true even into a pipe).
 * A process still running after `timeoutMs` is killed, so a hang fails the test instead of
 * stalling the suite.
 */
export function runCkpt(args: readonly string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CkptOutcome> {
  const started = Date.now();
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [ckptBin(), ...args], {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
