/**
 * Issue 12 items 15 and 24, through the CLI: `ckpt events` on a corrupt checkpoint lists what is
 * readable before the damage (as the corrupt-checkpoint hint promises), then the damage with its
 * offset, exit 2, file untouched; and `ckpt run` says so when recovery truncates a tail (a flipped
 * bit in the last, fsynced record looks exactly like a torn write).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ckptBin } from '../test-support/ckpt-bin.js';

const MAIN = ckptBin();
const RECORD_HEADER_BYTES = 28;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-damaged-'));
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

function ckpt(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [MAIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Listed {
  readonly seq: number;
  readonly offset: number;
  readonly record?: string;
  readonly type?: string;
}

/** A kept checkpoint of a package whose step `b` fails (after `a` succeeded): several records. */
async function failedRunCheckpoint(): Promise<{ pkg: string; file: string; records: Listed[] }> {
  const pkg = join(dir, 'p.yaml');
  await writeFile(
    pkg,
    `id: p\nversion: 1\ncheckpoint: { file: p.ckpt, usage: if-exists, save: true }\nsteps:\n` +
      `  - { id: a, exec: [sh, -c, 'true'] }\n  - { id: b, exec: [sh, -c, 'exit 3'] }\n`,
  );
  expect(ckpt('run', pkg).code).toBe(1);
  const file = join(dir, 'p.ckpt');
  const listed = ckpt('events', file, '--json');
  expect(listed.code).toBe(0);
  const records = listed.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Listed);
  return { pkg, file, records };
}

async function flipBit(file: string, offset: number): Promise<void> {
  const bytes = await readFile(file);
  bytes[offset]! ^= 0x04;
  await writeFile(file, bytes);
}

describe('security: damaged checkpoints through the CLI', () => {
  it('ckpt events on a corrupt checkpoint prints the readable prefix, then the damage with its offset (exit 2), file untouched', async () => {
    const { file, records } = await failedRunCheckpoint();
    const seqs = [...new Set(records.map((r) => r.seq))];
    expect(seqs.length).toBeGreaterThanOrEqual(4);
    const damaged = records.find((r) => r.seq === seqs[2])!;
    await flipBit(file, damaged.offset + RECORD_HEADER_BYTES + 1);
    const before = await readFile(file);
    const prefix = records.filter((r) => r.seq < damaged.seq);

    const human = ckpt('events', file);
    expect(human.code).toBe(2);
    const lines = human.stdout.trim().split('\n');
    expect(lines.slice(0, prefix.length).map((line) => line.split(' ')[0])).toEqual(
      prefix.map((r) => `#${r.seq}${r.record === undefined ? `.${(r as { index?: number }).index}` : ''}`),
    );
    expect(lines[prefix.length]).toContain(`damage at byte offset ${damaged.offset}`);
    expect(lines).toHaveLength(prefix.length + 1);
    expect(human.stderr).toContain(`is corrupt at byte offset ${damaged.offset}`);
    expect(human.stderr).toContain(`${seqs.indexOf(damaged.seq)} record(s) before the damage are listed above`);
    expect(human.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const json = ckpt('events', file, '--json');
    expect(json.code).toBe(2);
    const parsed = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(parsed.slice(0, -1)).toEqual(records.filter((r) => r.seq < damaged.seq));
    expect(parsed.at(-1)).toMatchObject({ record: 'damage', offset: damaged.offset });
    expect((await readFile(file)).equals(before)).toBe(true);

    // Named through a link, as run and inspect accept it: the same prefix, read from the same bytes.
    await symlink(file, join(dir, 'link.ckpt'));
    const linked = ckpt('events', join(dir, 'link.ckpt'), '--json');
    expect(linked.code, linked.stderr).toBe(2);
    expect(linked.stdout).toBe(json.stdout);
  });

  it('ckpt run warns when recovery truncates a damaged last record (human view and --json), and records it', async () => {
    const { pkg, file, records } = await failedRunCheckpoint();
    const last = records.at(-1)!;
    const size = (await readFile(file)).length;
    await flipBit(file, size - 2);
    const rerun = ckpt('run', pkg);
    expect(rerun.code).toBe(1);
    expect(rerun.stderr).toContain(
      `warning: recovery truncated ${file} at byte offset ${last.offset}: ${size - last.offset} byte(s) after record ${last.seq - 1} were dropped`,
    );
    const listed = ckpt('events', file);
    expect(listed.stdout).toContain(`recovery truncated ${size - last.offset} bytes at offset ${last.offset}, after record ${last.seq - 1}`);
    const inspected = ckpt('inspect', file);
    expect(inspected.stdout).toContain(`truncated  ${size - last.offset} bytes at offset ${last.offset}, after record ${last.seq - 1}`);

    // Again, with --json: the warning is a JSON line.
    const now = await readFile(file);
    const lastNow = ckpt('events', file, '--json')
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Listed)
      .at(-1)!;
    await flipBit(file, now.length - 2);
    const json = ckpt('run', pkg, '--json');
    expect(json.code).toBe(1);
    const warnings = json.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type?: string; message?: string })
      .filter((line) => line.type === 'warning');
    expect(warnings.map((w) => w.message)).toContainEqual(
      expect.stringContaining(
        `recovery truncated ${file} at byte offset ${lastNow.offset}: ${now.length - lastNow.offset} byte(s) after record ${lastNow.seq - 1}`,
      ),
    );
  });

  it('ckpt copy warns when recovery truncates the last record of its checkpoint, and still publishes identical bytes', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    await writeFile(join(dir, 'src.bin'), data);
    await mkdir(join(dir, 'out'));
    const args = [MAIN, 'copy', 'src.bin', 'out/dst.bin', '--json', '--checkpoint-interval', '64KiB'];
    // Slowed down so that SIGINT lands mid-transfer, after a few durable checkpoints.
    const child = spawn(process.execPath, args, { cwd: dir, env: { ...process.env, CKPT_COPY_RATE_LIMIT: '1MiB' } });
    let out = '';
    let checkpoints = 0;
    let interrupted = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      checkpoints = out.split('\n').filter((line) => line.includes('"transfer/checkpoint"')).length;
      if (checkpoints >= 3 && !interrupted) interrupted = child.kill('SIGINT'); // once: a second SIGINT stops at once
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(code, out).toBe(130);
    const file = join(dir, 'out', '.dst.bin.ckpt');
    const size = (await readFile(file)).length;
    const last = ckpt('events', file, '--json')
      .stdout.trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Listed)
      .at(-1)!;
    await flipBit(file, size - 2);

    const rerun = ckpt('copy', 'src.bin', 'out/dst.bin', '--json', '--checkpoint-interval', '64KiB');
    expect(rerun.code, rerun.stderr).toBe(0);
    const lines = rerun.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type?: string; message?: string });
    expect(lines.filter((line) => line.type === 'transfer/warning').map((line) => line.message)).toContainEqual(
      expect.stringContaining(
        `recovery truncated .dst.bin.ckpt at byte offset ${last.offset}: ${size - last.offset} byte(s) after record ${last.seq - 1}`,
      ),
    );
    expect((await readFile(join(dir, 'out', 'dst.bin'))).equals(data), 'out/dst.bin is byte-identical to src.bin').toBe(true);
  });
});
