// `ckpt copy` of one build against another and against `cp` + `sync`, in one run of
// alternating rounds (bench/FINDINGS.md, issue 15 "copies"): the chain hash's effect alone.
//   node bench/experiments/copy-ab.mjs ROUNDS SIZE_MIB base=OTHER/packages/cli/bin/ckpt.js [new=packages/cli/bin/ckpt.js] [--tmp DIR]
// Each `NAME=CLI` is a contestant (`NAME:sha256=CLI` passes `--hash sha256`, `NAME:--checkpoint-interval,0=CLI`
// those arguments; bench/experiments/copy-floor.mjs is a CLI too, the floor); `cp` + `sync FILE` is
// always one. The source is written once (random, page-cached); every destination is fresh.
// Prints per contestant the median wall time and the medians over rounds of its time / cp's and
// / the first build's (the first NAME=CLI given).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const tmpAt = args.indexOf('--tmp');
const parent = tmpAt >= 0 ? args[tmpAt + 1] : tmpdir();
const [rounds, sizeMiB] = args.filter((a) => /^\d+$/.test(a)).map(Number);
const builds = args.filter((a) => a.includes('=')).map((a) => a.split('='));
if (!rounds || !sizeMiB || builds.length === 0) {
  console.error('usage: copy-ab.mjs ROUNDS SIZE_MIB NAME=CLI... [--tmp DIR]');
  process.exit(2);
}
const dir = fs.mkdtempSync(join(parent, 'copy-ab-'));
const source = join(dir, 'src.bin');
{
  const fd = fs.openSync(source, 'w');
  const block = randomBytes(1 << 20);
  for (let i = 0; i < sizeMiB; i++) {
    block.writeUInt32LE(i, 0);
    fs.writeSync(fd, block);
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
}
const time = (command, argv) => {
  const destination = join(dir, 'dst.bin');
  fs.rmSync(destination, { force: true });
  const start = performance.now();
  const run = spawnSync(command, argv(destination), { cwd: dir, encoding: 'utf8' });
  const ms = performance.now() - start;
  if (run.status !== 0) throw new Error(`${command} ${argv(destination).join(' ')}: exit ${run.status}: ${run.stderr}`);
  return ms;
};
const contestants = [
  { name: 'cp && sync', run: () => time('sh', (d) => ['-c', `cp src.bin '${d}' && sync '${d}'`]) },
  ...builds.map(([label, cli]) => {
    const [name, option] = label.split(':');
    // `NAME:sha256` passes `--hash sha256`; `NAME:--flag,value` passes those arguments as they are.
    const extra = option === undefined ? [] : option.startsWith('-') ? option.split(',') : ['--hash', option];
    return {
      name: `${name}${extra.length > 0 ? ` ${extra.join(' ')}` : ''}`,
      run: () => time(process.execPath, (d) => [resolve(cli), 'copy', source, d, ...extra]),
    };
  }),
];
const samples = Object.fromEntries(contestants.map((c) => [c.name, []]));
for (let r = -1; r < rounds; r++) {
  // Rotated order each round; round -1 warms the caches and is not counted.
  for (let i = 0; i < contestants.length; i++) {
    const c = contestants[(i + Math.max(r, 0)) % contestants.length];
    const ms = c.run();
    if (r >= 0) samples[c.name].push(ms);
  }
}
fs.rmSync(dir, { recursive: true, force: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const cp = samples['cp && sync'];
const first = samples[contestants[1].name];
console.log(`${sizeMiB} MiB, ${rounds} alternating rounds, load ${loadavg()[0].toFixed(1)} at the end, ${parent}`);
console.log(`| contestant | median ms | time / cp+sync (paired median) | min–max ratio | time / ${contestants[1].name}'s (paired median) |`);
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const c of contestants) {
  const ratios = samples[c.name].map((v, i) => v / cp[i]);
  console.log(
    `| ${c.name} | ${median(samples[c.name]).toFixed(0)} | ${median(ratios).toFixed(2)}× | ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)} | ${median(samples[c.name].map((v, i) => v / first[i])).toFixed(2)}× |`,
  );
}
