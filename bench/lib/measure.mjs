/**
 * Measurement helpers: statistics of samples, and the alternation of a subject with its peers
 * inside one run, so that machine noise (other processes on a shared box, page-cache state,
 * thermal state) falls on every contestant alike and the ratio stays meaningful.
 */
import { performance } from 'node:perf_hooks';

/** Median, min and max of `samples` (numbers); undefined figures when there are none. */
export function summarize(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { samples: [], median: null, min: null, max: null };
  const median = n % 2 === 1 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { samples: samples.map(round), median: round(median), min: round(sorted[0]), max: round(sorted[n - 1]) };
}

/** Rounds to 4 significant digits: more is noise on this kind of machine. */
export function round(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return value ?? null;
  if (value === 0) return 0;
  const digits = Math.max(0, 3 - Math.floor(Math.log10(Math.abs(value))));
  return Number(value.toFixed(Math.min(digits, 9)));
}

/** Milliseconds taken by `work` (awaited). */
export async function timeMs(work) {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

/**
 * Runs each available contestant once per round, the order rotated every round (A B C, B C A,
 * C A B, ...), and returns the samples of each. `contestants` is a list of
 * `{ key, run: (round) => Promise<number> }`; a contestant with `available: false` is skipped.
 * `warmup` rounds run first and are thrown away (JIT, page cache, file-system metadata).
 */
export async function alternate(contestants, { rounds, warmup = 1, onSample } = {}) {
  const live = contestants.filter((c) => c.available !== false);
  const samples = Object.fromEntries(live.map((c) => [c.key, []]));
  for (let r = -warmup; r < rounds; r++) {
    const shift = ((r % live.length) + live.length) % live.length;
    const order = [...live.slice(shift), ...live.slice(0, shift)];
    for (const contestant of order) {
      const value = await contestant.run(r);
      if (r >= 0) {
        samples[contestant.key].push(value);
        onSample?.(contestant.key, value);
      }
    }
  }
  return samples;
}

/**
 * A figure of the results: one quantity measured for a subject and its peers.
 * `better` is 'higher' (throughput) or 'lower' (time). Rows of unavailable contestants carry
 * their reason and no samples.
 */
export function figure({ id, label, unit, better, rows, notes = [] }) {
  return {
    id,
    label,
    unit,
    better,
    rows: rows.map((row) =>
      row.available === false
        ? { key: row.key, label: row.label, role: row.role ?? 'peer', available: false, reason: row.reason }
        : { key: row.key, label: row.label, role: row.role ?? 'peer', available: true, ...summarize(row.samples) },
    ),
    notes,
  };
}

/**
 * The ratio of two rows measured alternately: the median over rounds of a[i] / b[i]. Pairing
 * the samples of one round cancels the slow drift of a shared machine (another job's I/O
 * burst hits both sides of a pair). Falls back to the ratio of medians when the rows have
 * different sample counts.
 */
export function pairedRatio(a, b) {
  if (!a?.available || !b?.available || !a.samples?.length || !b.samples?.length) return null;
  if (a.samples.length !== b.samples.length) return b.median ? round(a.median / b.median) : null;
  const ratios = a.samples.map((v, i) => v / b.samples[i]).filter(Number.isFinite);
  return summarize(ratios).median;
}

/** The median of row `key` of figure `fig`, or null. */
export function medianOf(fig, key) {
  const row = fig.rows.find((r) => r.key === key);
  return row?.available ? row.median : null;
}

/**
 * A goal. `kind` 'ratio': subject/peer as {@link pairedRatio} compared with `threshold` by `op`;
 * 'absolute': median(subject) compared with `threshold`. `met` is null when a side is missing
 * (not available in this build, or a peer that could not be installed), with the reason.
 */
export function goal({ text, figure: fig, subject, peer, op, threshold, kind = 'ratio', value, reasonIfMissing }) {
  let measured = null;
  let reason;
  if (kind === 'ratio') {
    const a = fig.rows.find((r) => r.key === subject);
    const b = fig.rows.find((r) => r.key === peer);
    measured = pairedRatio(a, b);
    if (measured === null) reason = reasonIfMissing ?? unavailableReason(fig, a?.available ? peer : subject);
  } else if (kind === 'absolute') {
    measured = medianOf(fig, subject);
    if (measured === null) reason = reasonIfMissing ?? unavailableReason(fig, subject);
  } else {
    measured = value ?? null;
    if (measured === null) reason = reasonIfMissing ?? 'not measured';
  }
  const met = measured === null ? null : compare(measured, op, threshold);
  return {
    text,
    figure: fig?.id ?? null,
    subject: subject ?? null,
    peer: peer ?? null,
    kind,
    op,
    threshold,
    measured,
    met,
    ...(reason && { reason }),
  };
}

function unavailableReason(fig, key) {
  const row = fig?.rows.find((r) => r.key === key);
  return row?.reason ?? `${key} was not measured`;
}

function compare(value, op, threshold) {
  switch (op) {
    case '>=':
      return value >= threshold;
    case '>':
      return value > threshold;
    case '<=':
      return value <= threshold;
    case '<':
      return value < threshold;
    default:
      throw new Error(`unknown goal operator ${op}`);
  }
}
