/**
 * The measured reason behind a missed goal: syscall counts (strace -c -f) and a CPU profile
 * summary (node --cpu-prof: self time by function and by file), taken on a separate process
 * running the same work, so the timed runs are not perturbed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { round } from './measure.mjs';

function nodeArgs({ script, argv }) {
  return script !== undefined ? ['--input-type=module', '-e', script] : argv;
}

/** strace -c -f of the work; returns the syscalls by count, with per-event figures when `events` is given. */
export function straceSummary(work, { tmp, strace }) {
  if (!strace) return { available: false, reason: 'strace is not installed' };
  const out = join(tmp, `strace-${process.hrtime.bigint()}.txt`);
  const result = spawnSync('strace', ['-c', '-f', '-o', out, process.execPath, ...nodeArgs(work)], { encoding: 'utf8', timeout: 10 * 60_000 });
  if (result.status !== 0)
    return { available: false, reason: `strace exited ${result.status}: ${result.stderr.trim().split('\n').slice(-2).join(' | ')}` };
  const text = readFileSync(out, 'utf8');
  rmSync(out, { force: true });
  const rows = [];
  for (const line of text.split('\n')) {
    const m = line.trim().match(/^([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\w+)$/);
    if (m && m[6] !== 'total')
      rows.push({ syscall: m[6], percentTime: Number(m[1]), seconds: Number(m[2]), calls: Number(m[4]), errors: Number(m[5] ?? 0) });
  }
  rows.sort((a, b) => b.calls - a.calls);
  const top = rows.slice(0, 10).map((r) => ({ ...r, ...(work.events && { perEvent: round(r.calls / work.events) }) }));
  return { available: true, label: work.label, events: work.events ?? null, top };
}

/** node --cpu-prof of the work; returns self time by function and by file (paths relative to the repo). */
export function cpuProfileSummary(work, { tmp, root }) {
  const dir = mkdtempSync(join(tmp, 'prof-'));
  const result = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100', ...nodeArgs(work)], {
    encoding: 'utf8',
    timeout: 10 * 60_000,
    cwd: root,
  });
  if (result.status !== 0)
    return { available: false, reason: `profiled run exited ${result.status}: ${result.stderr.trim().split('\n').slice(-2).join(' | ')}` };
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return { available: false, reason: 'no .cpuprofile was written' };
  const profile = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  rmSync(dir, { recursive: true, force: true });
  const selfUs = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const fnTotals = new Map();
  const fileTotals = new Map();
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id);
    const url = callFrame.url.replace(/^file:\/\//, '');
    const where = url === '' ? '(native)' : url.startsWith(root) ? relative(root, url) : url.replace(/.*node_modules\/(\.pnpm\/)?/, 'node_modules/');
    const name = `${callFrame.functionName || '(anonymous)'} ${where}${url ? `:${callFrame.lineNumber + 1}` : ''}`;
    fnTotals.set(name, (fnTotals.get(name) ?? 0) + us);
    fileTotals.set(where, (fileTotals.get(where) ?? 0) + us);
  }
  const top = (map, n) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, ms: round(us / 1000), percent: round((100 * us) / total) }));
  return { available: true, label: work.label, totalMs: round(total / 1000), functions: top(fnTotals, 12), files: top(fileTotals, 8) };
}
