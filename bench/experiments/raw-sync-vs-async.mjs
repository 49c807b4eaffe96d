#!/usr/bin/env node
/**
 * The two raw floors of suite 1 against each other, no ckpt involved: a loop of blocking
 * `writeSync` + `fdatasyncSync` and a loop of callback `fs.write` + `fs.fdatasync` (one
 * thread-pool round trip each), the same 64-byte appends, alternating rounds:
 *   node bench/experiments/raw-sync-vs-async.mjs [appends=200] [rounds=60] [--tmp DIR]
 * Prints the median of per-round ratios (blocking / callback) and each loop's median rate. Which
 * one is faster depends on the disk: the blocking loop saves the round trips, which is what a
 * journal's durable append alone gains by blocking (packages/core/src/log/journal-writer.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { openRawAsync, openRawSync } from '../suites/shared.mjs';

const args = process.argv.slice(2);
const t = args.indexOf('--tmp');
const dir = fs.mkdtempSync(join(t >= 0 ? args.splice(t, 2)[1] : os.tmpdir(), 'ckpt-raw-'));
const appends = Number(args[0] ?? 200);
const rounds = Number(args[1] ?? 60);
const bytes = Buffer.alloc(64);
const rate = (ms) => (appends / ms) * 1000;
const loops = {
  async blocking() {
    const raw = openRawSync(join(dir, 'blocking.log'));
    const start = performance.now();
    for (let i = 0; i < appends; i++) raw.append(bytes, true);
    const ms = performance.now() - start;
    raw.close();
    return rate(ms);
  },
  async callback() {
    const raw = await openRawAsync(join(dir, 'callback.log'));
    const start = performance.now();
    for (let i = 0; i < appends; i++) await raw.append(bytes, true);
    const ms = performance.now() - start;
    await raw.close();
    return rate(ms);
  },
};
const samples = { blocking: [], callback: [] };
const loadBefore = os.loadavg();
for (let r = -1; r < rounds; r++) {
  for (const key of r % 2 === 0 ? ['blocking', 'callback'] : ['callback', 'blocking']) {
    const value = await loops[key]();
    if (r >= 0) samples[key].push(value);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const load = (l) => l.map((x) => x.toFixed(1)).join(' ');
console.log(
  `blocking/callback ${median(samples.blocking.map((v, i) => v / samples.callback[i])).toFixed(3)}×  blocking=${Math.round(median(samples.blocking))}/s  callback=${Math.round(median(samples.callback))}/s  load ${load(loadBefore)} → ${load(os.loadavg())}`,
);
fs.rmSync(dir, { recursive: true, force: true });
