#!/usr/bin/env node
/**
 * Two builds of @ckpt/core side by side in one run, against the journal suites' raw peers:
 *   node bench/experiments/journal-ab.mjs BASE_CORE_DIST_INDEX [rounds] [--only durable,gc64,gc256,buffered] [--tmp DIR]
 * "new" is this worktree's packages/core/dist/index.js. Each contestant runs once per round in
 * an order rotated every round (bench/lib/measure.mjs `alternate`); the printed ratios are the
 * median over rounds of a build's figure divided by the raw peer's figure from the same round.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMsgpackr } from '../lib/ckpt.mjs';
import { alternate } from '../lib/measure.mjs';
import { createJournal, eventAt, openRawAsync, openRawSync, recordBytes } from '../suites/shared.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const only = (flag('--only') ?? 'durable,gc64,gc256,buffered').split(',');
const tmpParent = flag('--tmp') ?? os.tmpdir();
const [basePath, roundsArg] = args;
if (!basePath) {
  console.error('usage: journal-ab.mjs BASE_CORE_DIST_INDEX [rounds] [--only durable,gc64,gc256,buffered]');
  process.exit(2);
}
const rounds = Number(roundsArg ?? 7);
// index.js and, where it exists, internal.js (the format constants moved there).
const load = async (index) => {
  const internal = join(dirname(index), 'internal.js');
  return { ...(fs.existsSync(internal) ? await import(internal) : {}), ...(await import(index)) };
};
const builds = { base: await load(resolve(basePath)), new: await load(join(root, 'packages/core/dist/index.js')) };
const msgpackr = loadMsgpackr(root);
const tmp = fs.mkdtempSync(join(tmpParent, 'ckpt-ab-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/** Median over rounds of a[i] / b[i]. */
const pairedRatio = (a, b) => median(a.map((v, i) => v / b[i]));

function report(name, samples, peers) {
  const line = [name.padEnd(9)];
  for (const peer of peers) for (const b of Object.keys(builds)) line.push(`${b}/${peer} ${pairedRatio(samples[b], samples[peer]).toFixed(3)}×`);
  line.push(`new/base ${pairedRatio(samples.new, samples.base).toFixed(3)}×`);
  for (const [k, v] of Object.entries(samples)) line.push(`${k}=${Math.round(median(v))}/s`);
  console.log(line.join('  '));
}

if (only.includes('durable')) {
  const events = 200;
  const core = builds.new;
  const bytes = Array.from({ length: events }, (_, i) => recordBytes(core, msgpackr, i));
  const rate = (ms) => (events / ms) * 1000;
  const journalRun = (core) => async () => {
    const { journal } = await createJournal(core, tmp, 'durable.ckpt');
    const start = performance.now();
    for (let i = 0; i < events; i++) await journal.append([eventAt(i)], { durability: 'durable' });
    const ms = performance.now() - start;
    await journal.close();
    return rate(ms);
  };
  const samples = await alternate(
    [
      { key: 'base', run: journalRun(builds.base) },
      { key: 'new', run: journalRun(builds.new) },
      {
        key: 'raw-sync',
        async run() {
          const raw = openRawSync(join(tmp, 'raw-sync.log'));
          const start = performance.now();
          for (let i = 0; i < events; i++) raw.append(bytes[i], true);
          const ms = performance.now() - start;
          raw.close();
          return rate(ms);
        },
      },
      {
        key: 'raw-async',
        async run() {
          const raw = await openRawAsync(join(tmp, 'raw-async.log'));
          const start = performance.now();
          for (let i = 0; i < events; i++) await raw.append(bytes[i], true);
          const ms = performance.now() - start;
          await raw.close();
          return rate(ms);
        },
      },
    ],
    { rounds, warmup: 1 },
  );
  report('durable', samples, ['raw-sync', 'raw-async']);
}

for (const c of [64, 256]) {
  if (!only.includes(`gc${c}`)) continue;
  const batches = 100;
  const events = c * batches;
  const bytes = Array.from({ length: events }, (_, i) => recordBytes(builds.new, msgpackr, i));
  const rate = (ms) => (events / ms) * 1000;
  const journalRun = (core) => async () => {
    const { journal } = await createJournal(core, tmp, `group-${c}.ckpt`);
    let next = 0;
    const appender = async () => {
      for (let i = next++; i < events; i = next++) await journal.append([eventAt(i)], { durability: 'durable' });
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: c }, appender));
    const ms = performance.now() - start;
    await journal.close();
    return rate(ms);
  };
  const samples = await alternate(
    [
      { key: 'base', run: journalRun(builds.base) },
      { key: 'new', run: journalRun(builds.new) },
      {
        key: 'raw-batched',
        async run() {
          const raw = await openRawAsync(join(tmp, `raw-group-${c}.log`));
          const start = performance.now();
          for (let b = 0; b < batches; b++) await raw.append(Buffer.concat(bytes.slice(b * c, (b + 1) * c)), true);
          const ms = performance.now() - start;
          await raw.close();
          return rate(ms);
        },
      },
    ],
    { rounds, warmup: 1 },
  );
  report(`gc${c}`, samples, ['raw-batched']);
}

if (only.includes('buffered')) {
  const events = 200_000;
  const list = Array.from({ length: events }, (_, i) => eventAt(i));
  const rate = (ms) => (events / ms) * 1000;
  const packr = new msgpackr.Packr({ useRecords: false, structuredClone: false, moreTypes: false });
  const unpackr = new msgpackr.Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true });
  const parts = { append: {}, read: {} };
  const note = (key, t0, t1, t2) => {
    (parts.append[key] ??= []).push(rate(t1 - t0));
    (parts.read[key] ??= []).push(rate(t2 - t1));
    return rate(t2 - t0);
  };
  const journalRun = (core, key) => async () => {
    const { journal, path } = await createJournal(core, tmp, 'buffered.ckpt');
    const t0 = performance.now();
    for (let i = 0; i < events; i++) journal.append([list[i]], { durability: 'buffered' });
    await journal.close();
    const t1 = performance.now();
    const reading = await core.readLog(new core.NodeStorage(), path, new core.Fold());
    const t2 = performance.now();
    if (reading.state.cursors.size !== 100) throw new Error('fold lost cursors');
    return note(key, t0, t1, t2);
  };
  const samples = await alternate(
    [
      { key: 'base', run: journalRun(builds.base, 'base') },
      { key: 'new', run: journalRun(builds.new, 'new') },
      {
        key: 'msgpackr',
        async run() {
          const path = join(tmp, 'buffered.msgpack');
          const t0 = performance.now();
          const chunks = new Array(events);
          for (let i = 0; i < events; i++) {
            const payload = packr.pack([list[i]]);
            const frame = Buffer.allocUnsafe(4 + payload.length);
            frame.writeUInt32LE(payload.length, 0);
            frame.set(payload, 4);
            chunks[i] = frame;
          }
          fs.rmSync(path, { force: true });
          const fd = fs.openSync(path, 'wx', 0o600);
          fs.writeSync(fd, Buffer.concat(chunks));
          fs.fdatasyncSync(fd);
          fs.closeSync(fd);
          const t1 = performance.now();
          const bytes = fs.readFileSync(path);
          const cursors = new Map();
          for (let offset = 0; offset < bytes.length; ) {
            const length = bytes.readUInt32LE(offset);
            const [event] = unpackr.unpack(bytes.subarray(offset + 4, offset + 4 + length));
            cursors.set(event.unit, { unit: event.unit, cursor: event.cursor });
            offset += 4 + length;
          }
          const t2 = performance.now();
          return note('msgpackr', t0, t1, t2);
        },
      },
    ],
    { rounds, warmup: 1 },
  );
  const keep = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.slice(-rounds)]));
  report('buffered', samples, ['msgpackr']);
  report('  append', keep(parts.append), ['msgpackr']);
  report('  read', keep(parts.read), ['msgpackr']);
}
fs.rmSync(tmp, { recursive: true, force: true });
