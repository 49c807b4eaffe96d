/**
 * Keeps the benchmarks from rotting: runs every suite in quick mode into a temporary output
 * directory and checks the result file's shape, and that every suite produced figures or a
 * recorded reason why a contestant is not available (verbs not built yet, a peer that could
 * not be installed). No timed assertions: figures taken under a test runner mean nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Row {
  readonly key: string;
  readonly label: string;
  readonly role: 'subject' | 'peer';
  readonly available: boolean;
  readonly reason?: string;
  readonly samples?: readonly number[];
  readonly median?: number | null;
  readonly min?: number | null;
  readonly max?: number | null;
}
interface Figure {
  readonly id: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly rows: readonly Row[];
}
interface Goal {
  readonly text: string;
  readonly met: boolean | null;
  readonly measured: number | null;
  readonly reason?: string;
}
interface Suite {
  readonly id: string;
  readonly number: number;
  readonly status: 'measured' | 'partial' | 'unavailable' | 'failed';
  readonly error?: string;
  readonly figures: readonly Figure[];
  readonly goals: readonly Goal[];
}
interface BenchResult {
  readonly schema: number;
  readonly mode: string;
  readonly machine: {
    readonly cpu: string;
    readonly cores: number;
    readonly node: string;
    readonly kernel: string;
    readonly disk: { readonly device: string; readonly fs: string };
  };
  readonly suites: readonly Suite[];
}

const benchDir = dirname(fileURLToPath(import.meta.url));
const EXPECTED_SUITES = [
  'durable-append',
  'group-commit',
  'buffered-append',
  'resume',
  'control-flow',
  'copy',
  'resume-transfer',
  'cli-startup',
  'shared-store',
];

describe('node bench/run.mjs --quick', () => {
  let out: string;
  let result: BenchResult;
  let resultFile: string;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'ckpt-bench-test-'));
    // --no-install: the test must not depend on better-sqlite3 or rsync being installable.
    const stdout = execFileSync(process.execPath, [join(benchDir, 'run.mjs'), '--quick', '--no-install', '--no-diagnose', '--out', out], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 170_000,
    });
    resultFile = stdout.trim().split('\n').at(-1) ?? '';
    result = JSON.parse(readFileSync(resultFile, 'utf8')) as BenchResult;
  }, 180_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('writes the result file, RESULTS-quick.md and the resume chart under --out', () => {
    expect(resultFile.startsWith(join(out, 'results'))).toBe(true);
    expect(resultFile).toMatch(/\d{4}-\d\d-\d\dT\d{4}Z-.+-quick\.json$/);
    const markdown = readFileSync(join(out, 'RESULTS-quick.md'), 'utf8');
    expect(markdown).toContain('## Goals');
    expect(markdown).toContain('## Machine');
    const svg = readFileSync(join(out, 'charts', 'resume-quick.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
  });

  it('records the machine facts', () => {
    expect(result.schema).toBe(1);
    expect(result.mode).toBe('quick');
    expect(result.machine.cpu.length).toBeGreaterThan(0);
    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.machine.node).toBe(process.version);
    expect(result.machine.kernel.length).toBeGreaterThan(0);
    expect(result.machine.disk.fs.length).toBeGreaterThan(0);
  });

  it('runs every suite, none failed', () => {
    expect(result.suites.map((s) => s.id)).toEqual(EXPECTED_SUITES);
    for (const suite of result.suites) expect(suite.status, `${suite.id}: ${suite.error ?? ''}`).not.toBe('failed');
  });

  it('gives every suite figures: samples for what ran, a reason for what is not available', () => {
    for (const suite of result.suites) {
      expect(suite.figures.length, suite.id).toBeGreaterThan(0);
      // The shared-store suite needs PostgreSQL's server programs; without them (never in CI,
      // whose .ci/run installs them) every row says why, as checked below.
      const needsServer = suite.id === 'shared-store' && suite.status === 'unavailable' && process.env['CI'] !== 'true';
      // Every suite measures at least one contestant (the peers run even when ckpt's verb is not built).
      if (!needsServer)
        expect(
          suite.figures.some((f) => f.rows.some((r) => r.available)),
          suite.id,
        ).toBe(true);
      for (const figure of suite.figures) {
        expect(['higher', 'lower']).toContain(figure.better);
        for (const row of figure.rows) {
          if (row.available) {
            expect(row.samples?.length, `${figure.id}/${row.key}`).toBeGreaterThan(0);
            expect(typeof row.median, `${figure.id}/${row.key}`).toBe('number');
            expect(row.min! <= row.median! && row.median! <= row.max!, `${figure.id}/${row.key}`).toBe(true);
          } else {
            expect(row.reason, `${figure.id}/${row.key}`).toMatch(/\S/);
          }
        }
      }
    }
  });

  it('measures the journal suites and CLI start-up against their peers', () => {
    for (const id of ['durable-append', 'group-commit', 'buffered-append', 'resume', 'cli-startup']) {
      const suite = result.suites.find((s) => s.id === id)!;
      for (const figure of suite.figures) {
        const subject = figure.rows.find((r) => r.role === 'subject')!;
        const peer = figure.rows.find((r) => r.role === 'peer' && r.available);
        expect(subject.available, `${figure.id}: ckpt measured`).toBe(true);
        expect(peer, `${figure.id}: a peer measured`).toBeDefined();
      }
    }
  });

  it('evaluates every goal, or says why it could not', () => {
    for (const suite of result.suites) {
      expect(suite.goals.length, suite.id).toBeGreaterThan(0);
      for (const goal of suite.goals) {
        if (goal.met === null) expect(goal.reason, `${suite.id}: ${goal.text}`).toMatch(/\S/);
        else expect(typeof goal.measured).toBe('number');
      }
    }
  });

  it('records the verbs that are not built yet as "not available in this build", not as failures', () => {
    for (const id of ['control-flow', 'copy', 'resume-transfer']) {
      const suite = result.suites.find((s) => s.id === id)!;
      for (const row of suite.figures.flatMap((f) => f.rows).filter((r) => r.role === 'subject' && !r.available)) {
        expect(row.reason, `${id}/${row.key}`).toMatch(/not available in this build/);
      }
    }
  });
});
