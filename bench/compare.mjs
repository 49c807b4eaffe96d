#!/usr/bin/env node
/**
 * Compares two result files of `node bench/run.mjs`: `node bench/compare.mjs A.json B.json`.
 * Prints Markdown: the machines (a comparison across machines says little; ratios to peers
 * travel better than absolute figures), every goal before and after, and every figure's
 * medians with the change, marked better or worse according to the figure's direction.
 * Changes within ±`--noise` percent (default 10) are marked as noise.
 */
import { readFileSync } from 'node:fs';

function usage(message) {
  if (message) console.error(message);
  console.error('usage: node bench/compare.mjs A.json B.json [--noise PERCENT]');
  process.exit(2);
}

const args = process.argv.slice(2);
let noise = 10;
const files = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--noise') noise = Number(args[++i]);
  else if (args[i] === '--help' || args[i] === '-h') usage();
  else files.push(args[i]);
}
if (files.length !== 2 || !Number.isFinite(noise)) usage();
const [a, b] = files.map((file) => {
  try {
    const result = JSON.parse(readFileSync(file, 'utf8'));
    if (result.tool !== 'ckpt-bench' || result.schema !== 1) usage(`${file} is not a ckpt-bench result file (schema 1)`);
    return result;
  } catch (error) {
    usage(`cannot read ${file}: ${error.message}`);
  }
});

const fmt = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? String(v) : String(v));
const verdict = (g) => (g === undefined ? '—' : g.met === true ? '✅' : g.met === false ? '❌' : '⏸');
const out = [];
out.push(`# ckpt bench: ${files[0]} → ${files[1]}`, '');
out.push('| | A | B |', '| --- | --- | --- |');
for (const [label, get] of [
  ['started', (r) => r.startedAt],
  ['mode', (r) => r.mode],
  ['host', (r) => r.host],
  ['CPU', (r) => `${r.machine.cpu} × ${r.machine.cores}`],
  ['Node', (r) => r.machine.node],
  ['kernel', (r) => r.machine.kernel],
  ['disk', (r) => `${r.machine.disk.device} ${r.machine.disk.fs}`],
  ['commit', (r) => r.git.commit?.slice(0, 12) ?? '?'],
]) {
  out.push(`| ${label} | ${get(a)} | ${get(b)} |`);
}
if (a.machine.cpu !== b.machine.cpu || a.machine.cores !== b.machine.cores || a.machine.node !== b.machine.node || a.mode !== b.mode) {
  out.push('', '> The machines, Node versions or modes differ: compare the ratios to peers, not the absolute figures.');
}
out.push('');

out.push('## Goals', '', '| suite | goal | A | B |', '| --- | --- | --- | --- |');
for (const suiteB of b.suites) {
  const suiteA = a.suites.find((s) => s.id === suiteB.id);
  for (const goalB of suiteB.goals) {
    const goalA = suiteA?.goals.find((g) => g.text === goalB.text);
    out.push(
      `| ${suiteB.number}. ${suiteB.id} | ${goalB.text} | ${verdict(goalA)} ${fmt(goalA?.measured)} | ${verdict(goalB)} ${fmt(goalB.measured)} |`,
    );
  }
}
out.push('');

out.push(
  `## Figures (medians; change beyond ±${noise}% marked)`,
  '',
  '| figure | contestant | unit | A | B | change |',
  '| --- | --- | --- | ---: | ---: | --- |',
);
for (const suiteB of b.suites) {
  const suiteA = a.suites.find((s) => s.id === suiteB.id);
  for (const figB of suiteB.figures) {
    const figA = suiteA?.figures.find((f) => f.id === figB.id);
    for (const rowB of figB.rows) {
      const rowA = figA?.rows.find((r) => r.key === rowB.key);
      const ma = rowA?.available ? rowA.median : null;
      const mb = rowB.available ? rowB.median : null;
      let change = '—';
      if (ma && mb) {
        const pct = ((mb - ma) / ma) * 100;
        const better = figB.better === 'higher' ? pct > 0 : pct < 0;
        change = Math.abs(pct) < noise ? `${pct.toFixed(1)}% (noise)` : `${pct > 0 ? '+' : ''}${pct.toFixed(1)}% ${better ? 'better' : 'worse'}`;
      } else if (ma === null && mb !== null) change = 'new';
      else if (ma !== null && mb === null) change = `gone: ${rowB.reason ?? ''}`;
      out.push(`| ${figB.id} | ${rowB.label} | ${figB.unit} | ${fmt(ma)} | ${fmt(mb)} | ${change} |`);
    }
  }
}
console.log(out.join('\n'));
