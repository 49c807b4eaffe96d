import { hostname } from 'node:os';
import { FoldError, type CheckpointState, type ExtensionEvent, type ExtensionReducer } from '@ckpt/core';
import { STOP_GRACE_MS, bootId, groupAlive, groupMembers, stopProcessGroup, type GroupStop, type ProcessGroupInfo } from './exec-process.js';

/**
 * The `process/*` namespace: which exec tasks' process groups may still run. The runner records
 * - `process/started {unit, attempt, host, pid, pgid, startTicks?, bootId?}` right after it
 *   spawns a task (made durable while the task runs),
 * - `process/ended {unit, pgid}` after that task's process ended (or its group was stopped): in the
 *   same log record as the step's completion when the task succeeds, at once when it fails
 *   (a retry or a failure path follows; docs/restart-semantics.md),
 * - `process/taken-over {unit, pgid, attempt, host, outcome}` when a restart settled a group
 *   an earlier attempt left without `process/ended`: `gone` (nothing of it ran any more),
 *   `terminated`/`killed` (this run stopped it), or `not-checked` (another host's).
 * The folded state is the groups started and not yet ended or taken over.
 */
export const PROCESS_NAMESPACE = 'process';

/** A task's process group as recorded when it started. */
export interface RecordedGroup extends ProcessGroupInfo {
  readonly unit: string;
  readonly attempt: number;
  readonly host: string;
}

/** The folded `process/*` state: groups started and not yet known to have ended. */
export type ProcessState = readonly RecordedGroup[];

function int(event: ExtensionEvent, field: string, optional = false): number | undefined {
  const value = event[field];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new FoldError(`${event.type} event needs a non-negative integer "${field}"`);
  return value;
}

function text(event: ExtensionEvent, field: string, optional = false): string | undefined {
  const value = event[field];
  if (value === undefined && optional) return undefined;
  if (typeof value !== 'string' || value === '') throw new FoldError(`${event.type} event needs a non-empty string "${field}"`);
  return value;
}

/** Pure reducer of `process/*` events. */
export const processReducer: ExtensionReducer<ProcessState> = {
  namespace: PROCESS_NAMESPACE,
  initial: () => [],
  evolve(state, event) {
    switch (event.type) {
      case 'process/started': {
        const startTicks = int(event, 'startTicks', true);
        const boot = text(event, 'bootId', true);
        const group: RecordedGroup = {
          unit: text(event, 'unit')!,
          attempt: int(event, 'attempt')!,
          host: text(event, 'host')!,
          pid: int(event, 'pid')!,
          pgid: int(event, 'pgid')!,
          ...(startTicks !== undefined && { startTicks }),
          ...(boot !== undefined && { bootId: boot }),
        };
        return [...state.filter((g) => g.unit !== group.unit), group];
      }
      case 'process/ended':
      case 'process/taken-over': {
        const unit = text(event, 'unit')!;
        const pgid = int(event, 'pgid')!;
        return state.filter((g) => g.unit !== unit || g.pgid !== pgid);
      }
      default:
        return state;
    }
  },
};

/** The groups a checkpoint says may still run. */
export function recordedGroupsOf(state: CheckpointState): ProcessState {
  return (state.extensions.get(PROCESS_NAMESPACE) as ProcessState | undefined) ?? [];
}

/**
 * Whether the recorded group still has a process that runs code, told apart from a stranger
 * that reuses its numbers: the leader, if alive, must have the recorded start time; without the
 * leader, every member must have started after it (a group id is not reused while any member
 * lives), and all on the same boot.
 */
export function recordedGroupRuns(group: RecordedGroup): boolean {
  const boot = bootId();
  if (group.bootId !== undefined && boot !== undefined && group.bootId !== boot) return false;
  if (!groupAlive(group.pgid)) return false;
  const members = groupMembers(group.pgid);
  if (members === undefined || group.startTicks === undefined) return true;
  const leader = members.find((m) => m.pid === group.pgid);
  if (leader !== undefined) return leader.startTicks === group.startTicks;
  return members.every((m) => m.startTicks >= group.startTicks!);
}

/** What {@link takeOverGroups} reports and records through. */
export interface TakeoverIo {
  readonly warn: (message: string) => void;
  readonly record: (event: ExtensionEvent) => void;
  /** Stopping, replaceable in tests. */
  readonly stop?: (pgid: number) => Promise<GroupStop>;
}

/**
 * Settles every group an earlier attempt recorded and did not see end, before anything reruns:
 * a live group of this host is stopped (SIGTERM, a grace period, SIGKILL) and the stop is
 * announced and recorded; another host's cannot be checked, which is announced, and the run
 * goes on. Throws when a live group cannot be stopped: rerunning its step beside it would run
 * it twice at once.
 */
export async function takeOverGroups(groups: ProcessState, io: TakeoverIo): Promise<number> {
  const here = hostname();
  for (const group of groups) {
    const base = { unit: group.unit, pgid: group.pgid, attempt: group.attempt, host: group.host };
    const where = `process group ${group.pgid} of step ${group.unit} (attempt ${group.attempt}`;
    if (group.host !== here) {
      io.warn(
        `${where}, host ${group.host}) was not seen to end, and this host (${here}) cannot check another host's processes: the step reruns; make sure nothing of it still runs on ${group.host}`,
      );
      io.record({ type: 'process/taken-over', ...base, outcome: 'not-checked' });
      continue;
    }
    if (!recordedGroupRuns(group)) {
      io.record({ type: 'process/taken-over', ...base, outcome: 'gone' });
      continue;
    }
    io.warn(
      `${where}) is still running although its ckpt process is gone: stopping it (SIGTERM, SIGKILL after ${STOP_GRACE_MS / 1000} s) before the step reruns`,
    );
    let outcome: GroupStop;
    try {
      outcome = await (io.stop ?? stopProcessGroup)(group.pgid);
    } catch (error) {
      throw new Error(
        `${where}) is still running and cannot be stopped (${(error as Error).message}); stop it (kill -KILL -- -${group.pgid}), then rerun`,
      );
    }
    io.record({ type: 'process/taken-over', ...base, outcome });
  }
  return groups.length;
}
