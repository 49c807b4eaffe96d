import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { escapeControlChars } from '../output.js';
import { ckptBin } from '../test-support/ckpt-bin.js';

/**
 * Issue 12, item 20 (terminal part): a step's output may carry terminal escape sequences (colour,
 * window title, OSC 52 clipboard writes, cursor moves). Recorded in the checkpoint, they were
 * replayed raw by `inspect` and by the run's error line. Every verb now prints them escaped, the
 * way `ckpt events` prints them (`\u001b`), with one function.
 */

const main = ckptBin();
const ckpt = (...args: string[]) =>
  spawnSync(process.execPath, [main, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
/** C0 controls but newline, DEL and C1 controls: nothing of these may reach the terminal raw. */
// eslint-disable-next-line no-control-regex
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ckpt-sec-esc-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('escapeControlChars', () => {
  it('writes C0 controls as JSON does, and DEL and C1 controls as \\u escapes; leaves other text alone', () => {
    expect(escapeControlChars('a\u001b[31mb\u0007\n\t\r')).toBe(JSON.stringify('a\u001b[31mb\u0007\n\t\r').slice(1, -1));
    expect(escapeControlChars('\u009b2J\u007f')).toBe('\\u009b2J\\u007f');
    expect(escapeControlChars('plain "text", ünïcödé ✓ \\ ok')).toBe('plain "text", ünïcödé ✓ \\ ok');
  });
});

describe('escape sequences from a failing step', () => {
  it('are escaped in the run view and its error line, in inspect, and in events', () => {
    // ESC [31m (colour), ESC ]0;…BEL (window title), ESC ]52;c;… (clipboard), CSI as the C1 byte U+009B.
    writeFileSync(
      join(dir, 'evil.yaml'),
      [
        'id: evil',
        'version: 1',
        'checkpoint: { file: evil.ckpt, usage: if-exists, save: true }',
        'steps:',
        `  - id: leak`,
        `    exec: [sh, -c, 'printf "out \\033[31mred\\n"; printf "boom \\033]0;pwned\\007 \\033]52;c;ZXZpbA==\\007 \\302\\2332J end" >&2; exit 3']`,
        '',
      ].join('\n'),
    );
    const run = ckpt('run', 'evil.yaml');
    expect(run.status, run.stderr).toBe(1);
    expect(run.stdout + run.stderr).not.toMatch(RAW_CONTROL);
    // The error line says what the step wrote, escaped as `ckpt events` writes it.
    expect(run.stderr).toContain('boom \\u001b]0;pwned\\u0007 \\u001b]52;c;ZXZpbA==\\u0007 \\u009b2J end');
    expect(run.stdout).toContain('out \\u001b[31mred');

    const inspect = ckpt('inspect', 'evil.ckpt');
    expect(inspect.status, inspect.stderr).toBe(0);
    expect(inspect.stdout).not.toMatch(RAW_CONTROL);
    expect(inspect.stdout).toContain('boom \\u001b]0;pwned\\u0007');

    const events = ckpt('events', 'evil.ckpt');
    expect(events.status, events.stderr).toBe(0);
    expect(events.stdout).not.toMatch(RAW_CONTROL);
    expect(events.stdout).toContain('\\u009b2J end');
  });
});
