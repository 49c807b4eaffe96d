import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExpressionError, evaluate, evaluateCondition, expandTemplate, parseAssignments, parseExpression, type ExprScope } from './expression.js';

const scope = (vars: Record<string, string | number | boolean>, config: Record<string, string> = {}): ExprScope => ({
  vars: (name) => vars[name],
  config: (key) => config[key],
});

describe('safe expressions', () => {
  it('evaluates comparison, boolean logic, arithmetic and literals', () => {
    const s = scope({ rows: 10, day: 'mon', ok: true });
    expect(evaluate(parseExpression('vars.rows * 2 + 1'), s)).toBe(21);
    expect(evaluateCondition(parseExpression('vars.rows > 5 && vars.day == "mon"'), s)).toBe(true);
    expect(evaluateCondition(parseExpression('not vars.ok or vars.rows % 3 == 1'), s)).toBe(true);
    expect(evaluate(parseExpression("'a' + vars.day"), s)).toBe('amon');
    expect(evaluate(parseExpression('-(1 - 3)'), s)).toBe(2);
  });

  it('compares numeric text from $CKPT_OUTPUT as numbers', () => {
    expect(evaluateCondition(parseExpression('vars.rows > 9'), scope({ rows: '10' }))).toBe(true);
  });

  it('refuses anything that is not the grammar (no eval)', () => {
    for (const source of ['process.exit()', 'vars.x; 1', 'globalThis', 'vars["x"]', '`x`', '(() => 1)()', 'config.constructor.constructor("x")()']) {
      expect(() => parseExpression(source)).toThrow(ExpressionError);
    }
  });

  it('names an undefined variable', () => {
    expect(() => evaluate(parseExpression('vars.nope + 1'), scope({}))).toThrow(/vars\.nope is not defined/);
  });

  it('parses assignments for for loops', () => {
    expect(parseAssignments('vars.i = 0, vars.j = vars.i + 1').map((a) => a.name)).toEqual(['i', 'j']);
    expect(() => parseAssignments('config.i = 0')).toThrow(/only vars.NAME can be assigned/);
  });

  it('expands templates', () => {
    expect(expandTemplate('load ${{ vars.region }} into ${{config.dir}}/x', scope({ region: 'eu' }, { dir: '/data' }))).toBe('load eu into /data/x');
  });

  it('integer arithmetic agrees with JavaScript (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: -1000, max: 1000 }), fc.integer({ min: 1, max: 50 }), (a, b, c) => {
        const s = scope({ a, b, c });
        expect(evaluate(parseExpression('vars.a + vars.b * vars.c - (vars.a % vars.c)'), s)).toBe(a + b * c - (a % c));
        expect(evaluateCondition(parseExpression('vars.a < vars.b || vars.a == vars.b'), s)).toBe(a <= b);
      }),
    );
  });
});
