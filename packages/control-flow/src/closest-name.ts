/**
 * "Did you mean …?" for names a user typed: a variable, a configuration key, a step id.
 */

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    rows.push([i]);
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        rows[0]!.push(j);
        continue;
      }
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]!.push(best);
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The known name closest to `name`, or undefined when none is close enough to be a likely typo:
 * case is ignored first (`outdir` → `outDir`), then at most one edit per three characters
 * (at least one: `cuont` → `count`).
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: { name: string; distance: number; exact: number } | undefined;
  const lower = name.toLowerCase();
  for (const candidate of known) {
    if (candidate === name) continue;
    const distance = editDistance(lower, candidate.toLowerCase());
    const exact = editDistance(name, candidate);
    if (best === undefined || distance < best.distance || (distance === best.distance && exact < best.exact)) best = { name: candidate, distance, exact };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(1, Math.floor(name.length / 3)) ? best.name : undefined;
}
