/**
 * Suite 3 — buffered append and fold: the CPU cost of the log when durability is batched
 * (append N events buffered, one sync at the end), then of reading it back (read + check +
 * decode + fold). Peers: the same events hand-encoded with msgpackr (the codec the journal
 * uses: the journal's own framing, checksums and fold are the overhead measured) and as JSON
 * lines (what most people write first), each written in one go with one fdatasync, read back,
 * decoded and folded into the same cursor map.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { alternate, figure, goal } from '../lib/measure.mjs';
import { createJournal, eventAt } from './shared.mjs';

export const id = 'buffered-append';
export const number = 3;
export const title = 'Buffered append and fold';

function writeAndSync(path, chunks) {
  fs.rmSync(path, { force: true });
  const fd = fs.openSync(path, 'wx', 0o600);
  fs.writeSync(fd, Buffer.concat(chunks));
  fs.fdatasyncSync(fd);
  fs.closeSync(fd);
}

export async function run(ctx) {
  const { core, msgpackr } = ctx;
  const events = ctx.quick ? 5000 : 200_000;
  const rounds = ctx.quick ? 2 : 5;
  const list = Array.from({ length: events }, (_, i) => eventAt(i));
  const perSecond = (ms) => (events / ms) * 1000;
  const packr = new msgpackr.Packr({ useRecords: false, structuredClone: false, moreTypes: false });
  const unpackr = new msgpackr.Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true });
  const append = { journal: [], msgpackr: [], checked: [], json: [] };
  const read = { journal: [], msgpackr: [], checked: [], json: [] };
  /** Checks a contestant's fold (one cursor per unit) and records its append and read rates; t0..t1 appends, t1..t2 reads. */
  const recordRound = (key, foldedCursors, t0, t1, t2) => {
    if (foldedCursors !== Math.min(events, 100)) throw new Error(`${key} fold lost cursors`);
    append[key].push(perSecond(t1 - t0));
    read[key].push(perSecond(t2 - t1));
    return perSecond(t2 - t0);
  };

  /** Events as msgpackr records, length-prefixed (as any framing must) and, with `crc`, each payload's CRC-32 written and checked. */
  const framedMsgpackr = (key, crc) => ({
    key,
    async run() {
      const path = join(ctx.tmp, `buffered.${key}.msgpack`);
      const head = crc ? 8 : 4;
      const t0 = performance.now();
      const chunks = new Array(events);
      for (let i = 0; i < events; i++) {
        const payload = packr.pack([list[i]]);
        const frame = Buffer.allocUnsafe(head + payload.length);
        frame.writeUInt32LE(payload.length, 0);
        if (crc) frame.writeUInt32LE(crc32(payload), 4);
        frame.set(payload, head);
        chunks[i] = frame;
      }
      writeAndSync(path, chunks);
      const t1 = performance.now();
      const bytes = fs.readFileSync(path);
      const cursors = new Map();
      for (let offset = 0; offset < bytes.length; ) {
        const length = bytes.readUInt32LE(offset);
        const payload = bytes.subarray(offset + head, offset + head + length);
        if (crc && crc32(payload) !== bytes.readUInt32LE(offset + 4)) throw new Error(`${key} peer: bad CRC at ${offset}`);
        const [event] = unpackr.unpack(payload);
        cursors.set(event.unit, { unit: event.unit, cursor: event.cursor });
        offset += head + length;
      }
      const t2 = performance.now();
      return recordRound(key, cursors.size, t0, t1, t2);
    },
  });

  const contestants = [
    {
      key: 'journal',
      async run() {
        const { journal, path } = await createJournal(core, ctx.tmp, 'buffered.ckpt');
        const t0 = performance.now();
        for (let i = 0; i < events; i++) journal.append([list[i]], { durability: 'buffered' });
        await journal.close();
        const t1 = performance.now();
        const reading = await core.readLog(new core.NodeStorage(), path, new core.Fold());
        const t2 = performance.now();
        return recordRound('journal', reading.state.cursors.size, t0, t1, t2);
      },
    },
    framedMsgpackr('msgpackr', false),
    // The floor of a format that, like ckpt's, can tell a torn or damaged record: the msgpackr
    // peer plus a CRC-32 per record, written and checked, and nothing else of the journal.
    framedMsgpackr('checked', true),
    {
      key: 'json',
      async run() {
        const path = join(ctx.tmp, 'buffered.jsonl');
        const t0 = performance.now();
        const lines = new Array(events);
        for (let i = 0; i < events; i++) lines[i] = Buffer.from(`${JSON.stringify(list[i])}\n`);
        writeAndSync(path, lines);
        const t1 = performance.now();
        const text = fs.readFileSync(path, 'utf8');
        const cursors = new Map();
        for (const line of text.split('\n')) {
          if (line === '') continue;
          const event = JSON.parse(line);
          cursors.set(event.unit, { unit: event.unit, cursor: event.cursor });
        }
        const t2 = performance.now();
        return recordRound('json', cursors.size, t0, t1, t2);
      },
    },
  ];
  const samples = await alternate(contestants, { rounds, warmup: 1 });
  const keep = (list) => list.slice(-rounds);
  const rowsOf = (data) => [
    { key: 'journal', label: 'ckpt Journal (buffered append + close / readLog)', role: 'subject', samples: keep(data.journal) },
    { key: 'msgpackr', label: 'raw msgpackr, length-prefixed, one write + fdatasync', samples: keep(data.msgpackr) },
    { key: 'checked', label: 'raw msgpackr + CRC-32 per record (written and checked), one write + fdatasync', samples: keep(data.checked) },
    { key: 'json', label: 'JSON lines, one write + fdatasync', samples: keep(data.json) },
  ];
  const total = figure({
    id: 'buffered-round-trip',
    label: `${events} events appended then read back and folded`,
    unit: 'events/s',
    better: 'higher',
    rows: rowsOf(samples),
  });
  const appendFig = figure({
    id: 'buffered-append',
    label: `append ${events} events (buffered) and make them durable`,
    unit: 'events/s',
    better: 'higher',
    rows: rowsOf(append),
  });
  const readFig = figure({
    id: 'buffered-fold',
    label: `read ${events} events back and fold`,
    unit: 'events/s',
    better: 'higher',
    rows: rowsOf(read),
  });
  const goals = [
    goal({ text: 'round trip ≥ 0.7× raw msgpackr', figure: total, subject: 'journal', peer: 'msgpackr', op: '>=', threshold: 0.7 }),
    goal({ text: 'append ≥ 0.7× raw msgpackr encode+write', figure: appendFig, subject: 'journal', peer: 'msgpackr', op: '>=', threshold: 0.7 }),
    goal({ text: 'read+fold ≥ 0.7× raw msgpackr decode', figure: readFig, subject: 'journal', peer: 'msgpackr', op: '>=', threshold: 0.7 }),
    goal({
      text: 'informational: round trip ≥ 0.7× raw msgpackr with a CRC-32 per record (the floor of a checked format)',
      figure: total,
      subject: 'journal',
      peer: 'checked',
      op: '>=',
      threshold: 0.7,
    }),
  ];
  return {
    params: { events, rounds },
    figures: [total, appendFig, readFig],
    goals,
    diagnose: async () => {
      const path = JSON.stringify(join(ctx.tmp, 'profile.ckpt'));
      const head = `const core = await import(${JSON.stringify(ctx.paths.coreDist)});`;
      const append = await ctx.profile({
        label: `append only: 5 × ${events} buffered appends + sync`,
        script: `${head}
          const j = await core.Journal.create(${path}, core.createIdentity({kind:'bench',id:'b',version:1,structure:{}}), {storage: new core.NodeStorage(), fold: new core.Fold(), compaction: false, replace: true});
          for (let k = 0; k < 5; k++) { for (let i = 0; i < ${events}; i++) j.append([{type:'cursor-set', unit:'u'+(i%100), cursor:i}], {durability:'buffered'}); await j.sync(); }
          await j.close();`,
      });
      const read = await ctx.profile({
        label: `read only: 5 × readLog of ${5 * events} records`,
        script: `${head}
          for (let k = 0; k < 5; k++) await core.readLog(new core.NodeStorage(), ${path}, new core.Fold());`,
      });
      return { profiles: [append.profile, read.profile] };
    },
  };
}
