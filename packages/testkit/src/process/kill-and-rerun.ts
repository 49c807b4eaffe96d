import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { seededRandom } from './seeded-random.js';

/** Options of {@link killAndRerun}. */
export interface KillAndRerunOptions {
  readonly command: string;
  readonly args?: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Kill when a line of stdout parses as JSON and this returns true for it (the `--json` event
   * stream). Each killed run is killed at the nth matching event, n drawn from the seed in
   * `1..killAtMostAfter`. A run that ends before its nth event is not killed (it ran out of
   * work): a job must have more than `kills × killAtMostAfter` such events for every planned
   * kill to happen. Without {@link KillAndRerunOptions.lockstep} the command runs on between
   * printing the nth event and the kill landing — a fast job may even finish first.
   * {@link RunOutcome.killAt} and {@link RunOutcome.matched} tell what happened.
   */
  readonly killOn?: (event: unknown) => boolean;
  /**
   * With `killOn`: the command waits for a line on its stdin after printing each matching event,
   * and the harness sends it, except at the kill point, where it kills instead. The kill then
   * lands exactly after the nth event, however far the harness lags. The command must
   * cooperate (see `test-support/crash-job.mjs`); stdin is a pipe only in this mode.
   */
  readonly lockstep?: boolean;
  /** Largest n for {@link KillAndRerunOptions.killOn} (default 3). */
  readonly killAtMostAfter?: number;
  /**
   * Without `killOn`: kill after a delay drawn from the seed in `0..randomKillMs` ms (default
   * 200). A run that exits first is not killed.
   */
  readonly randomKillMs?: number;
  /** How many runs are killed before the command may run to its end (default 3). */
  readonly kills?: number;
  /** The run that counts as done (default: exit code 0). */
  readonly until?: (outcome: RunOutcome) => boolean;
  /** Most runs before giving up (default kills + 5). */
  readonly maxRuns?: number;
  /** Seed of the kill moments (default: random, printed). */
  readonly seed?: number;
  /** Where the seed is printed (default console.info). */
  readonly log?: (line: string) => void;
}

/** How one run ended. */
export interface RunOutcome {
  readonly run: number;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** True when the harness killed this run. */
  readonly killed: boolean;
  /** When this run was to be killed (drawn from the seed); undefined for the runs after `kills`. */
  readonly killAt?: { readonly afterEvents: number } | { readonly afterMs: number };
  /** How many stdout lines matched `killOn` (0 without it). */
  readonly matched: number;
  /** stdout, line by line. */
  readonly stdout: readonly string[];
  readonly stderr: string;
}

/** What {@link killAndRerun} did. */
export interface KillAndRerunReport {
  readonly seed: number;
  readonly runs: readonly RunOutcome[];
  /** The run that satisfied `until`. */
  readonly final: RunOutcome;
}

/**
 * Runs a real command in its own process group and SIGKILLs the whole group — at a given event
 * of its JSON stdout, or at a random moment — then reruns it, until a run satisfies `until`
 * (default: exits 0). The seed is printed first, so a failure replays with `seed`. A kill -9
 * leaves the page cache intact, so this checks restart logic, not durability; the simulated
 * disk checks that.
 */
export async function killAndRerun(options: KillAndRerunOptions): Promise<KillAndRerunReport> {
  const seed = options.seed ?? Math.floor(Math.random() * 0x7fff_ffff);
  (options.log ?? console.info)(`[ckpt] killAndRerun ${options.command} ${(options.args ?? []).join(' ')}: seed ${seed}`);
  const next = seededRandom(seed);
  const kills = options.kills ?? 3;
  const maxRuns = options.maxRuns ?? kills + 5;
  const until = options.until ?? ((outcome: RunOutcome) => outcome.exitCode === 0);
  const runs: RunOutcome[] = [];
  for (let run = 1; run <= maxRuns; run++) {
    const kill =
      run > kills
        ? undefined
        : options.killOn
          ? { afterEvents: 1 + Math.floor(next() * (options.killAtMostAfter ?? 3)) }
          : { afterMs: Math.floor(next() * (options.randomKillMs ?? 200)) };
    const outcome = await runOnce(options, run, kill);
    runs.push(outcome);
    if (until(outcome)) return { seed, runs, final: outcome };
  }
  throw new Error(`killAndRerun: no run satisfied \`until\` in ${maxRuns} runs (seed ${seed}); last stderr: ${runs.at(-1)?.stderr ?? ''}`);
}

function runOnce(options: KillAndRerunOptions, run: number, kill: { afterEvents: number } | { afterMs: number } | undefined): Promise<RunOutcome> {
  return new Promise<RunOutcome>((resolve, reject) => {
    const child = spawn(options.command, [...(options.args ?? [])], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      // Its own process group, so the kill reaches every process it started.
      detached: true,
      stdio: [options.lockstep ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    // A command that is gone (killed, or ended) cannot take its ack: that is not an error here.
    child.stdin?.on('error', () => undefined);
    const stdout: string[] = [];
    let stderr = '';
    let killed = false;
    let matched = 0;
    let timer: NodeJS.Timeout | undefined;
    const killGroup = () => {
      if (killed || child.pid === undefined || child.exitCode !== null) return;
      killed = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // The group is already gone.
      }
    };
    if (kill && 'afterMs' in kill) timer = setTimeout(killGroup, kill.afterMs);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      stdout.push(line);
      if (!options.killOn) return;
      let event: unknown;
      try {
        event = JSON.parse(line);
      } catch {
        return;
      }
      if (!options.killOn(event)) return;
      matched++;
      if (kill && 'afterEvents' in kill && matched === kill.afterEvents) killGroup();
      else if (options.lockstep) child.stdin?.write('\n');
    });
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ run, exitCode, signal, killed, ...(kill !== undefined && { killAt: kill }), matched, stdout, stderr });
    });
  });
}
