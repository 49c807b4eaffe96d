import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TaskPlugin } from '@ckpt/control-flow';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunVerbOptions } from '../cli.js';
import { exitCodeOf } from '../exit-codes.js';
import { reportError, type CliIo } from '../output.js';
import { runCommand } from './run.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-run-cli-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

// eslint-disable-next-line no-control-regex
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, '');

function captureIo(): CliIo & { out(): string; err(): string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk));
        done();
      },
    });
  return { stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)), out: () => plain(out), err: () => plain(err) };
}

/** Runs the verb as the CLI does: thrown errors are reported and mapped to exit codes. */
async function run(file: string, options: RunVerbOptions = {}, plugins?: readonly TaskPlugin[]) {
  const io = captureIo();
  let code: number;
  try {
    code = await runCommand(file, options, io, plugins);
  } catch (error) {
    reportError(io, error);
    code = exitCodeOf(error);
  }
  return { code, out: io.out(), err: io.err() };
}

async function writePackage(yaml: string): Promise<string> {
  const file = join(dir, 'pkg.yaml');
  await writeFile(file, yaml);
  return file;
}

const THREE_STEPS = `
id: demo
version: 1
checkpoint: { file: .ckpt/demo.ckpt, usage: if-exists, save: true }
config: { marker: ready }
steps:
  - { id: a, exec: [sh, -c, 'echo a >> log.txt'] }
  - { id: b, exec: [sh, -c, 'test -f \${{ config.marker }} || { echo "no \${{ config.marker }} file" >&2; exit 4; }; echo b >> log.txt'] }
  - { id: c, exec: [sh, -c, 'echo c >> log.txt'] }
`;

describe('ckpt run', () => {
  it('exits 0 when the package succeeds, and deletes the checkpoint', async () => {
    const file = await writePackage(THREE_STEPS);
    await writeFile(join(dir, 'ready'), '');
    const { code, out } = await run(file);
    expect(code).toBe(0);
    expect(out).toMatch(/✓ demo succeeded/);
    expect(existsSync(join(dir, '.ckpt/demo.ckpt'))).toBe(false);
    expect(await readFile(join(dir, 'log.txt'), 'utf8')).toBe('a\nb\nc\n');
  });

  it('exits 1 when it fails, keeps the checkpoint, and a rerun resumes: the first line says from where, skipped steps are listed', async () => {
    const file = await writePackage(THREE_STEPS);
    const failed = await run(file);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/step b: command "sh" exited with code 4; its stderr ends with: no ready file/);
    expect(failed.err).toMatch(/checkpoint kept at .*demo\.ckpt/);
    expect(existsSync(join(dir, '.ckpt/demo.ckpt'))).toBe(true);
    await writeFile(join(dir, 'ready'), '');
    const resumed = await run(file);
    expect(resumed.code).toBe(0);
    expect(resumed.out.split('\n')[0]).toMatch(/^resuming demo \(attempt 2\) from its checkpoint: 1 unit\(s\) done and skipped; restarting at b/);
    expect(resumed.out).toMatch(/↷ a {2}skipped: the checkpoint has it/);
    expect(await readFile(join(dir, 'log.txt'), 'utf8')).toBe('a\nb\nc\n');
  });

  it('exits 2 for a schema error that names the file and the path, without a stack trace', async () => {
    const file = await writePackage(
      'id: p\nversion: 1\nsteps:\n  - { id: a, exec: [echo] }\n  - { id: b, forEach: { items: nope }, steps: [{ id: c, exec: [echo] }] }\n',
    );
    const { code, err } = await run(file);
    expect(code).toBe(2);
    expect(err).toContain(file);
    expect(err).toMatch(/steps\[1\]\.forEach\.items/);
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('exits 2 for a missing package file', async () => {
    const { code, err } = await run(join(dir, 'missing.yaml'));
    expect(code).toBe(2);
    expect(err).toMatch(/cannot read package file .*missing\.yaml \(ENOENT\)/);
  });

  it('rule 1: --checkpointing on equals save + usage always: refused before any task without a checkpoint, resumes with one', async () => {
    const file = await writePackage(THREE_STEPS.replace('usage: if-exists, save: true', 'usage: never, save: false'));
    const refused = await run(file, { checkpointing: 'on' });
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/does not exist, and usage "always" requires one/);
    expect(existsSync(join(dir, 'log.txt'))).toBe(false);
    expect((await run(file, { usage: 'if-exists', saveCheckpoints: true })).code).toBe(1);
    await writeFile(join(dir, 'ready'), '');
    const resumed = await run(file, { checkpointing: 'on' });
    expect(resumed.code).toBe(0);
    expect(await readFile(join(dir, 'log.txt'), 'utf8')).toBe('a\nb\nc\n');
  });

  it('--no-save-checkpoints and --checkpoint-file override the file', async () => {
    const file = await writePackage(THREE_STEPS);
    const other = join(dir, 'elsewhere.ckpt');
    expect((await run(file, { checkpointFile: other })).code).toBe(1);
    expect(existsSync(other)).toBe(true);
    expect(existsSync(join(dir, '.ckpt/demo.ckpt'))).toBe(false);
    const unsaved = await run(file, { saveCheckpoints: false, usage: 'never' });
    expect(unsaved.code).toBe(1);
    expect(unsaved.err).toMatch(/checkpoints are not saved/);
  });

  it('says when the settings make restart impossible', async () => {
    const file = await writePackage(THREE_STEPS.replace('usage: if-exists, save: true', 'usage: if-exists, save: false'));
    const { err } = await run(file);
    expect(err).toMatch(/warning: checkpoints are not saved \(checkpoint.save is false\)/);
  });

  it('--set, --config and --force-result reach the package', async () => {
    const file = await writePackage(`
id: p
version: 1
variables: { who: { type: string, value: nobody } }
config: { greeting: hello }
steps:
  - { id: a, exec: [sh, -c, 'echo "\${{ config.greeting }} \${{ vars.who }}" > out.txt'] }
  - { id: b, exec: [sh, -c, 'true'] }
`);
    const { code } = await run(file, { set: ['who=world'], config: ['greeting=hi'], forceResult: ['b=failure'] });
    expect(code).toBe(1);
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('hi world\n');
    const bad = await run(file, { forceResult: ['nope=failure'] });
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/has no step "nope"/);
  });

  it('--set with a value that does not fit the variable type is refused before any work', async () => {
    const file = await writePackage(
      'id: p\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nvariables: { rows: { type: int, value: 0 } }\nsteps:\n  - { id: a, exec: [sh, -c, "echo a > ran"] }\n',
    );
    const { code, err } = await run(file, { set: ['rows=many'] });
    expect(code).toBe(2);
    expect(err).toMatch(/variable "rows" is an int; "many" is not an integer/);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
    expect(existsSync(join(dir, '.ckpt'))).toBe(false);
  });

  it('runs a package written as JSON', async () => {
    const file = join(dir, 'pkg.json');
    await writeFile(
      file,
      JSON.stringify({
        id: 'j',
        version: 1,
        variables: { who: { type: 'string', value: 'json' } },
        steps: [{ id: 'a', exec: ['sh', '-c', 'echo "$CKPT_VAR_WHO" > out.txt'] }],
      }),
    );
    expect((await run(file)).code).toBe(0);
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('json\n');
  });

  it('an exec task sets a variable through $CKPT_OUTPUT that a later step reads with ${{ vars.X }}', async () => {
    const file = await writePackage(`
id: p
version: 1
variables: { rows: { type: int, value: 0 } }
steps:
  - { id: count, exec: [sh, -c, 'echo "rows=3" >> "$CKPT_OUTPUT"'] }
  - { id: use, exec: [sh, -c, 'echo "\${{ vars.rows }} $CKPT_VAR_ROWS" > out.txt'] }
`);
    expect((await run(file)).code).toBe(0);
    expect(await readFile(join(dir, 'out.txt'), 'utf8')).toBe('3 3\n');
  });

  it('--json prints one JSON event per line', async () => {
    const file = await writePackage(THREE_STEPS);
    await writeFile(join(dir, 'ready'), '');
    const { code, out } = await run(file, { json: true });
    expect(code).toBe(0);
    const events = out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; unit?: string });
    expect(events[0]?.type).toBe('run-started');
    expect(events.at(-1)).toMatchObject({ type: 'run-ended', outcome: 'success', exitCode: 0 });
    expect(events.filter((e) => e.type === 'unit-completed').map((e) => e.unit)).toEqual(['a', 'b', 'c']);
  });

  it('--json shows each record as the checkpoint holds it (stamped, attempt records included), in order with the notices', async () => {
    const file = await writePackage(THREE_STEPS);
    await writeFile(join(dir, 'ready'), '');
    const { code, out } = await run(file, { json: true });
    expect(code).toBe(0);
    const lines = out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; unit?: string; at?: unknown });
    expect(lines.slice(0, 2).map((e) => e.type)).toEqual(['run-started', 'attempt-started']);
    expect(lines.at(-2)?.type).toBe('attempt-ended');
    expect(lines.filter((e) => e.type === 'unit-completed').every((e) => typeof e.at === 'number')).toBe(true);
    // A step's start is recorded, then shown.
    const order = lines.filter((e) => e.unit === 'a' && (e.type === 'unit-started' || e.type === 'step-started')).map((e) => e.type);
    expect(order).toEqual(['unit-started', 'step-started']);
  });

  it('a sensitive --set value never appears in --json output', async () => {
    const file = await writePackage(
      `id: p\nversion: 1\nvariables: { token: { type: string, value: "", sensitive: true } }\nsteps:\n  - { id: a, exec: [sh, -c, 'test -n "$CKPT_VAR_TOKEN"'] }\n`,
    );
    const { code, out } = await run(file, { json: true, set: ['token=s3cr3t-value'] });
    expect(code).toBe(0);
    expect(out).not.toContain('s3cr3t-value');
  });

  it('a copy step with no copy plug-in registered is refused, naming the step', async () => {
    const file = await writePackage('id: p\nversion: 1\nsteps:\n  - { id: ship, copy: { from: a.csv, to: "ckpt://beta/a.csv" } }\n');
    const { code, err } = await run(file, {}, []);
    expect(code).toBe(2);
    expect(err).toMatch(/steps\[0\]\.copy: step "ship" is a copy task, and no copy task plug-in is registered/);
  });

  it('a copy step runs through a registered plug-in', async () => {
    const file = await writePackage('id: p\nversion: 1\nsteps:\n  - { id: ship, copy: { from: a.csv, to: b.csv } }\n');
    const seen: unknown[] = [];
    const copy: TaskPlugin = { kind: 'copy', validate: (spec) => spec, run: async (spec) => void seen.push(spec) };
    expect((await run(file, {}, [copy])).code).toBe(0);
    expect(seen).toEqual([{ from: 'a.csv', to: 'b.csv' }]);
  });

  it('rule 2: a checkpoint of another version is refused with exit 2 and left untouched', async () => {
    const file = await writePackage(THREE_STEPS);
    await run(file);
    const before = await readFile(join(dir, '.ckpt/demo.ckpt'));
    await writeFile(file, THREE_STEPS.replace('version: 1', 'version: 2'));
    const { code, err } = await run(file);
    expect(code).toBe(2);
    expect(err).toMatch(/version/);
    expect(Buffer.compare(before, await readFile(join(dir, '.ckpt/demo.ckpt')))).toBe(0);
  });

  it('rule 7: a changed --config on restart prints a warning naming the keys that differ', async () => {
    const file = await writePackage(THREE_STEPS);
    await run(file);
    await writeFile(join(dir, 'ready'), '');
    const { err } = await run(file, { config: ['marker=other'] });
    expect(err).toMatch(/warning: configuration differs .* for marker; the captured values are used/);
  });
});

describe('the run view on a terminal', () => {
  it('shows the running step live below the log, then its result', async () => {
    const file = await writePackage(`id: p\nversion: 1\nsteps:\n  - { id: slow, exec: [sh, -c, 'sleep 0.3'] }\n`);
    const io = captureIo();
    Object.assign(io.stdout, { isTTY: true });
    expect(await runCommand(file, {}, io)).toBe(0);
    const out = io.out();
    expect(out).toContain('⋯ slow  running for');
    expect(out).toContain('\u001b[1A\u001b[2K');
    expect(out).toMatch(/✓ slow {2}done/);
  });
});
