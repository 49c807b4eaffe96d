/**
 * Suite 1 — durable append: one writer, one event per fdatasync. What it costs to make each
 * checkpoint event durable before going on, against the floor (a hand-written write+fdatasync
 * loop of the same bytes) and against the embedded store most users would reach for (SQLite,
 * WAL, synchronous=FULL, one row per transaction).
 */
import { join } from 'node:path';
import { alternate, figure, goal } from '../lib/measure.mjs';
import { createJournal, eventAt, openRawAsync, openRawSync, recordBytes, sqliteAvailability, timeSqlite } from './shared.mjs';

export const id = 'durable-append';
export const number = 1;
export const title = 'Durable append (one writer, one event per fdatasync)';

export async function run(ctx) {
  const { core, msgpackr } = ctx;
  const events = ctx.quick ? 40 : 200;
  const rounds = ctx.quick ? 2 : 15;
  const bytes = Array.from({ length: events }, (_, i) => recordBytes(core, msgpackr, i));
  const perSecond = (ms) => (events / ms) * 1000;
  const sqlite = sqliteAvailability(ctx);
  /** Per run: how many of the journal's fdatasyncs were blocking (its path for a durable append alone) and how many were not. */
  const syncPaths = [];

  const contestants = [
    {
      key: 'journal',
      async run() {
        const { journal } = await createJournal(core, ctx.tmp, 'durable.ckpt');
        const file = journal.file;
        const count = { datasync: 0, datasyncSync: 0 };
        for (const name of Object.keys(count)) {
          if (typeof file?.[name] !== 'function') continue;
          const original = file[name].bind(file);
          file[name] = () => {
            count[name]++;
            return original();
          };
        }
        const start = performance.now();
        for (let i = 0; i < events; i++) await journal.append([eventAt(i)], { durability: 'durable' });
        const ms = performance.now() - start;
        await journal.close();
        syncPaths.push(`${count.datasyncSync}/${count.datasync}`);
        return perSecond(ms);
      },
    },
    {
      key: 'raw-async',
      async run() {
        const raw = await openRawAsync(join(ctx.tmp, 'raw-async.log'));
        const start = performance.now();
        for (let i = 0; i < events; i++) await raw.append(bytes[i], true);
        const ms = performance.now() - start;
        await raw.close();
        return perSecond(ms);
      },
    },
    {
      key: 'raw-sync',
      async run() {
        const raw = openRawSync(join(ctx.tmp, 'raw-sync.log'));
        const start = performance.now();
        for (let i = 0; i < events; i++) raw.append(bytes[i], true);
        const ms = performance.now() - start;
        raw.close();
        return perSecond(ms);
      },
    },
    {
      key: 'sqlite',
      ...sqlite,
      async run() {
        const path = join(ctx.tmp, 'durable.sqlite');
        return perSecond(
          timeSqlite(ctx.sqlite.Database, path, (db) => {
            for (let i = 0; i < events; i++) db.insertOne(i + 1, bytes[i].subarray(core.RECORD_HEADER_BYTES));
          }),
        );
      },
    },
  ];
  const samples = await alternate(contestants, { rounds, warmup: 1 });
  const fig = figure({
    id: 'durable-append',
    label: `${events} sequential durable appends of one event`,
    unit: 'events/s',
    better: 'higher',
    rows: [
      { key: 'journal', label: 'ckpt Journal.append durable', role: 'subject', samples: samples.journal },
      { key: 'raw-async', label: 'raw fs.write + fs.fdatasync (callback API)', samples: samples['raw-async'] },
      { key: 'raw-sync', label: 'raw writeSync + fdatasyncSync', samples: samples['raw-sync'] },
      sqlite.available
        ? { key: 'sqlite', label: `SQLite WAL synchronous=FULL, 1 row/txn (${ctx.sqlite.version})`, samples: samples.sqlite }
        : { key: 'sqlite', label: 'SQLite WAL synchronous=FULL, 1 row/txn', available: false, reason: sqlite.reason },
    ],
    notes: [
      `the journal's fdatasyncs per run, blocking/asynchronous (a durable append alone blocks on writeSync + fdatasyncSync; ${events} appends + close): ${syncPaths.slice(-rounds).join(', ')}`,
    ],
  });
  const goals = [
    goal({
      text: '≥ 0.9× the raw write+fdatasync loop (callback API)',
      figure: fig,
      subject: 'journal',
      peer: 'raw-async',
      op: '>=',
      threshold: 0.9,
    }),
    goal({ text: '≥ 0.9× the raw synchronous loop (the hard floor)', figure: fig, subject: 'journal', peer: 'raw-sync', op: '>=', threshold: 0.9 }),
    goal({ text: 'ahead of SQLite', figure: fig, subject: 'journal', peer: 'sqlite', op: '>', threshold: 1 }),
  ];
  return {
    params: { events, rounds, recordBytes: bytes[0].length },
    figures: [fig],
    goals,
    diagnose: async () =>
      ctx.diagnose({
        label: 'durable append',
        events,
        script: `
        const core = await import(${JSON.stringify(ctx.paths.coreDist)});
        const j = await core.Journal.create(${JSON.stringify(join(ctx.tmp, 'strace.ckpt'))}, core.createIdentity({kind:'bench',id:'b',version:1,structure:{}}), {storage: new core.NodeStorage(), fold: new core.Fold(), compaction: false, replace: true});
        for (let i = 0; i < ${events}; i++) await j.append([{type:'cursor-set', unit:'u'+(i%100), cursor:i}], {durability:'durable'});
        await j.close();`,
        peerLabel: 'raw fs.write + fs.fdatasync loop',
        peerScript: `
        const fs = await import('node:fs'); const { promisify } = await import('node:util');
        const write = promisify(fs.write), fdatasync = promisify(fs.fdatasync);
        const fd = fs.openSync(${JSON.stringify(join(ctx.tmp, 'strace-raw.log'))}, 'w'); const b = Buffer.alloc(${bytes[0].length});
        for (let i = 0; i < ${events}; i++) { await write(fd, b, 0, b.length, i * b.length); await fdatasync(fd); }`,
      }),
  };
}
