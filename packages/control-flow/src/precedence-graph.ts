import { closestName } from './closest-name.js';
import type { Step } from './model.js';

/** `; did you mean load?` when a sibling's id is close to a missing one. */
function suggestSibling(missing: string, siblings: Iterable<string>): string {
  const close = closestName(missing, siblings);
  return close !== undefined ? `; did you mean ${close}?` : '';
}

/**
 * The problems of one container's precedence graph (`path` is where its steps are listed):
 * constraints must name siblings (not a step elsewhere in the package, for which `elsewhere`
 * is true, nor the step itself), and the graph must have no cycle (the first found is reported
 * with the steps on it). A step without `after` follows the step before it.
 */
export function precedenceProblems(steps: readonly Step[], path: string, elsewhere: (id: string) => boolean): string[] {
  const problems: string[] = [];
  const index = new Map(steps.map((s, i) => [s.id, i]));
  const edges = new Map<string, string[]>();
  steps.forEach((step, i) => {
    const preds: string[] = [];
    if (step.after === undefined) {
      if (i > 0) preds.push(steps[i - 1]!.id);
    } else {
      for (const c of step.after) {
        if (!index.has(c.step)) {
          problems.push(
            elsewhere(c.step)
              ? `${path}[${i}].after.${c.step}: step "${c.step}" is not in the same container as "${step.id}"; precedence constraints join siblings`
              : `${path}[${i}].after.${c.step}: no step has id "${c.step}"${suggestSibling(c.step, index.keys())}`,
          );
        } else if (c.step === step.id) problems.push(`${path}[${i}].after.${c.step}: a step cannot follow itself`);
        else preds.push(c.step);
      }
    }
    edges.set(step.id, preds);
  });
  // Depth-first search for a cycle; report it with the steps on it.
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): boolean => {
    if (state.get(id) === 'done') return false;
    if (state.get(id) === 'visiting') {
      const cycle = [...stack.slice(stack.indexOf(id)), id];
      problems.push(`${path}[${index.get(id)}].after: precedence constraints form a cycle: ${cycle.join(' -> ')}`);
      return true;
    }
    state.set(id, 'visiting');
    stack.push(id);
    for (const pred of edges.get(id) ?? []) if (visit(pred)) return true;
    stack.pop();
    state.set(id, 'done');
    return false;
  };
  for (const step of steps) if (visit(step.id)) break;
  return problems;
}
