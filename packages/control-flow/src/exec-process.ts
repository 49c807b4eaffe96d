import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** How a process ended. */
export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The last lines of its standard error, for the failure message. */
  readonly stderrTail: string;
}

/** What identifies a started task's process group, even after its pid is reused. */
export interface ProcessGroupInfo {
  /** The task's own process (the group leader). */
  readonly pid: number;
  /** Its process group: every process it starts belongs to it unless it leaves on purpose. */
  readonly pgid: number;
  /** Linux: the leader's start time in clock ticks since boot (/proc/PID/stat field 22). */
  readonly startTicks?: number;
  /** Linux: this boot's id (/proc/sys/kernel/random/boot_id); start ticks restart at each boot. */
  readonly bootId?: string;
}

/** How a stop of a process group went. */
export type GroupStop = 'gone' | 'terminated' | 'killed';

/** After SIGTERM, how long a task's process group gets to end before SIGKILL. */
export const STOP_GRACE_MS = 2000;
/** After SIGKILL, how long to wait for the group's processes to vanish. */
const KILL_WAIT_MS = 5000;
const POLL_MS = 25;
const TAIL_BYTES = 4096;
/** Process groups are a POSIX notion; on Windows a task is stopped as before (its own process). */
const GROUPS = process.platform !== 'win32';

/** Groups started by this process and not yet known to have ended. */
const liveGroups = new Set<number>();
let exitHook = false;

/**
 * A last resort: if ckpt exits while a task runs (a second Ctrl-C exits at once), its group is
 * killed rather than left running beside a later rerun. 'exit' listeners run synchronously.
 */
function watchGroup(pgid: number): void {
  liveGroups.add(pgid);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    for (const group of liveGroups) signalGroup(group, 'SIGKILL');
  });
}

/** Fields 3 onwards of /proc/PID/stat (Linux), or undefined elsewhere or when PID is gone. */
function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces or parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Linux: when process `pid` started, in clock ticks since boot; undefined elsewhere or when gone. */
export function processStartTicks(pid: number): number | undefined {
  const value = Number(procStatFields(pid)?.[19]); // field 22: starttime
  return Number.isFinite(value) ? value : undefined;
}

let cachedBootId: string | null | undefined;
/** Linux: this boot's id; undefined elsewhere. */
export function bootId(): string | undefined {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      cachedBootId = null;
    }
  }
  return cachedBootId ?? undefined;
}

/**
 * The processes of group `pgid` that still run code (zombies, which only wait for their parent
 * to reap them, are left out), with their start times. Undefined where /proc cannot tell.
 */
export function groupMembers(pgid: number): { pid: number; startTicks: number }[] | undefined {
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const members: { pid: number; startTicks: number }[] = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const fields = procStatFields(Number(name));
    // field 3: state; field 5: pgrp; field 22: starttime.
    if (fields === undefined || Number(fields[2]) !== pgid || fields[0] === 'Z' || fields[0] === 'X') continue;
    members.push({ pid: Number(name), startTicks: Number(fields[19]) });
  }
  return members;
}

/**
 * Whether group `pgid` has a process that still runs code. `EPERM` (another user's group) counts
 * as alive: it exists, and it is not ours to judge.
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
  const members = groupMembers(pgid);
  return members === undefined || members.length > 0;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function waitGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (!groupAlive(pgid)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
}

/**
 * Stops every process of group `pgid`: SIGTERM, up to `graceMs` for them to end, then SIGKILL.
 * Resolves once none runs; rejects (naming the group) when some survive SIGKILL for 5 s or
 * cannot be signalled (another user's).
 */
export async function stopProcessGroup(pgid: number, graceMs = STOP_GRACE_MS): Promise<GroupStop> {
  if (!groupAlive(pgid)) return 'gone';
  try {
    signalGroup(pgid, 'SIGTERM');
    if (await waitGone(pgid, graceMs)) return 'terminated';
    signalGroup(pgid, 'SIGKILL');
  } catch (error) {
    throw new Error(`cannot stop process group ${pgid}: ${(error as Error).message}`);
  }
  if (await waitGone(pgid, KILL_WAIT_MS)) return 'killed';
  throw new Error(`process group ${pgid} still has running processes ${KILL_WAIT_MS / 1000} s after SIGKILL`);
}

/**
 * Runs `argv` (no shell) in a process group of its own and resolves when it exits. Aborting
 * `signal` stops the whole group — SIGTERM, {@link STOP_GRACE_MS} to end, then SIGKILL — and
 * resolves only once no process of it runs, so no child of the task outlives the stop.
 * `onSpawn` gets the group as soon as the process exists (to record it). Failing to start
 * rejects with a message naming the command.
 */
export function runProcess(
  argv: readonly string[],
  options: {
    readonly cwd: string;
    readonly env: NodeJS.ProcessEnv;
    readonly signal: AbortSignal;
    readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
    readonly onSpawn?: (group: ProcessGroupInfo) => void;
  },
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = argv;
    // detached: setsid(), so the task and everything it starts share a group we can signal.
    const child = spawn(command!, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'], detached: GROUPS });
    const pgid = GROUPS ? child.pid : undefined;
    if (pgid !== undefined) {
      watchGroup(pgid);
      const startTicks = processStartTicks(pgid);
      const boot = bootId();
      options.onSpawn?.({ pid: pgid, pgid, ...(startTicks !== undefined && { startTicks }), ...(boot !== undefined && { bootId: boot }) });
    }
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
    let stopping: Promise<unknown> | undefined;
    const onAbort = () => {
      if (pgid !== undefined) {
        // A failed stop leaves the group in liveGroups: the exit hook tries SIGKILL once more.
        stopping = stopProcessGroup(pgid).then(
          () => liveGroups.delete(pgid),
          () => undefined,
        );
        return;
      }
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      killTimer.unref();
    };
    if (options.signal.aborted) onAbort();
    else options.signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (error: NodeJS.ErrnoException) => {
      options.signal.removeEventListener('abort', onAbort);
      if (pgid !== undefined) liveGroups.delete(pgid);
      reject(new Error(`cannot start "${command}"${error.code ? ` (${error.code})` : ''}: ${error.message}`));
    });
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      options.signal.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      for (const stream of ['stdout', 'stderr'] as const) if (partial[stream] !== '') options.onLine?.(partial[stream], stream);
      const done = () => resolve({ code, signal, stderrTail: tail });
      if (stopping !== undefined) void stopping.then(done);
      else {
        // Ended on its own: what it left running in the background (a daemon) is its business.
        if (pgid !== undefined) liveGroups.delete(pgid);
        done();
      }
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
