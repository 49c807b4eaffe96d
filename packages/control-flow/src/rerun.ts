import { FoldError, type CheckpointState, type ExtensionEvent, type ExtensionReducer } from '@ckpt/core';
import { isContainer, type Package, type Step } from './model.js';

/**
 * The `control-flow/*` namespace: the runner's own events.
 * - `control-flow/retry {unit, step, retry, of, waitMs, error}`: an exec step with `retry`
 *   failed and is tried again (retry `retry` of `of`) after `waitMs`.
 * - `control-flow/rerun {attempt, requested, steps}`: `ckpt run --rerun` asked, at the start of
 *   attempt `attempt`, to run `requested` again; `steps` is every step that reruns with them.
 *   A completion recorded before that attempt, of a unit of one of `steps`, no longer counts.
 * The folded state is the list of reruns (retries are history only: `ckpt events` shows them).
 */
export const CONTROL_FLOW_NAMESPACE = 'control-flow';

/** A recorded `--rerun`. */
export interface RerunRecord {
  readonly attempt: number;
  readonly requested: readonly string[];
  readonly steps: readonly string[];
}

/** The folded `control-flow/*` state. */
export interface ControlFlowState {
  readonly reruns: readonly RerunRecord[];
}

function strings(event: ExtensionEvent, field: string): string[] {
  const value = event[field];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v === ''))
    throw new FoldError(`${event.type} event needs a list of step ids "${field}"`);
  return value as string[];
}

function count(event: ExtensionEvent, field: string): number {
  const value = event[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw new FoldError(`${event.type} event needs a non-negative integer "${field}"`);
  return value;
}

/** Pure reducer of `control-flow/*` events. */
export const controlFlowReducer: ExtensionReducer<ControlFlowState> = {
  namespace: CONTROL_FLOW_NAMESPACE,
  initial: () => ({ reruns: [] }),
  evolve(state, event) {
    switch (event.type) {
      case 'control-flow/rerun': {
        const record: RerunRecord = { attempt: count(event, 'attempt'), requested: strings(event, 'requested'), steps: strings(event, 'steps') };
        return { reruns: [...state.reruns, record] };
      }
      case 'control-flow/retry':
        count(event, 'retry');
        count(event, 'of');
        count(event, 'waitMs');
        return state;
      default:
        return state;
    }
  },
};

/** The reruns a checkpoint records (none when it was read without the control-flow reducer). */
export function rerunsOf(state: CheckpointState): readonly RerunRecord[] {
  const folded = state.extensions.get(CONTROL_FLOW_NAMESPACE) as Partial<ControlFlowState> | undefined;
  return Array.isArray(folded?.reruns) ? folded.reruns : [];
}

/** The step a unit belongs to: `per-region[2]/load` → `load`, `per-region[2]` → `per-region`. */
export function stepOfUnit(unit: string): string {
  const bare = unit.replace(/@(transaction|loop)$/, '');
  return bare.slice(bare.lastIndexOf('/') + 1).replace(/\[\d+\]$/, '');
}

/**
 * Whether a record of `unit` made in attempt `attempt` was voided by a later `--rerun`
 * (the rerun is recorded before anything of its attempt runs, so "later" is "a greater attempt").
 */
export function voidedByRerun(reruns: readonly RerunRecord[], unit: string, attempt: number): boolean {
  const step = stepOfUnit(unit);
  return reruns.some((r) => r.attempt > attempt && r.steps.includes(step));
}

/**
 * What `--rerun` of `requested` runs again, as Temporal's reset does: everything from the step
 * on. Precisely, for each requested step S:
 * - the start point P is S, or the outermost atomic container around S (a `transaction:
 *   required` step, or a loop without `checkpointIterations`), which reruns whole;
 * - P, every step after P in the package's order (depth first, as written: P's own steps,
 *   the later steps of its container, the later steps of the containers around it), and the
 *   containers around P (so they are entered again; their steps before P stay skipped).
 * Event handlers (onError) are not steps of that order; they run when a failure fires them.
 * Returns step ids in package order.
 */
export function rerunSelection(pkg: Package, requested: readonly string[]): string[] {
  const order: Step[] = [];
  const parents = new Map<string, Step | undefined>();
  const walk = (steps: readonly Step[], parent: Step | undefined) => {
    for (const step of steps) {
      order.push(step);
      parents.set(step.id, parent);
      if (isContainer(step)) walk(step.steps, step);
    }
  };
  walk(pkg.root.steps, undefined);
  const position = new Map(order.map((s, i) => [s.id, i]));
  const atomic = (s: Step) => s.transaction === 'required' || ((s.kind === 'forEach' || s.kind === 'for') && !s.checkpointIterations);
  const chosen = new Set<string>();
  for (const id of requested) {
    if (!position.has(id)) continue;
    let start = order[position.get(id)!]!;
    for (let p = parents.get(start.id); p !== undefined; p = parents.get(p.id)) if (atomic(p)) start = p;
    for (let i = position.get(start.id)!; i < order.length; i++) chosen.add(order[i]!.id);
    for (let p = parents.get(start.id); p !== undefined; p = parents.get(p.id)) chosen.add(p.id);
  }
  return order.filter((s) => chosen.has(s.id)).map((s) => s.id);
}
