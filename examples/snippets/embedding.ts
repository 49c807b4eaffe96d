// The snippets of docs/embedding.md, type-checked and run by snippets.test.ts.
import { Engine, Fold, Journal, NodeStorage, createIdentity, type Notice, type Runner } from '@ckpt/core';

export async function runWithEngine<Job>(myRunner: Runner<Job>, job: Job, path: string, abortController: AbortController) {
  const engine = new Engine(); // real files, real locks
  const result = await engine.run(myRunner, job, {
    checkpoint: { path, usage: 'if-exists', save: true, retentionMs: 7 * 86_400_000 },
    signal: abortController.signal, // SIGINT → record what is done, outcome 'interrupted'
    ...(process.env['CKPT_SECRET_KEY'] !== undefined && { secretKey: process.env['CKPT_SECRET_KEY'] }), // seals sensitive variables
  });
  return { outcome: result.outcome, resumed: result.resumed, removed: result.checkpointRemoved };
}

export async function observeEvents<Job>(myRunner: Runner<Job>, job: Job, path: string): Promise<string[]> {
  const engine = new Engine();
  const done: string[] = [];
  const execution = await engine.open(myRunner, job, { checkpoint: { path, usage: 'if-exists', save: true } });
  execution.entries().subscribe((entry) => {
    if (entry.kind === 'event' && entry.event.type === 'unit-completed') done.push(entry.event.unit);
  });
  await execution.run();
  return done;
}

export async function watchRun<Job, Result, N extends Notice>(myRunner: Runner<Job, Result, N>, job: Job, path: string) {
  const execution = await new Engine().open(myRunner, job, { checkpoint: { path, usage: 'if-exists', save: true } });
  let replayed = 0; // entries an earlier attempt recorded
  const done: string[] = []; // units of this run whose completion is durable: safe to announce
  execution.entries({ when: 'durable' }).subscribe((entry) => {
    if (entry.replayed) replayed++;
    else if (entry.kind === 'event' && entry.event.type === 'unit-completed') done.push(entry.event.unit);
  });
  const notices: N[] = [];
  execution.notices().subscribe((notice) => notices.push(notice)); // progress, warnings: never recorded
  const result = await execution.run();
  return { outcome: result.outcome, result: result.result, replayed, done, notices };
}

export async function useTheJournal(path: string) {
  const storage = new NodeStorage();
  const fold = new Fold();
  const identity = createIdentity({ kind: 'mine', id: 'orders', version: 1, structure: {} });
  const journal = await Journal.create(path, identity, { storage, fold });
  await journal.append([{ type: 'cursor-set', unit: 'import', cursor: 1000 }]); // durable: after fdatasync
  await journal.append([{ type: 'cursor-set', unit: 'import', cursor: 2000 }], { durability: 'buffered' });
  await journal.sync(); // barrier
  await journal.close();
  const reopened = await Journal.open(path, { storage, fold }); // recovers, new epoch
  const cursor = reopened.state.cursors.get('import')?.cursor; // 2000
  await reopened.close();
  return cursor;
}
