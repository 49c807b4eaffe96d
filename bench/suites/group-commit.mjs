/**
 * Suite 2 — group commit: C concurrent appenders each awaiting a durable append, so one
 * fdatasync should cover many records. Peers: the raw loop writing C records per write and
 * syncing once (the ideal batching a hand-written store would do when it knows the batch), and
 * SQLite with the same C rows per transaction.
 */
import { join } from 'node:path';
import { alternate, figure, goal } from '../lib/measure.mjs';
import { createJournal, eventAt, openRawAsync, recordBytes, sqliteAvailability, timeSqlite } from './shared.mjs';

export const id = 'group-commit';
export const number = 2;
export const title = 'Group commit (concurrent durable appenders)';

export async function run(ctx) {
  const { core, msgpackr } = ctx;
  const concurrencies = [1, 8, 64, 256];
  const batches = ctx.quick ? 6 : 100;
  const rounds = ctx.quick ? 2 : 5;
  const sqlite = sqliteAvailability(ctx);
  const figures = [];
  const goals = [];
  const syncsPerRun = {};

  for (const c of concurrencies) {
    const events = c * batches;
    const bytes = Array.from({ length: events }, (_, i) => recordBytes(core, msgpackr, i));
    const perSecond = (ms) => (events / ms) * 1000;
    const contestants = [
      {
        key: 'journal',
        async run() {
          const { journal } = await createJournal(core, ctx.tmp, `group-${c}.ckpt`);
          const file = journal.file;
          // Count fdatasyncs to show whether appenders really shared them (a lone appender's
          // are blocking: datasyncSync).
          let syncs = 0;
          for (const name of ['datasync', 'datasyncSync']) {
            if (typeof file?.[name] !== 'function') continue;
            const original = file[name].bind(file);
            file[name] = () => {
              syncs++;
              return original();
            };
          }
          let next = 0;
          const appender = async () => {
            for (let i = next++; i < events; i = next++) await journal.append([eventAt(i)], { durability: 'durable' });
          };
          const start = performance.now();
          await Promise.all(Array.from({ length: c }, appender));
          const ms = performance.now() - start;
          await journal.close();
          (syncsPerRun[c] ??= []).push(syncs);
          return perSecond(ms);
        },
      },
      {
        key: 'raw-batched',
        async run() {
          const raw = await openRawAsync(join(ctx.tmp, `raw-group-${c}.log`));
          const start = performance.now();
          for (let b = 0; b < batches; b++) await raw.append(Buffer.concat(bytes.slice(b * c, (b + 1) * c)), true);
          const ms = performance.now() - start;
          await raw.close();
          return perSecond(ms);
        },
      },
      {
        key: 'sqlite',
        ...sqlite,
        async run() {
          const path = join(ctx.tmp, `group-${c}.sqlite`);
          return perSecond(
            timeSqlite(ctx.sqlite.Database, path, (db) => {
              for (let b = 0; b < batches; b++) {
                const rows = [];
                for (let i = b * c; i < (b + 1) * c; i++) rows.push([i + 1, bytes[i].subarray(core.RECORD_HEADER_BYTES)]);
                db.insertMany(rows);
              }
            }),
          );
        },
      },
    ];
    const samples = await alternate(contestants, { rounds, warmup: 1 });
    const fig = figure({
      id: `group-commit-${c}`,
      label: `${c} concurrent appender(s), ${events} durable appends`,
      unit: 'events/s',
      better: 'higher',
      rows: [
        { key: 'journal', label: `ckpt Journal, ${c} concurrent durable appenders`, role: 'subject', samples: samples.journal },
        { key: 'raw-batched', label: `raw write of ${c} records + one fdatasync`, samples: samples['raw-batched'] },
        sqlite.available
          ? { key: 'sqlite', label: `SQLite WAL FULL, ${c} row(s)/txn`, samples: samples.sqlite }
          : { key: 'sqlite', label: `SQLite WAL FULL, ${c} row(s)/txn`, available: false, reason: sqlite.reason },
      ],
      notes: [`fdatasyncs by the journal per run (ideal ${batches} + a few for create/close): ${(syncsPerRun[c] ?? []).slice(-rounds).join(', ')}`],
    });
    figures.push(fig);
    goals.push(
      goal({
        text: `${c} appender(s): ≥ 0.8× raw batched write+fdatasync`,
        figure: fig,
        subject: 'journal',
        peer: 'raw-batched',
        op: '>=',
        threshold: 0.8,
      }),
      goal({ text: `${c} appender(s): ahead of SQLite`, figure: fig, subject: 'journal', peer: 'sqlite', op: '>', threshold: 1 }),
    );
  }
  return {
    params: { concurrencies, batchesPerRun: batches, rounds },
    figures,
    goals,
    extra: { journalFdatasyncsPerRun: syncsPerRun },
    diagnose: async () =>
      ctx.diagnose({
        label: 'group commit, 64 appenders',
        events: 64 * batches,
        script: `
        const core = await import(${JSON.stringify(ctx.paths.coreDist)});
        const j = await core.Journal.create(${JSON.stringify(join(ctx.tmp, 'strace.ckpt'))}, core.createIdentity({kind:'bench',id:'b',version:1,structure:{}}), {storage: new core.NodeStorage(), fold: new core.Fold(), compaction: false, replace: true});
        let next = 0; const n = ${64 * batches};
        await Promise.all(Array.from({length: 64}, async () => { for (let i = next++; i < n; i = next++) await j.append([{type:'cursor-set', unit:'u'+(i%100), cursor:i}], {durability:'durable'}); }));
        await j.close();`,
        peerLabel: 'raw write of 64 records + one fdatasync',
        peerScript: `
        const fs = await import('node:fs'); const { promisify } = await import('node:util');
        const write = promisify(fs.write), fdatasync = promisify(fs.fdatasync);
        const fd = fs.openSync(${JSON.stringify(join(ctx.tmp, 'strace-raw.log'))}, 'w'); const b = Buffer.alloc(64 * 64);
        for (let i = 0; i < ${batches}; i++) { await write(fd, b, 0, b.length, i * b.length); await fdatasync(fd); }`,
      }),
  };
}
