import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Observable, of, throwError, concat } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Engine } from '../engine/engine.js';
import type { EventEmission, Runner } from '../engine/runner.js';
import { CheckpointNotFoundError, IdentityMismatchError, InvalidInputError } from '../errors.js';
import type { JobIdentity } from '../log/identity.js';
import { readLog } from '../log/read-log.js';
import { Fold } from '../fold/fold.js';
import { NodeStorage } from '../storage/node-storage.js';
import { testIdentity, useTempDir } from '../test-support/fixtures.js';
import type { CheckpointUsage } from './checkpoint-store.js';

const dir = useTempDir('store');
const engine = new Engine();

/** A job of two units; `failAt` makes that unit fail. Counts the units that ran. */
interface TwoUnitJob {
  readonly identity: JobIdentity;
  readonly failAt?: string;
  readonly ran: string[];
}

const twoUnits: Runner<TwoUnitJob> = {
  kind: 'test',
  identify: (job) => job.identity,
  run: (job, context) =>
    new Observable<EventEmission>((subscriber) => {
      for (const unit of ['a', 'b']) {
        if (context.startState.completed.has(unit)) continue;
        job.ran.push(unit);
        subscriber.next({ type: 'unit-started', unit });
        if (job.failAt === unit) {
          subscriber.next({ type: 'unit-failed', unit, error: { message: `${unit} failed` } });
          subscriber.error(new Error(`${unit} failed`));
          return;
        }
        subscriber.next({ type: 'unit-completed', unit, outcome: 'success' });
      }
      subscriber.complete();
    }),
};

const job = (failAt?: string, identity = testIdentity()): TwoUnitJob => ({ identity, ran: [], ...(failAt && { failAt }) });
const options = (path: string, usage: CheckpointUsage, save: boolean) => ({ checkpoint: { path, usage, save } });

/** Leaves a checkpoint of a failed run of `identity` at `path` (unit a done, b failed). */
async function failedRun(path: string, identity = testIdentity()) {
  const result = await engine.run(twoUnits, job('b', identity), options(path, 'if-exists', true));
  expect(result.outcome).toBe('failure');
  expect(existsSync(path)).toBe(true);
  return readFileSync(path);
}

describe('usage and save: the SSIS table', () => {
  it('always + no checkpoint: refused before any unit runs, nothing created', async () => {
    const path = join(dir.path, 'ck', 'job.ckpt');
    const subject = job();
    await expect(engine.run(twoUnits, subject, options(path, 'always', true))).rejects.toBeInstanceOf(CheckpointNotFoundError);
    expect(subject.ran).toEqual([]);
    expect(existsSync(join(dir.path, 'ck'))).toBe(false);
  });

  it('if-exists + save: a failure keeps the checkpoint, the rerun skips completed units and deletes it on success', async () => {
    const path = join(dir.path, 'job.ckpt');
    await failedRun(path);
    const rerun = job();
    const result = await engine.run(twoUnits, rerun, options(path, 'if-exists', true));
    expect(result).toMatchObject({ outcome: 'success', resumed: true, attempt: 2, checkpointRemoved: true });
    expect(rerun.ran).toEqual(['b']);
    expect(existsSync(path)).toBe(false);
  });

  it('always + an existing checkpoint resumes it', async () => {
    const path = join(dir.path, 'job.ckpt');
    await failedRun(path);
    const rerun = job();
    expect((await engine.run(twoUnits, rerun, options(path, 'always', true))).resumed).toBe(true);
    expect(rerun.ran).toEqual(['b']);
  });

  it('never + save: ignores the checkpoint of the same job and starts over, replacing it', async () => {
    const path = join(dir.path, 'job.ckpt');
    await failedRun(path);
    const rerun = job('b');
    const result = await engine.run(twoUnits, rerun, options(path, 'never', true));
    expect(result.resumed).toBe(false);
    expect(rerun.ran).toEqual(['a', 'b']);
    const reading = await readLog(new NodeStorage(), path, new Fold());
    expect(reading.state.attempts.map((a) => a.attempt)).toEqual([1]);
  });

  it('never + a checkpoint of another job: refused, the file untouched', async () => {
    const path = join(dir.path, 'job.ckpt');
    const before = await failedRun(path, testIdentity('other'));
    await expect(engine.run(twoUnits, job(), options(path, 'never', true))).rejects.toBeInstanceOf(IdentityMismatchError);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  for (const usage of ['if-exists', 'always'] as const) {
    for (const [what, identity] of [
      ['id', testIdentity('other')],
      ['version', testIdentity('job', 2)],
      ['step structure', testIdentity('job', 1, { steps: ['a', 'b', 'c'] })],
    ] as const) {
      it(`${usage} + a checkpoint of another ${what}: refused before any work, the file untouched`, async () => {
        const path = join(dir.path, 'job.ckpt');
        const before = await failedRun(path);
        const subject = job(undefined, identity);
        const refusal = engine.run(twoUnits, subject, options(path, usage, true));
        await expect(refusal).rejects.toBeInstanceOf(IdentityMismatchError);
        await expect(refusal).rejects.toThrow(/job\.ckpt/);
        expect(subject.ran).toEqual([]);
        expect(readFileSync(path).equals(before)).toBe(true);
        expect(existsSync(`${path}.lock`)).toBe(false);
      });
    }
  }

  it('save off + usage never: runs everything, writes nothing', async () => {
    const path = join(dir.path, 'job.ckpt');
    const result = await engine.run(twoUnits, job('b'), options(path, 'never', false));
    expect(result.outcome).toBe('failure');
    expect(existsSync(path)).toBe(false);
  });

  it('save off + if-exists: resumes from the checkpoint but does not change it', async () => {
    const path = join(dir.path, 'job.ckpt');
    const before = await failedRun(path);
    const rerun = job();
    const result = await engine.run(twoUnits, rerun, options(path, 'if-exists', false));
    expect(result).toMatchObject({ outcome: 'success', resumed: true, checkpointRemoved: false });
    expect(rerun.ran).toEqual(['b']);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('keepOnSuccess keeps the checkpoint of a successful run, for research', async () => {
    const path = join(dir.path, 'job.ckpt');
    const result = await engine.run(twoUnits, job(), { checkpoint: { path, usage: 'if-exists', save: true, keepOnSuccess: true } });
    expect(result.checkpointRemoved).toBe(false);
    const reading = await readLog(new NodeStorage(), path, new Fold());
    expect(reading.state.attempts[0]?.outcome).toBe('success');
  });

  it('a checkpoint path that is a directory is a clear refusal', async () => {
    const path = join(dir.path, 'is-a-dir');
    mkdirSync(path);
    await expect(engine.run(twoUnits, job(), options(path, 'if-exists', true))).rejects.toBeInstanceOf(InvalidInputError);
  });
});

describe('files and secrets', () => {
  it('creates checkpoint files 0600 in directories 0700', async () => {
    const path = join(dir.path, 'deep', 'er', 'job.ckpt');
    await engine.run(twoUnits, job('b'), options(path, 'if-exists', true));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir.path, 'deep')).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir.path, 'deep', 'er')).mode & 0o777).toBe(0o700);
  });

  const secretRunner: Runner<{ identity: JobIdentity }> = {
    kind: 'test',
    identify: (j) => j.identity,
    run: () =>
      concat(
        of<EventEmission>({ type: 'variable-set', name: 'token', value: 'hunter2-secret', valueType: 'string', sensitive: true }),
        throwError(() => new Error('stop')),
      ),
  };

  it('a sensitive value is sealed with the key and never written in clear; the rerun gets it back', async () => {
    const path = join(dir.path, 'secret.ckpt');
    const key = 'correct horse battery staple';
    await engine.run(secretRunner, { identity: testIdentity() }, { ...options(path, 'if-exists', true), secretKey: key });
    expect(readFileSync(path).includes('hunter2-secret')).toBe(false);
    const seen: unknown[] = [];
    const peek: Runner<{ identity: JobIdentity }> = { ...secretRunner, run: (_j, context) => (seen.push(context.variables.get('token')), of()) };
    await engine.run(peek, { identity: testIdentity() }, { ...options(path, 'if-exists', true), secretKey: key });
    expect(seen[0]).toMatchObject({ status: 'known', value: 'hunter2-secret' });
  });

  it('without a key a sensitive value is not persisted, and the rerun is told it is missing', async () => {
    const path = join(dir.path, 'redacted.ckpt');
    await engine.run(secretRunner, { identity: testIdentity() }, options(path, 'if-exists', true));
    expect(readFileSync(path).includes('hunter2-secret')).toBe(false);
    const seen: unknown[] = [];
    const peek: Runner<{ identity: JobIdentity }> = { ...secretRunner, run: (_j, context) => (seen.push(context.variables.get('token')), of()) };
    await engine.run(peek, { identity: testIdentity() }, options(path, 'if-exists', true));
    expect(seen[0]).toMatchObject({ status: 'missing' });
  });

  it('a wrong key is refused before any work, the file untouched', async () => {
    const path = join(dir.path, 'secret.ckpt');
    await engine.run(secretRunner, { identity: testIdentity() }, { ...options(path, 'if-exists', true), secretKey: 'right key' });
    const before = readFileSync(path);
    await expect(
      engine.run(secretRunner, { identity: testIdentity() }, { ...options(path, 'if-exists', true), secretKey: 'wrong key' }),
    ).rejects.toThrow(/key/);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('an object-typed variable is never recorded: the run fails with a clear error', async () => {
    const path = join(dir.path, 'object.ckpt');
    const objectRunner: Runner<{ identity: JobIdentity }> = {
      kind: 'test',
      identify: (j) => j.identity,
      run: () => of<EventEmission>({ type: 'variable-set', name: 'conn', value: 'x', valueType: 'object', sensitive: false }),
    };
    const result = await engine.run(objectRunner, { identity: testIdentity() }, options(path, 'if-exists', true));
    expect(result.outcome).toBe('failure');
    expect(result.error?.message).toMatch(/object/);
  });
});

describe('garbage where a checkpoint should be', () => {
  it('a file that is not a checkpoint is refused as corrupt, untouched', async () => {
    const path = join(dir.path, 'job.ckpt');
    writeFileSync(path, 'hello, I am not a checkpoint\n');
    await expect(engine.run(twoUnits, job(), options(path, 'if-exists', true))).rejects.toMatchObject({ code: 'corrupt' });
    expect(readFileSync(path, 'utf8')).toBe('hello, I am not a checkpoint\n');
  });
});
