import { createIdentity } from '@ckpt/core';
import { connectStore } from '@ckpt/postgres';

const store = await connectStore(process.env.CKPT_STORE ?? 'postgres://localhost/postgres');
const identity = createIdentity({ kind: 'example', id: 'nightly', version: 1, structure: ['extract', 'load'] });
const checkpoint = await store.open({ name: 'nightly', identity, usage: 'if-exists', save: true });
try {
  for (const unit of ['extract', 'load']) {
    if (checkpoint.startState.completed.has(unit)) {
      console.log(`${unit}: done in an earlier run, skipped`);
      continue;
    }
    await checkpoint.log.append([{ type: 'unit-started', unit }], { durability: 'buffered' });
    console.log(`${unit}: running`); // the step's work goes here
    if (process.env.FAIL === unit) throw new Error(`${unit} failed`);
    await checkpoint.log.append([{ type: 'unit-completed', unit, outcome: 'success' }]); // durable: committed
  }
  await checkpoint.close({ remove: true }); // success: the checkpoint is deleted
} catch (error) {
  await checkpoint.close({ remove: false }); // failure: kept, the next run resumes
  process.exitCode = 1;
  console.error(String(error));
} finally {
  await store.close();
}
