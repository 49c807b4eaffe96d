import { spawn } from 'node:child_process';

/** How a process ended. */
export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines of its standard error, for the failure message. */
  readonly stderrTail: string;
}

const TAIL_BYTES = 4096;

/**
 * Runs `argv` (no shell) and resolves when it exits. Aborting `signal` sends SIGTERM, then
 * SIGKILL two seconds later. Failing to start rejects with a message naming the command.
 */
export function runProcess(
  argv: readonly string[],
  options: { readonly cwd: string; readonly env: NodeJS.ProcessEnv; readonly signal: AbortSignal; readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void },
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = argv;
    const child = spawn(command!, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const partial = { stdout: '', stderr: '' };
    const take = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      if (stream === 'stderr') tail = (tail + text).slice(-TAIL_BYTES);
      const lines = (partial[stream] + text).split('\n');
      partial[stream] = lines.pop() ?? '';
      for (const line of lines) options.onLine?.(line, stream);
    };
    child.stdout.on('data', take('stdout'));
    child.stderr.on('data', take('stderr'));
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 2000);
      killTimer.unref();
    };
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      options.signal.removeEventListener('abort', onAbort);
      reject(new Error(`cannot start "${command}"${error.code ? ` (${error.code})` : ''}: ${error.message}`));
    });
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      options.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      for (const stream of ['stdout', 'stderr'] as const) if (partial[stream] !== '') options.onLine?.(partial[stream], stream);
      resolve({ code, signal, stderrTail: tail });
    };
    child.on('close', finish);
    // A stopped command's own children may hold its output pipes open; do not wait for them.
    child.on('exit', (code, signal) => {
      if (!options.signal.aborted) return;
      child.stdout.destroy();
      child.stderr.destroy();
      finish(code, signal);
    });
  });
}

/** The last `lines` non-empty lines of a text. */
export function lastLines(text: string, lines = 5): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(-lines)
    .join('\n');
}
