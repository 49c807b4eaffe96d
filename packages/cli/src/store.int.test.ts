/**
 * `--store` and `$CKPT_STORE` through the real CLI: a scheme that is not PostgreSQL is refused
 * (exit 2) before anything is written, the URL's password is never printed by any verb, an
 * empty `--store` means files, and `$CKPT_HOST` names the host a run records.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCkpt } from './test-support/run-ckpt.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ckpt-store-int-'));
  await writeFile(
    join(dir, 'p.yaml'),
    `id: p\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: [sh, -c, 'echo ran >> effects'] }\n`,
  );
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const PASSWORD = 'hunter2-Zq9';
/** Port 1 on loopback: nothing listens there, so a connection (if the adapter is installed) fails at once. */
const POSTGRES = `postgres://ckpt:${PASSWORD}@127.0.0.1:1/jobs`;
const ckpt = (args: readonly string[], env: NodeJS.ProcessEnv = {}) => runCkpt(args, { cwd: dir, env: { CKPT_STORE: '', ...env } });
const listing = async () => (await readdir(dir)).sort();

describe('--store URL', () => {
  it('a scheme other than postgres:// and postgresql:// is refused with exit 2 before any step, naming the URL (masked) and the accepted schemes', async () => {
    for (const url of [`mysql://ckpt:${PASSWORD}@127.0.0.1/jobs`, `file:///tmp/x?password=${PASSWORD}`, 'not a url']) {
      const result = await ckpt(['run', 'p.yaml', '--store', url]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain('the accepted schemes are postgres:// and postgresql://');
      expect(result.stderr).toContain(url.replace(`:${PASSWORD}@`, ':***@').replace(`password=${PASSWORD}`, 'password=***'));
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    }
    // Nothing ran, nothing was written: no checkpoint folder, no effect.
    expect(await listing()).toEqual(['p.yaml']);
  });

  it('$CKPT_STORE is honoured when --store is not given, and --store "" means files', async () => {
    const refused = await ckpt(['run', 'p.yaml'], { CKPT_STORE: `redis://:${PASSWORD}@127.0.0.1/0` });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('redis://:***@127.0.0.1/0');
    expect(refused.stderr).not.toContain(PASSWORD);
    expect(await listing()).toEqual(['p.yaml']);
    const files = await ckpt(['run', 'p.yaml', '--store', ''], { CKPT_STORE: `redis://:${PASSWORD}@127.0.0.1/0` });
    expect(files.code, files.stderr).toBe(0);
    expect(await listing()).toEqual(['.ckpt', 'effects', 'p.yaml']);
  });

  it('no verb prints the password of a postgres URL, whether the adapter is missing or the server unreachable; each refuses with exit 2 and writes nothing', async () => {
    const verbs = [
      ['run', 'p.yaml', '--store', POSTGRES],
      ['run', 'p.yaml', '--store', POSTGRES, '--json'],
      ['inspect', 'p', '--store', POSTGRES],
      ['events', 'p', '--store', POSTGRES, '--json'],
      ['list', '--store', POSTGRES],
      ['prune', '--store', POSTGRES],
      ['store', 'init', POSTGRES],
    ];
    for (const args of verbs) {
      const result = await ckpt(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stdout + result.stderr, args.join(' ')).not.toContain(PASSWORD);
      // The store was taken up (not refused as an unknown option): the error names its host.
      expect(result.stderr, args.join(' ')).toContain('127.0.0.1');
      expect(result.stderr, args.join(' ')).not.toMatch(/^\s+at /m);
    }
    const viaEnv = await ckpt(['list'], { CKPT_STORE: POSTGRES.replace('postgres:', 'postgresql:') });
    expect(viaEnv.code).toBe(2);
    expect(viaEnv.stdout + viaEnv.stderr).not.toContain(PASSWORD);
    expect(await listing()).toEqual(['p.yaml']);
  });

  it('list and prune refuse a directory together with a store; prune without either is refused', async () => {
    for (const [args, says] of [
      [['list', '.', '--store', POSTGRES], 'give a directory or a store, not both'],
      [['prune', '.', '--store', POSTGRES], 'give a directory or a store, not both'],
      [['prune'], 'name the directory that holds the checkpoints, or a store with --store URL'],
    ] as const) {
      const result = await ckpt(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain(says);
      expect(result.stdout + result.stderr).not.toContain(PASSWORD);
    }
  });

  it('--lease and --wait take durations; a bad one is refused with exit 2 before any step', async () => {
    for (const args of [
      ['--lease', '0'],
      ['--lease', 'soon'],
      ['--wait', 'forever'],
    ]) {
      const result = await ckpt(['run', 'p.yaml', ...args]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(args[0]);
    }
    expect(await listing()).toEqual(['p.yaml']);
    const ok = await ckpt(['run', 'p.yaml', '--lease', '10s', '--wait', '1s']);
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('$CKPT_HOST', () => {
  it('names the host a run records in its attempt and writer session', async () => {
    await writeFile(
      join(dir, 'f.yaml'),
      `id: f\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: [sh, -c, 'exit 1'] }\n`,
    );
    const failed = await ckpt(['run', 'f.yaml'], { CKPT_HOST: 'machine-b' });
    expect(failed.code).toBe(1);
    const events = await ckpt(['events', join('.ckpt', 'f.ckpt'), '--json']);
    expect(events.code, events.stderr).toBe(0);
    const records = events.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type?: string; record?: string; host?: string });
    expect(records.find((r) => r.type === 'attempt-started')?.host).toBe('machine-b');
    expect(records.find((r) => r.record === 'epoch')?.host).toBe('machine-b');
  });
});

describe('--wait', () => {
  it('a second run of a checkpoint whose owner is alive is refused naming its pid, and with --wait runs once the owner is done', async () => {
    await writeFile(
      join(dir, 'w.yaml'),
      `id: w\nversion: 1\ncheckpoint: { usage: if-exists, save: true }\nsteps:\n  - { id: a, exec: [sh, -c, 'touch started; sleep 2; echo a >> effects'] }\n`,
    );
    const first = runCkpt(['run', 'w.yaml'], { cwd: dir, env: { CKPT_STORE: '' } });
    const until = Date.now() + 15_000;
    while (!(await readdir(dir)).includes('started')) {
      if (Date.now() > until) throw new Error('the first run did not start its step');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const refused = await ckpt(['run', 'w.yaml']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/is locked by pid \d+ on host/);
    const waited = await ckpt(['run', 'w.yaml', '--wait', '30s']);
    expect((await first).code).toBe(0);
    expect(waited.code, waited.stderr).toBe(0);
    const effects = (await readFile(join(dir, 'effects'), 'utf8')).trim().split('\n');
    expect(effects).toEqual(['a', 'a']);
  });

  it('a value after --wait that is not a duration is refused with a hint to write a bare --wait after the file', async () => {
    const result = await ckpt(['run', 'p.yaml', '--wait', 'forever']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--wait: "forever" is not a duration');
    expect(result.stderr).toContain('ckpt run FILE --wait');
    expect(await listing()).toEqual(['p.yaml']);
  });
});
