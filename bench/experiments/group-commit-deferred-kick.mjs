#!/usr/bin/env node
/**
 * Evidence for FINDINGS.md (group commit): C concurrent durable appenders, with the journal as
 * built and with its flush loop started one macrotask later. Reaches into Journal's private
 * `kick`, `flushLoop` and `file` (JavaScript can): an experiment to show the cause, not a fix.
 *
 *   node bench/experiments/group-commit-deferred-kick.mjs [APPENDERS=64] [ROUNDS=100]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const core = await import(new URL('../../packages/core/dist/index.js', import.meta.url).href);
const C = Number(process.argv[2] ?? 64);
const rounds = Number(process.argv[3] ?? 100);
const n = C * rounds;
const dir = mkdtempSync(join(tmpdir(), 'ckpt-gc-'));

for (const deferred of [false, true, false, true]) {
  const journal = await core.Journal.create(join(dir, 'gc.ckpt'), core.createIdentity({ kind: 'b', id: 'b', version: 1, structure: {} }), {
    storage: new core.NodeStorage(),
    fold: new core.Fold(),
    compaction: false,
  });
  let syncs = 0;
  const datasync = journal.file.datasync.bind(journal.file);
  journal.file.datasync = () => (syncs++, datasync());
  if (deferred) {
    // The appenders released by one turn's fdatasync come back several promise hops later;
    // starting the next turn on the next macrotask lets all of them join its batch.
    journal.kick = function kick() {
      if (this.flushing === undefined && !this.failure) {
        this.flushing = new Promise((resolve) => setImmediate(resolve))
          .then(() => this.flushLoop())
          .finally(() => {
            this.flushing = undefined;
            if (!this.failure && (this.pending.length > 0 || this.syncWaiters.length > 0)) this.kick();
          });
      }
    };
  }
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: C }, async () => {
      for (let i = next++; i < n; i = next++)
        await journal.append([{ type: 'cursor-set', unit: `u${i % 100}`, cursor: i }], { durability: 'durable' });
    }),
  );
  const ms = performance.now() - start;
  await journal.close();
  console.log(
    `${deferred ? 'flush turn deferred' : 'as built          '}  ${C} appenders: ${Math.round((n / ms) * 1000)} events/s, ${syncs} fdatasyncs for ${rounds} rounds of ${C}`,
  );
}
rmSync(dir, { recursive: true, force: true });
