// A tiny job for the kill -9 harness: runs `units` units in order on a real checkpoint
// (core's Engine, NodeStorage, FileLocker). Each unit's effect is one line appended (and
// fsynced) to the effects file as `<unit> <attempt>`; after a unit's completion is durable it prints
// {"type":"unit-completed","unit":...} on stdout. Usage: node crash-job.mjs <checkpoint> <effects> <units> [lockstep]
// With `lockstep`, it waits for a line on stdin after each such announcement (killAndRerun's
// `lockstep` sends it, or kills instead), so a kill lands exactly there.
import { appendFileSync, closeSync, fsyncSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Observable } from 'rxjs';
import { Engine, createIdentity } from '@ckpt/core';

const [checkpoint, effectsPath, unitCount, mode] = process.argv.slice(2);
const acks = mode === 'lockstep' ? createInterface({ input: process.stdin })[Symbol.asyncIterator]() : undefined;
const units = Array.from({ length: Number(unitCount) }, (_, i) => `unit-${i}`);

function effect(unit, attempt) {
  const fd = openSync(effectsPath, 'a');
  appendFileSync(fd, `${unit} ${attempt}\n`);
  fsyncSync(fd);
  closeSync(fd);
}

const runner = {
  kind: 'crash-job',
  identify: () => createIdentity({ kind: 'crash-job', id: 'job', version: 1, structure: units }),
  run: (_job, ctx) =>
    new Observable((subscriber) => {
      (async () => {
        for (const unit of units) {
          if (ctx.startState.completed.has(unit)) continue;
          subscriber.next({ type: 'unit-started', unit });
          effect(unit, ctx.attempt);
          subscriber.next({ type: 'unit-completed', unit, outcome: 'success' });
          await ctx.durable();
          process.stdout.write(`${JSON.stringify({ type: 'unit-completed', unit, attempt: ctx.attempt })}\n`);
          if (acks !== undefined && (await acks.next()).done) throw new Error('lockstep: stdin closed before the ack');
        }
        subscriber.complete();
      })().catch((error) => subscriber.error(error));
    }),
};

// keepOnSuccess: a kill that lands after the job succeeded but before the process exited
// would otherwise find no checkpoint (success removes it) and the rerun would redo every
// unit, which is ckpt's documented behaviour but not what this test is about.
const result = await new Engine().run(runner, {}, { checkpoint: { path: checkpoint, usage: 'if-exists', save: true, keepOnSuccess: true } });
process.stdout.write(`${JSON.stringify({ type: 'run-ended', outcome: result.outcome, attempt: result.attempt })}\n`);
process.exit(result.outcome === 'success' ? 0 : 1);
