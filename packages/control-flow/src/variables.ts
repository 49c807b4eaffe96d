import { InvalidInputError, type PlainValue, type RunContext, type VariableSet } from '@ckpt/core';
import type { ExprScope, ExprValue } from './expression.js';
import { own, type Frame } from './frame.js';
import type { Package, VariableType } from './model.js';
import type { RunNotice } from './notices.js';
import type { SecretMask } from './secret-mask.js';

/** Why `value` is not of `type`, or undefined when it is. */
export function typeProblem(type: VariableType, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : `expected a string, got ${JSON.stringify(value)}`;
    case 'int':
      return Number.isSafeInteger(value) ? undefined : `expected an integer, got ${JSON.stringify(value)}`;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : `expected a number, got ${JSON.stringify(value)}`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `expected true or false, got ${JSON.stringify(value)}`;
    case 'object':
      return undefined;
  }
}

/**
 * Converts text (from `--set` or `$CKPT_OUTPUT`) to a variable's type; throws naming the variable.
 * A sensitive variable's text is never quoted in the message.
 */
export function coerceText(
  name: string,
  type: VariableType,
  text: string,
  options: { readonly sensitive?: boolean } = {},
): string | number | boolean {
  const shown = options.sensitive === true ? 'the value given' : `"${text}"`;
  switch (type) {
    case 'string':
    case 'object':
      return text;
    case 'int': {
      const n = Number(text.trim());
      if (text.trim() === '' || !Number.isSafeInteger(n)) throw new InvalidInputError(`variable "${name}" is an int; ${shown} is not an integer`);
      return n;
    }
    case 'number': {
      const n = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(n)) throw new InvalidInputError(`variable "${name}" is a number; ${shown} is not a number`);
      return n;
    }
    case 'boolean':
      if (/^(true|1|yes)$/i.test(text.trim())) return true;
      if (/^(false|0|no)$/i.test(text.trim())) return false;
      throw new InvalidInputError(`variable "${name}" is a boolean; ${shown} is not true or false`);
  }
}

function defaultOf(type: VariableType): ExprValue {
  switch (type) {
    case 'string':
      return '';
    case 'int':
    case 'number':
      return 0;
    case 'boolean':
      return false;
    case 'object':
      return null;
  }
}

/** The refusal of a restart that needs a value the checkpoint cannot give back. */
export function unrecoverableVariable(name: string, reason: string): InvalidInputError {
  return new InvalidInputError(`variable "${name}" is needed to resume, and the checkpoint cannot give it back: ${reason}`, {
    hint: `supply it again with --set ${name}=VALUE, or set the secret key it was sealed with (CKPT_SECRET_KEY)`,
  });
}

interface Variable {
  value: ExprValue | unknown;
  readonly type: VariableType;
  readonly sensitive: boolean;
}

/**
 * The variables and configuration of one attempt: their values as the run goes, type-checked
 * assignment, and the `variable-set` events that record them.
 */
export class Variables {
  private readonly vars = new Map<string, Variable>();
  /** The configuration this attempt uses (captured on the first attempt). */
  config: { readonly [key: string]: PlainValue } = {};

  constructor(
    private readonly pkg: Package,
    private readonly notify: (notice: RunNotice) => void,
  ) {}

  /** Registers the current value of every sensitive variable with the mask (values change during a run). */
  registerSecrets(mask: SecretMask): void {
    for (const v of this.vars.values()) if (v.sensitive) mask.add(v.value);
  }

  /**
   * Declared values, `--set` on a fresh start, the checkpoint's values on restart; returns the
   * events that record the starting values.
   */
  seed(set: { readonly [name: string]: string }, ctx: RunContext): VariableSet[] {
    const initial: VariableSet[] = [];
    for (const [name, decl] of this.pkg.variables) {
      this.vars.set(name, {
        value: decl.value ?? (decl.type === 'object' ? undefined : defaultOf(decl.type)),
        type: decl.type,
        sensitive: decl.sensitive,
      });
    }
    for (const [name, text] of Object.entries(set)) {
      const decl = this.pkg.variables.get(name);
      const recorded = ctx.variables.get(name);
      if (recorded?.status === 'known') {
        this.notify({
          kind: 'warning',
          message: `--set ${name} is ignored: the checkpoint holds its value from an earlier attempt, and a restart uses it`,
        });
        continue;
      }
      const value = coerceText(name, decl?.type ?? 'string', text, { sensitive: decl?.sensitive === true });
      this.vars.set(name, { value, type: decl?.type ?? 'string', sensitive: decl?.sensitive ?? false });
      if (ctx.resumed) initial.push(this.variableEvent(name)!);
    }
    for (const [name, revealed] of ctx.variables) {
      if (revealed.status === 'known') {
        const decl = this.pkg.variables.get(name);
        this.vars.set(name, {
          value: revealed.value as ExprValue,
          type: decl?.type ?? (revealed.valueType as VariableType | undefined) ?? 'string',
          sensitive: decl?.sensitive ?? revealed.sensitive,
        });
      } else if (own(set, name) === undefined) {
        throw unrecoverableVariable(name, revealed.reason);
      }
    }
    if (!ctx.resumed || ctx.startState.variables.size === 0) {
      for (const name of this.vars.keys()) {
        const event = this.variableEvent(name);
        if (event) initial.push(event);
      }
    }
    return initial;
  }

  /** What expressions and templates in `frame` read: loop locals first, then variables, then configuration. */
  scope(frame: Pick<Frame, 'locals'>): ExprScope {
    return {
      vars: (name) => {
        if (frame.locals.has(name)) return frame.locals.get(name);
        const v = this.vars.get(name);
        if (v === undefined) return undefined;
        return v.type === 'object' ? (v.value === undefined ? null : String(v.value)) : (v.value as ExprValue);
      },
      config: (key) => {
        // Own keys only: `config.constructor` must not reach Object.prototype.
        const value = own(this.config, key);
        return value === undefined ? undefined : typeof value === 'object' && value !== null ? JSON.stringify(value) : (value as ExprValue);
      },
    };
  }

  /** The variables a process sees as `CKPT_VAR_*` (object variables are not passed). */
  environment(): [string, unknown][] {
    return [...this.vars].filter(([, v]) => v.type !== 'object').map(([name, v]) => [name, v.value]);
  }

  /** The event recording `name`'s value, if it is recorded at all (and the view's notice of it). */
  variableEvent(name: string): VariableSet | undefined {
    const v = this.vars.get(name);
    if (v === undefined || v.type === 'object' || v.value === undefined) return undefined;
    // A sensitive variable still at its declared value has nothing to keep; a restart uses the declaration.
    if (v.sensitive && v.value === (this.pkg.variables.get(name)?.value ?? '')) return undefined;
    this.notify(v.sensitive ? { kind: 'variable', name, redacted: true } : { kind: 'variable', name, value: v.value as PlainValue });
    return { type: 'variable-set', name, value: v.value as PlainValue, valueType: v.type, sensitive: v.sensitive };
  }

  /** Sets a variable (type-checked) and returns the event to record, if it is recorded at all. */
  assign(name: string, value: unknown, where: string): VariableSet | undefined {
    const existing = this.vars.get(name);
    let stored = value;
    if (existing !== undefined) {
      if (typeof value === 'string' && existing.type !== 'string' && existing.type !== 'object')
        stored = coerceText(name, existing.type, value, { sensitive: existing.sensitive });
      else if (existing.type === 'int' && typeof value === 'number' && Number.isInteger(value)) stored = value;
      else {
        const problem = typeProblem(existing.type, value);
        if (problem !== undefined) throw new InvalidInputError(`${where}: variable "${name}": ${problem}`);
      }
      existing.value = stored;
    } else {
      const type: VariableType =
        typeof value === 'number'
          ? Number.isSafeInteger(value)
            ? 'int'
            : 'number'
          : typeof value === 'boolean'
            ? 'boolean'
            : typeof value === 'string' || value === null
              ? 'string'
              : 'object';
      this.vars.set(name, { value: stored, type, sensitive: false });
    }
    return this.variableEvent(name);
  }
}

/**
 * `events` as set in `frame`: each carries the innermost scope open there, so the fold holds the
 * value in that scope until it commits and drops it if it aborts (a rerun after a rollback, or
 * after a crash inside the scope, starts from the values before it). Recorded at once.
 */
export function inScope(events: readonly VariableSet[], frame: Pick<Frame, 'scopes'>): VariableSet[] {
  const scope = frame.scopes.at(-1)?.id;
  return scope === undefined ? [...events] : events.map((event) => ({ ...event, scope }));
}
