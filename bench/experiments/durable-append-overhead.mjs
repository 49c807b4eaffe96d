#!/usr/bin/env node
/**
 * Evidence for FINDINGS.md (durable append): the software cost of one durable append, with
 * the disk taken out. On tmpfs (`/dev/shm`) fdatasync returns at once, so what remains is
 * the journal's CPU and event-loop work per append against a bare write+fdatasync loop
 * (both with the node:fs callback API). Also runs on the given directory's disk, where
 * fdatasync latency decides how much that overhead shows.
 *
 *   node bench/experiments/durable-append-overhead.mjs [DIR=/dev/shm] [EVENTS=2000]
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const core = await import(new URL('../../packages/core/dist/index.js', import.meta.url).href);
const write = promisify(fs.write);
const fdatasync = promisify(fs.fdatasync);
const parent = process.argv[2] ?? '/dev/shm';
const N = Number(process.argv[3] ?? 2000);
const dir = fs.mkdtempSync(join(parent, 'ckpt-durable-'));

async function journal() {
  const j = await core.Journal.create(join(dir, 'j.ckpt'), core.createIdentity({ kind: 'b', id: 'b', version: 1, structure: {} }), {
    storage: new core.NodeStorage(),
    fold: new core.Fold(),
    compaction: false,
  });
  const start = performance.now();
  for (let i = 0; i < N; i++) await j.append([{ type: 'cursor-set', unit: `u${i % 100}`, cursor: i }], { durability: 'durable' });
  const us = ((performance.now() - start) * 1000) / N;
  await j.close();
  return us;
}

async function raw() {
  const path = join(dir, 'r.log');
  fs.rmSync(path, { force: true });
  const fd = fs.openSync(path, 'wx');
  const bytes = Buffer.alloc(64);
  const start = performance.now();
  for (let i = 0; i < N; i++) {
    await write(fd, bytes, 0, bytes.length, i * bytes.length);
    await fdatasync(fd);
  }
  const us = ((performance.now() - start) * 1000) / N;
  fs.closeSync(fd);
  return us;
}

const rows = [];
for (let round = 0; round < 6; round++) rows.push([await journal(), await raw()]);
rows.shift(); // warm-up
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const j = median(rows.map((r) => r[0]));
const r = median(rows.map((r) => r[1]));
console.log(
  `${parent}: µs per durable append — journal ${j.toFixed(1)}, raw write+fdatasync ${r.toFixed(1)}, overhead ${(j - r).toFixed(1)} µs (${(r / j).toFixed(2)}× raw throughput)`,
);
fs.rmSync(dir, { recursive: true, force: true });
