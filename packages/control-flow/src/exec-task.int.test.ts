import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Fold, NodeStorage, readLog, type ExtensionReducer } from '@ckpt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePackageText } from './package-file.js';
import { processReducer } from './process-groups.js';
import { controlFlowReducer } from './rerun.js';
import { runPackage, tempDir } from './test-support/harness.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const pkgOf = (yaml: string) => parsePackageText(yaml, { file: join(dir, 'p.yaml') });

describe('exec tasks', () => {
  it('get variables as CKPT_VAR_<NAME>, set them through $CKPT_OUTPUT, and expand ${{ }} templates in arguments', async () => {
    const pkg = pkgOf(`
id: p
version: 1
variables: { rows: { type: int, value: 0 }, day: { type: string, value: mon } }
config: { outDir: out }
steps:
  - id: count
    exec: [sh, -c, 'echo "rows=41" >> "$CKPT_OUTPUT"; echo "# comment" >> "$CKPT_OUTPUT"']
  - id: bump
    exec: [sh, -c, 'echo "rows=$((CKPT_VAR_ROWS + 1))" >> "$CKPT_OUTPUT"']
  - id: write
    exec: [sh, -c, 'echo "\${{ vars.day }} \${{ vars.rows }} \${{ config.outDir }} $CKPT_VAR_DAY" > result.txt']
`);
    const { result } = await runPackage(pkg, join(dir, 'p.ckpt'));
    expect(result.outcome).toBe('success');
    expect(await readFile(join(dir, 'result.txt'), 'utf8')).toBe('mon 42 out mon\n');
  });

  it('an exec that exits non-zero fails the step, and the error shows the tail of its stderr', async () => {
    const pkg = pkgOf(`
id: p
version: 1
steps:
  - id: load
    exec: [sh, -c, 'echo "first line" >&2; echo "table orders is locked" >&2; exit 7']
`);
    const { result, notices } = await runPackage(pkg, join(dir, 'p.ckpt'));
    expect(result.outcome).toBe('failure');
    const finished = notices.find((n) => n.kind === 'step-finished');
    expect(finished?.kind === 'step-finished' && finished.error).toMatch(/exited with code 7.*table orders is locked/);
    expect(result.error?.message).toMatch(/step load: .*table orders is locked/);
  });

  it('a command that cannot start fails the step with its name', async () => {
    const pkg = pkgOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [no-such-command-ckpt] }\n');
    const { result } = await runPackage(pkg, join(dir, 'p.ckpt'));
    expect(result.error?.message).toMatch(/cannot start "no-such-command-ckpt" \(ENOENT\)/);
  });

  it('a timeout kills the process and fails the step', async () => {
    const pkg = pkgOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: [sleep, "5"], timeout: 200ms }\n');
    const started = Date.now();
    const { result } = await runPackage(pkg, join(dir, 'p.ckpt'));
    expect(result.error?.message).toMatch(/timed out after/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a bad $CKPT_OUTPUT value for a typed variable fails the step, naming the variable', async () => {
    const pkg = pkgOf(
      `id: p\nversion: 1\nvariables: { rows: { type: int, value: 0 } }\nsteps:\n  - { id: a, exec: [sh, -c, 'echo "rows=many" >> "$CKPT_OUTPUT"'] }\n`,
    );
    const { result } = await runPackage(pkg, join(dir, 'p.ckpt'));
    expect(result.error?.message).toMatch(/variable "rows" is an int; "many" is not an integer/);
  });

  // $CKPT_OUTPUT is made and read synchronously up to 64 KiB (tasks.ts), through the thread pool
  // above: both paths, and the boundary between them, give the task's variables whole.
  // The file is the padding, a newline and `last=yes\n`: padding + 10 bytes, so 65 526 and 65 527 straddle 64 KiB.
  it.each([0, 65_526, 65_527, 200_000])('a $CKPT_OUTPUT with %i bytes of comment before its last line sets the variables in it', async (padding) => {
    const pkg = pkgOf(`
id: p
version: 1
steps:
  - id: fresh
    exec: [sh, -c, 'test -f "$CKPT_OUTPUT" && ! test -s "$CKPT_OUTPUT" && echo "first=$CKPT_OUTPUT" >> "$CKPT_OUTPUT"']
  - id: big
    exec: [node, -e, 'const fs = require("fs"); const f = process.env.CKPT_OUTPUT; fs.appendFileSync(f, "#".repeat(${padding}) + "\\n" + "last=yes\\n")']
  - id: show
    exec: [sh, -c, 'printf "%s %s" "$CKPT_VAR_LAST" "$(wc -c < "$CKPT_VAR_FIRST")" > result.txt; test "$CKPT_OUTPUT" != "$CKPT_VAR_FIRST"']
`);
    const { result } = await runPackage(pkg, join(dir, 'p.ckpt'));
    expect(result.error?.message).toBeUndefined();
    const [last, firstSize] = (await readFile(join(dir, 'result.txt'), 'utf8')).split(' ');
    expect(last).toBe('yes');
    // The first step's own file held only its line: each task gets an empty file of its own.
    expect(Number(firstSize)).toBeGreaterThan(0);
  });

  it('a task that succeeds has its process/ended recorded in the log record of its completion; a failed one has it too', async () => {
    const pkg = pkgOf('id: p\nversion: 1\nsteps:\n  - { id: a, exec: ["true"] }\n  - { id: b, exec: ["false"] }\n');
    const path = join(dir, 'p.ckpt');
    expect((await runPackage(pkg, path)).result.outcome).toBe('failure');
    const entries =
      (await readLog(new NodeStorage(), path, new Fold([processReducer, controlFlowReducer] as ExtensionReducer[]), { withEntries: true })).entries ??
      [];
    // Looked at as plain records: extension events (process/*) are not in the core event union.
    const events: { seq: number; type?: unknown; unit?: unknown; pgid?: unknown }[] = entries.flatMap((e) =>
      e.kind === 'event' ? [{ seq: e.seq, ...(e.event as unknown as Record<string, unknown>) }] : [],
    );
    const find = (type: string, unit: string) => events.filter((e) => e.type === type && e.unit === unit);
    // One log write fewer per step: the end of the process rides on the completion's record.
    expect(find('process/ended', 'a').map((e) => e.seq)).toEqual(find('unit-completed', 'a').map((e) => e.seq));
    // Every started group is seen to end, whatever the outcome, so a rerun has none to take over.
    for (const unit of ['a', 'b']) {
      expect(find('process/started', unit)).toHaveLength(1);
      expect(find('process/ended', unit).map((e) => e.pgid)).toEqual(find('process/started', unit).map((e) => e.pgid));
    }
    expect(find('unit-failed', 'b')).toHaveLength(1);
  });

  it('forEach over files matching a glob', async () => {
    await writeFile(join(dir, 'a.csv'), 'a');
    await writeFile(join(dir, 'b.csv'), 'b');
    await writeFile(join(dir, 'c.txt'), 'c');
    const pkg = pkgOf(`
id: p
version: 1
steps:
  - id: each
    forEach: { files: "*.csv", as: file }
    steps:
      - { id: copy, exec: [sh, -c, 'cat \${{ vars.file }} >> all.out'] }
`);
    expect((await runPackage(pkg, join(dir, 'p.ckpt'))).result.outcome).toBe('success');
    expect(await readFile(join(dir, 'all.out'), 'utf8')).toBe('ab');
  });

  it('a transaction rollback command runs when the transaction fails', async () => {
    const pkg = pkgOf(`
id: p
version: 1
steps:
  - id: publish
    transaction: required
    rollback: [sh, -c, 'echo rolled-back > rollback.txt']
    steps:
      - { id: swap, exec: [sh, -c, 'exit 1'] }
`);
    await runPackage(pkg, join(dir, 'p.ckpt'));
    expect(await readFile(join(dir, 'rollback.txt'), 'utf8')).toBe('rolled-back\n');
  });
});
