#!/usr/bin/env node
/**
 * Where group commit's time goes: the journal against raw batched loops that do more and more
 * of its per-append work inside their clock, alternating rounds (bench/lib/measure.mjs):
 *   node bench/experiments/group-commit-work.mjs [rounds] [--c 64,256] [--tmp DIR] [--only journal,raw,...]
 * With `--only journal` it runs the journal alone, for a profile:
 *   node --cpu-prof --cpu-prof-interval=100 bench/experiments/group-commit-work.mjs 20 --c 256 --tmp /dev/shm --only journal
 *
 * - journal:     C concurrent appenders, each awaiting `Journal.append([event], durable)` (suite 2;
 *                here every contestant takes its events from one list built before the clock);
 * - raw:         suite 2's raw peer: C records encoded BEFORE the clock, one write + one fdatasync;
 * - raw+work:    the same loop, but each record is made inside the clock the way an append makes
 *                it: `encodeRecord` (msgpack + the reader's plain-data check), the fold, the
 *                28-byte frame and its CRC-32C... (zlib crc32, as core), into one batch buffer;
 * - raw+work+await: raw+work with C async appenders that each await a per-batch promise
 *                (one shared promise per batch, no receipts, no waiter list): the cheapest
 *                concurrent group commit a hand-written store could have.
 * journal / (raw+work+await) is what ckpt's own plumbing costs (receipts, waiter list, queue,
 * turn scheduling); (raw+work) / raw is what making a checkable, folded record costs.
 * On tmpfs (--tmp /dev/shm) fdatasync is free and only CPU is compared.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { ckptPaths, loadCore, loadMsgpackr } from '../lib/ckpt.mjs';
import { alternate } from '../lib/measure.mjs';
import { createJournal, eventAt, openRawAsync, recordBytes } from '../suites/shared.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const concurrencies = (flag('--c') ?? '64,256').split(',').map(Number);
const only = flag('--only')?.split(',');
const tmp = fs.mkdtempSync(join(flag('--tmp') ?? os.tmpdir(), 'ckpt-gcw-'));
const rounds = Number(args[0] ?? 7);
const core = await loadCore(ckptPaths(root));
const msgpackr = loadMsgpackr(root);
const write = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const paired = (a, b) => median(a.map((v, i) => v / b[i]));
const H = core.RECORD_HEADER_BYTES;
const batches = 100;

/** A raw appender that makes each record as an append does, then writes and syncs the batch. */
function rawWithWork(path) {
  fs.rmSync(path, { force: true });
  const fd = fs.openSync(path, 'wx', 0o600);
  const fold = new core.Fold();
  const state = core.initialState();
  let position = 0;
  let seq = 1;
  const salt = crc32(Buffer.from('0123456789abcdef'));
  return {
    /** Encodes, checks and folds each event, frames the batch; returns it. */
    make(events) {
      const payloads = events.map((event) => {
        const list = [event];
        const payload = core.encodeRecord(list);
        fold.applyAllInPlace(state, list);
        return payload;
      });
      const buffer = new Uint8Array(payloads.reduce((n, p) => n + H + p.length, 0));
      const view = new DataView(buffer.buffer);
      let offset = 0;
      for (const payload of payloads) {
        view.setUint32(offset, payload.length, true);
        buffer[offset + 4] = 1;
        view.setBigUint64(offset + 8, BigInt(seq++), true);
        view.setBigUint64(offset + 16, BigInt(position), true);
        buffer.set(payload, offset + H);
        view.setUint32(offset + 24, crc32(buffer.subarray(offset + 4, offset + H + payload.length), salt), true);
        offset += H + payload.length;
      }
      return buffer;
    },
    async flush(buffer) {
      let done = 0;
      while (done < buffer.length) done += (await write(fd, buffer, done, buffer.length - done, position + done)).bytesWritten;
      position += buffer.length;
      await fdatasync(fd);
    },
    close: () => fs.closeSync(fd),
  };
}

for (const c of concurrencies) {
  const events = c * batches;
  const bytes = Array.from({ length: events }, (_, i) => recordBytes(core, msgpackr, i));
  const list = Array.from({ length: events }, (_, i) => eventAt(i));
  const rate = (ms) => (events / ms) * 1000;
  const contestants = [
    {
      key: 'journal',
      async run() {
        const { journal } = await createJournal(core, tmp, `group-${c}.ckpt`);
        let next = 0;
        const appender = async () => {
          for (let i = next++; i < events; i = next++) await journal.append([list[i]], { durability: 'durable' });
        };
        const start = performance.now();
        await Promise.all(Array.from({ length: c }, appender));
        const ms = performance.now() - start;
        await journal.close();
        return rate(ms);
      },
    },
    {
      key: 'raw',
      async run() {
        const raw = await openRawAsync(join(tmp, `raw-${c}.log`));
        const start = performance.now();
        for (let b = 0; b < batches; b++) await raw.append(Buffer.concat(bytes.slice(b * c, (b + 1) * c)), true);
        const ms = performance.now() - start;
        await raw.close();
        return rate(ms);
      },
    },
    {
      key: 'raw+work',
      async run() {
        const raw = rawWithWork(join(tmp, `work-${c}.log`));
        const start = performance.now();
        for (let b = 0; b < batches; b++) await raw.flush(raw.make(list.slice(b * c, (b + 1) * c)));
        const ms = performance.now() - start;
        raw.close();
        return rate(ms);
      },
    },
    {
      key: 'raw+work+await',
      async run() {
        const raw = rawWithWork(join(tmp, `await-${c}.log`));
        let queued = [];
        let turn;
        // One promise per batch, shared by its appenders; the batch flushes after setImmediate.
        const append = (event) => {
          queued.push(event);
          turn ??= new Promise((resolve) => setImmediate(resolve)).then(async () => {
            const batch = queued;
            queued = [];
            turn = undefined;
            await raw.flush(raw.make(batch));
          });
          return turn;
        };
        let next = 0;
        const appender = async () => {
          for (let i = next++; i < events; i = next++) await append(list[i]);
        };
        const start = performance.now();
        await Promise.all(Array.from({ length: c }, appender));
        const ms = performance.now() - start;
        raw.close();
        return rate(ms);
      },
    },
  ].filter((contestant) => only === undefined || only.includes(contestant.key));
  const samples = await alternate(contestants, { rounds, warmup: 1 });
  const us = (key) => (1e6 / median(samples[key])).toFixed(2);
  if (only !== undefined) {
    console.log(
      `C=${c}  µs/append: ${Object.keys(samples)
        .map((k) => `${k} ${us(k)}`)
        .join(', ')}`,
    );
    continue;
  }
  console.log(
    [
      `C=${String(c).padEnd(4)}`,
      `journal/raw ${paired(samples.journal, samples.raw).toFixed(3)}×`,
      `journal/(raw+work) ${paired(samples.journal, samples['raw+work']).toFixed(3)}×`,
      `journal/(raw+work+await) ${paired(samples.journal, samples['raw+work+await']).toFixed(3)}×`,
      `(raw+work)/raw ${paired(samples['raw+work'], samples.raw).toFixed(3)}×`,
      `µs/append: ${Object.keys(samples)
        .map((k) => `${k} ${us(k)}`)
        .join(', ')}`,
    ].join('  '),
  );
}
fs.rmSync(tmp, { recursive: true, force: true });
