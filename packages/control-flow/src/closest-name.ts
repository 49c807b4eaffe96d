/**
 * "Did you mean …?" for names a user typed: a variable, a configuration key, a step id.
 */

/**
 * Edit distance counting a swap of two neighbours as one edit (optimal string alignment), or
 * `limit + 1` as soon as it must exceed `limit`: names are short, but a file may hold thousands.
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let smallest = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      row.push(best);
      smallest = Math.min(smallest, best);
    }
    if (smallest > limit) return limit + 1;
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * The known name closest to `name`, or undefined when none is close enough to be a likely typo:
 * case is ignored first (`outdir` → `outDir`), then at most one edit per three characters
 * (at least one: `cuont` → `count`).
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: { name: string; distance: number; exact: number } | undefined;
  const lower = name.toLowerCase();
  for (const candidate of known) {
    if (candidate === name || Math.abs(candidate.length - name.length) > limit) continue;
    const distance = editDistance(lower, candidate.toLowerCase(), limit);
    if (distance > limit) continue;
    const exact = editDistance(name, candidate, name.length + candidate.length);
    if (best === undefined || distance < best.distance || (distance === best.distance && exact < best.exact))
      best = { name: candidate, distance, exact };
  }
  return best?.name;
}
