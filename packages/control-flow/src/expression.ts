import { InvalidInputError } from '@ckpt/core';

/**
 * A small, safe expression language for `when`, `while`, `next` and `${{ }}` templates: literals,
 * `vars.X`, `config.X`, arithmetic, comparison and boolean logic, and assignments `vars.X = e`.
 * It is parsed into a tree and interpreted; nothing is ever handed to JavaScript's eval.
 */

/** A value an expression works with. */
export type ExprValue = string | number | boolean | null;

/** Where names resolve while evaluating. */
export interface ExprScope {
  readonly vars: (name: string) => ExprValue | undefined;
  readonly config: (key: string) => ExprValue | undefined;
}

/** A parsed expression. */
export type Expr =
  | { readonly t: 'lit'; readonly value: ExprValue }
  | { readonly t: 'ref'; readonly ns: 'vars' | 'config'; readonly name: string }
  | { readonly t: 'un'; readonly op: '!' | '-'; readonly arg: Expr }
  | { readonly t: 'bin'; readonly op: string; readonly left: Expr; readonly right: Expr };

/** `vars.NAME = expression`. */
export interface Assignment {
  readonly name: string;
  readonly value: Expr;
}

/** A mistake in an expression's text; the message names the position. */
export class ExpressionError extends InvalidInputError {}

type Token = { readonly k: 'num' | 'str' | 'id' | 'op'; readonly v: string; readonly pos: number };

const OPERATORS = ['==', '!=', '<=', '>=', '&&', '||', '<', '>', '+', '-', '*', '/', '%', '!', '(', ')', '.', '=', ',', ';'];

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(source.slice(i))!;
      tokens.push({ k: 'num', v: m[0], pos: i });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(source.slice(i))!;
      tokens.push({ k: 'id', v: m[0], pos: i });
      i += m[0].length;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      let text = '';
      while (j < source.length && source[j] !== c) {
        if (source[j] === '\\' && j + 1 < source.length) {
          const n = source[j + 1]!;
          text += n === 'n' ? '\n' : n === 't' ? '\t' : n;
          j += 2;
        } else text += source[j++];
      }
      if (j >= source.length) throw new ExpressionError(`expression "${source}": string starting at ${i + 1} is not closed`);
      tokens.push({ k: 'str', v: text, pos: i });
      i = j + 1;
    } else {
      const op = OPERATORS.find((o) => source.startsWith(o, i));
      if (op === undefined) throw new ExpressionError(`expression "${source}": unexpected character "${c}" at ${i + 1}`);
      tokens.push({ k: 'op', v: op, pos: i });
      i += op.length;
    }
  }
  return tokens;
}

class Parser {
  private i = 0;
  constructor(
    private readonly source: string,
    private readonly tokens: Token[],
  ) {}

  fail(message: string): never {
    const at = this.tokens[this.i]?.pos ?? this.source.length;
    throw new ExpressionError(`expression "${this.source}": ${message} at ${at + 1}`, {
      hint: 'expressions use vars.NAME, config.KEY, literals, + - * / %, == != < <= > >=, and/or/not (&& || !)',
    });
  }
  peek(): Token | undefined {
    return this.tokens[this.i];
  }
  atEnd(): boolean {
    return this.i >= this.tokens.length;
  }
  isOp(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.k === 'op' && t.v === v;
  }
  isWord(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.k === 'id' && t.v === v;
  }
  expectOp(v: string): void {
    if (!this.isOp(v)) this.fail(`expected "${v}"`);
    this.i++;
  }

  expression(): Expr {
    return this.or();
  }
  or(): Expr {
    let left = this.and();
    while (this.isOp('||') || this.isWord('or')) {
      this.i++;
      left = { t: 'bin', op: '||', left, right: this.and() };
    }
    return left;
  }
  and(): Expr {
    let left = this.not();
    while (this.isOp('&&') || this.isWord('and')) {
      this.i++;
      left = { t: 'bin', op: '&&', left, right: this.not() };
    }
    return left;
  }
  not(): Expr {
    if (this.isOp('!') || this.isWord('not')) {
      this.i++;
      return { t: 'un', op: '!', arg: this.not() };
    }
    return this.comparison();
  }
  comparison(): Expr {
    const left = this.additive();
    const t = this.peek();
    if (t?.k === 'op' && ['==', '!=', '<', '<=', '>', '>='].includes(t.v)) {
      this.i++;
      return { t: 'bin', op: t.v, left, right: this.additive() };
    }
    return left;
  }
  additive(): Expr {
    let left = this.multiplicative();
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.tokens[this.i++]!.v;
      left = { t: 'bin', op, left, right: this.multiplicative() };
    }
    return left;
  }
  multiplicative(): Expr {
    let left = this.unary();
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = this.tokens[this.i++]!.v;
      left = { t: 'bin', op, left, right: this.unary() };
    }
    return left;
  }
  unary(): Expr {
    if (this.isOp('-')) {
      this.i++;
      return { t: 'un', op: '-', arg: this.unary() };
    }
    return this.primary();
  }
  reference(): { ns: 'vars' | 'config'; name: string } {
    const t = this.peek();
    if (t?.k !== 'id' || (t.v !== 'vars' && t.v !== 'config')) this.fail('expected vars.NAME or config.KEY');
    this.i++;
    this.expectOp('.');
    const name = this.peek();
    if (name?.k !== 'id') this.fail(`expected a name after "${t.v}."`);
    // No variable or configuration key can be named so (the package file refuses it); say so
    // here rather than let a lookup reach Object.prototype.
    if (name.v === '__proto__') this.fail(`"${t.v}.__proto__" is not a name a variable or configuration key can have`);
    this.i++;
    return { ns: t.v, name: name.v };
  }
  primary(): Expr {
    const t = this.peek();
    if (t === undefined) this.fail('unexpected end');
    if (t.k === 'num') {
      this.i++;
      return { t: 'lit', value: Number(t.v) };
    }
    if (t.k === 'str') {
      this.i++;
      return { t: 'lit', value: t.v };
    }
    if (t.k === 'op' && t.v === '(') {
      this.i++;
      const inner = this.expression();
      this.expectOp(')');
      return inner;
    }
    if (t.k === 'id') {
      if (t.v === 'true' || t.v === 'false') {
        this.i++;
        return { t: 'lit', value: t.v === 'true' };
      }
      if (t.v === 'null') {
        this.i++;
        return { t: 'lit', value: null };
      }
      const ref = this.reference();
      return { t: 'ref', ...ref };
    }
    return this.fail(`unexpected "${t.v}"`);
  }
}

/** Parses an expression; throws {@link ExpressionError} naming the position. */
export function parseExpression(source: string): Expr {
  const parser = new Parser(source, tokenize(source));
  if (parser.atEnd()) parser.fail('empty expression');
  const expr = parser.expression();
  if (!parser.atEnd()) parser.fail('unexpected text');
  return expr;
}

/** Parses `vars.a = 1, vars.b = vars.a + 1` (`,` or `;` between assignments). */
export function parseAssignments(source: string): Assignment[] {
  const parser = new Parser(source, tokenize(source));
  const out: Assignment[] = [];
  while (!parser.atEnd()) {
    const ref = parser.reference();
    if (ref.ns !== 'vars') parser.fail('only vars.NAME can be assigned');
    parser.expectOp('=');
    out.push({ name: ref.name, value: parser.expression() });
    if (parser.isOp(',') || parser.isOp(';')) parser.expectOp(parser.peek()!.v);
    else if (!parser.atEnd()) parser.fail('expected "," between assignments');
  }
  if (out.length === 0) parser.fail('expected vars.NAME = expression');
  return out;
}

function truthy(value: ExprValue): boolean {
  return value !== null && value !== false && value !== 0 && value !== '';
}

function num(value: ExprValue, op: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  throw new ExpressionError(`operator "${op}" needs numbers, got ${JSON.stringify(value)}`);
}

function compare(op: string, a: ExprValue, b: ExprValue): boolean {
  // Numbers compare as numbers when either side is a number (variables from $CKPT_OUTPUT are text).
  if (typeof a === 'number' || typeof b === 'number') {
    const x = a === null || b === null ? NaN : Number(a);
    const y = a === null || b === null ? NaN : Number(b);
    if (!Number.isNaN(x) && !Number.isNaN(y)) {
      switch (op) {
        case '==':
          return x === y;
        case '!=':
          return x !== y;
        case '<':
          return x < y;
        case '<=':
          return x <= y;
        case '>':
          return x > y;
        default:
          return x >= y;
      }
    }
  }
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
  if (typeof a !== 'string' || typeof b !== 'string') throw new ExpressionError(`cannot compare ${JSON.stringify(a)} ${op} ${JSON.stringify(b)}`);
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    default:
      return a >= b;
  }
}

/** Evaluates a parsed expression. Unknown names are an error naming them. */
export function evaluate(expr: Expr, scope: ExprScope): ExprValue {
  switch (expr.t) {
    case 'lit':
      return expr.value;
    case 'ref': {
      const value = expr.ns === 'vars' ? scope.vars(expr.name) : scope.config(expr.name);
      if (value === undefined)
        throw new ExpressionError(`${expr.ns}.${expr.name} is not defined`, {
          hint: expr.ns === 'vars' ? 'declare it under variables:' : 'add it under config: or pass --config',
        });
      return value;
    }
    case 'un': {
      const value = evaluate(expr.arg, scope);
      return expr.op === '!' ? !truthy(value) : -num(value, '-');
    }
    case 'bin': {
      if (expr.op === '&&') return truthy(evaluate(expr.left, scope)) ? truthy(evaluate(expr.right, scope)) : false;
      if (expr.op === '||') return truthy(evaluate(expr.left, scope)) ? true : truthy(evaluate(expr.right, scope));
      const a = evaluate(expr.left, scope);
      const b = evaluate(expr.right, scope);
      switch (expr.op) {
        case '+':
          return typeof a === 'string' || typeof b === 'string' ? `${a ?? ''}${b ?? ''}` : num(a, '+') + num(b, '+');
        case '-':
          return num(a, '-') - num(b, '-');
        case '*':
          return num(a, '*') * num(b, '*');
        case '/':
          return num(a, '/') / num(b, '/');
        case '%':
          return num(a, '%') % num(b, '%');
        default:
          return compare(expr.op, a, b);
      }
    }
  }
}

/** Evaluates to a boolean (`when`, `while`). */
export function evaluateCondition(expr: Expr, scope: ExprScope): boolean {
  return truthy(evaluate(expr, scope));
}

const TEMPLATE = /\$\{\{([\s\S]*?)\}\}/g;

/** Checks the `${{ ... }}` parts of a text parse; returns the text unchanged. */
export function checkTemplate(text: string): string {
  for (const match of text.matchAll(TEMPLATE)) parseExpression(match[1]!.trim());
  return text;
}

/** Expands every `${{ expression }}` in `text`. */
export function expandTemplate(text: string, scope: ExprScope): string {
  return text.replace(TEMPLATE, (_, source: string) => {
    const value = evaluate(parseExpression(source.trim()), scope);
    return value === null ? '' : String(value);
  });
}

/** The names an expression reads (`vars.X`, `config.K`), in order, repeats included. */
export function referencesOf(expr: Expr): { readonly ns: 'vars' | 'config'; readonly name: string }[] {
  switch (expr.t) {
    case 'lit':
      return [];
    case 'ref':
      return [{ ns: expr.ns, name: expr.name }];
    case 'un':
      return referencesOf(expr.arg);
    case 'bin':
      return [...referencesOf(expr.left), ...referencesOf(expr.right)];
  }
}

/** The expression texts inside the `${{ ... }}` parts of a text, trimmed. */
export function templateSources(text: string): string[] {
  return [...text.matchAll(TEMPLATE)].map((match) => match[1]!.trim());
}
