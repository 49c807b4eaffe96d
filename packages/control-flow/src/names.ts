import { closestName } from './closest-name.js';
import type { PackageDefinition, StepDefinition } from './compile.js';
import { parseAssignments, parseExpression, referencesOf, templateSources, type Assignment, type Expr } from './expression.js';

/**
 * Every name a package reads — `vars.X` and `config.K` in templates (`${{ }}`) and expressions
 * (`when`, `while`, `init`, `next`) — checked against what defines it, where it is read. A typo
 * such as `${{ vars.cuont }}` would otherwise pass the compiler and fail when its step runs,
 * hours into a job.
 *
 * What defines a name, as the runner resolves it:
 * - `variables:` (the whole package) and `config:` keys (the whole package; `--config` may only
 *   override them);
 * - a forEach loop's `as` name and `<as>Index`, inside the loop's steps (and its onError);
 * - a for loop's `init` targets that are not declared variables: inside the loop (`while`,
 *   `next`, its steps) — its loop variables;
 * - `failedStep` and `errorMessage`, inside onError handlers.
 * A variable a task sets through `$CKPT_OUTPUT` must be declared to be read here: which names a
 * command writes is not known before it runs.
 */

/** A name read where nothing defines it. */
export interface NameProblem {
  /** Where it is read: `steps[1].exec[2]`. */
  readonly path: string;
  readonly message: string;
  /** The closest name defined there, when one is close enough to be a likely typo. */
  readonly suggestion?: string;
}

/** Names visible as `vars.X` beyond the declared variables, each with what defines it. */
type Locals = ReadonlyMap<string, string>;

interface Unknown {
  readonly ns: 'vars' | 'config';
  readonly name: string;
  readonly path: string;
  readonly locals: Locals;
  readonly assigned?: boolean;
}

/** Checks every name a (schema-valid) definition reads; syntax errors are the compiler's to report. */
export function nameProblems(def: PackageDefinition, options: { readonly pluginKinds?: readonly string[] } = {}): NameProblem[] {
  const declared = new Set(Object.keys(def.variables ?? {}));
  const configKeys = new Set(Object.keys(def.config ?? {}));
  const pluginKinds = options.pluginKinds ?? ['copy'];
  const unknown: Unknown[] = [];
  // Every loop or handler name of the package, to tell "defined elsewhere" from "not defined".
  const definedSomewhere = new Map<string, string>([
    ['failedStep', 'onError handlers'],
    ['errorMessage', 'onError handlers'],
  ]);

  const isKnown = (ns: 'vars' | 'config', name: string, locals: Locals): boolean =>
    ns === 'config' ? configKeys.has(name) : declared.has(name) || locals.has(name);

  const checkExpr = (expr: Expr, path: string, locals: Locals): void => {
    for (const ref of referencesOf(expr)) if (!isKnown(ref.ns, ref.name, locals)) unknown.push({ ...ref, path, locals });
  };
  const parsed = <T>(parse: () => T): T | undefined => {
    try {
      return parse();
    } catch {
      return undefined; // the compiler reports the syntax error at the same path
    }
  };
  const checkText = (text: string, path: string, locals: Locals): void => {
    for (const source of templateSources(text)) {
      const expr = parsed(() => parseExpression(source));
      if (expr !== undefined) checkExpr(expr, path, locals);
    }
  };
  const checkStrings = (value: unknown, path: string, locals: Locals): void => {
    if (typeof value === 'string') checkText(value, path, locals);
    else if (Array.isArray(value)) value.forEach((v, i) => checkStrings(v, `${path}[${i}]`, locals));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) checkStrings(v, `${path}.${k}`, locals);
  };
  const define = (locals: Map<string, string>, name: string, by: string): void => {
    locals.set(name, by);
    if (!definedSomewhere.has(name)) definedSomewhere.set(name, by);
  };
  const handlerLocals = (outer: Locals): Map<string, string> => {
    const locals = new Map(outer);
    define(locals, 'failedStep', 'onError handlers');
    define(locals, 'errorMessage', 'onError handlers');
    return locals;
  };

  const checkSteps = (defs: readonly StepDefinition[], path: string, locals: Locals): void => {
    defs.forEach((d, i) => checkStep(d, `${path}[${i}]`, locals));
  };

  const checkStep = (d: StepDefinition, path: string, locals: Locals): void => {
    // Precedence is evaluated where the step runs: among its siblings, with their locals.
    if (Array.isArray(d.after)) {
      (d.after as readonly (string | Record<string, string>)[]).forEach((entry, i) => {
        const when = typeof entry === 'object' ? entry['when'] : undefined;
        const expr = when !== undefined ? parsed(() => parseExpression(when)) : undefined;
        if (expr !== undefined) checkExpr(expr, `${path}.after[${i}].when`, locals);
      });
    }
    d.exec?.forEach((arg, i) => checkText(arg, `${path}.exec[${i}]`, locals));
    if (Array.isArray(d.rollback)) (d.rollback as readonly string[]).forEach((arg, i) => checkText(arg, `${path}.rollback[${i}]`, locals));
    for (const kind of pluginKinds) {
      const spec = (d as unknown as Record<string, unknown>)[kind];
      if (spec !== undefined && kind !== 'steps' && kind !== 'exec') checkStrings(spec, `${path}.${kind}`, locals);
    }
    if (d.steps === undefined) return;
    const inner = new Map(locals);
    if (d.forEach !== undefined) {
      // Items and the glob are expanded before the loop starts: outside it.
      d.forEach.items?.forEach((item, i) => typeof item === 'string' && checkText(item, `${path}.forEach.items[${i}]`, locals));
      if (d.forEach.files !== undefined) checkText(d.forEach.files, `${path}.forEach.files`, locals);
      const as = d.forEach.as ?? 'item';
      define(inner, as, `the forEach loop "${d.id}"`);
      define(inner, `${as}Index`, `the forEach loop "${d.id}"`);
    } else if (d.for !== undefined) {
      const f = d.for;
      const init: Assignment[] =
        typeof f.init === 'string'
          ? f.init === ''
            ? []
            : (parsed(() => parseAssignments(f.init as string)) ?? [])
          : Object.entries(f.init ?? {}).map(([name]) => ({ name, value: { t: 'lit', value: null } }));
      for (const a of init) {
        checkExpr(a.value, `${path}.for.init`, inner);
        if (!declared.has(a.name) && !inner.has(a.name)) define(inner, a.name, `the for loop "${d.id}"`);
      }
      const whileExpr = parsed(() => parseExpression(f.while));
      if (whileExpr !== undefined) checkExpr(whileExpr, `${path}.for.while`, inner);
      const next = f.next === undefined || f.next === '' ? [] : (parsed(() => parseAssignments(f.next!)) ?? []);
      for (const a of next) {
        checkExpr(a.value, `${path}.for.next`, inner);
        // An assignment to a misspelt name would never change the loop's condition: an endless loop.
        if (!isKnown('vars', a.name, inner)) unknown.push({ ns: 'vars', name: a.name, path: `${path}.for.next`, locals: inner, assigned: true });
      }
    }
    checkSteps(d.steps, `${path}.steps`, inner);
    if (d.onError !== undefined) checkSteps(d.onError, `${path}.onError`, handlerLocals(inner));
  };

  checkSteps(def.steps, 'steps', new Map());
  if (def.onError !== undefined) checkSteps(def.onError, 'onError', handlerLocals(new Map()));

  return unknown.map(({ ns, name, path, locals, assigned }, index): NameProblem => {
    const shown = `${ns}.${name}`;
    const what = assigned === true ? `${shown} is assigned but not declared` : `${shown} is not defined`;
    const elsewhere = ns === 'vars' ? definedSomewhere.get(name) : undefined;
    // Suggestions compare against every name in scope: bounded, so that a file with thousands
    // of unknown names and thousands of variables is still refused in a moment.
    if (index >= SUGGESTED) return { path, message: elsewhere !== undefined ? `${shown} is defined only inside ${elsewhere}` : what };
    const candidates = ns === 'config' ? [...configKeys] : [...declared, ...locals.keys()];
    const suggestion = closestName(name, candidates);
    if (suggestion !== undefined) return { path, message: `${what}; did you mean ${ns}.${suggestion}?`, suggestion };
    if (elsewhere !== undefined) return { path, message: `${shown} is defined only inside ${elsewhere}` };
    const known = [...new Set(candidates)].sort();
    const more = known.length > LISTED ? `, … (${known.length - LISTED} more)` : '';
    const listed = known.length > 0 ? ` (${ns === 'config' ? 'config has' : 'defined here'}: ${known.slice(0, LISTED).join(', ')}${more})` : '';
    const hint = ns === 'config' ? 'add it under config:' : 'declare it under variables:';
    return { path, message: `${what}${listed}; ${hint}` };
  });
}

/** Unknown names that get a suggestion or the list of names in scope; the rest are named only. */
const SUGGESTED = 20;
/** Names in scope listed when none is close. */
const LISTED = 10;
