/**
 * Where a problem's path (`steps[2].after.load.x`) is in the definition it was found in: the keys
 * to walk, and the step that holds it. Keys may contain dots (step ids do), so each map key is
 * matched against the path's text, longest first, rather than split on dots.
 */

/** The keys and indexes of `path` that exist in `root`, as far as they go. */
export function pathKeys(root: unknown, path: string): (string | number)[] {
  const keys: (string | number)[] = [];
  let rest = path;
  let node = root;
  while (rest !== '') {
    if (Array.isArray(node)) {
      const index = /^\[(\d+)\]/.exec(rest);
      if (index === null || Number(index[1]) >= node.length) break;
      keys.push(Number(index[1]));
      node = node[Number(index[1])];
      rest = rest.slice(index[0].length);
    } else if (node !== null && typeof node === 'object') {
      const text = rest.startsWith('.') ? rest.slice(1) : rest;
      const key = Object.keys(node)
        .filter((k) => text === k || text.startsWith(`${k}.`) || text.startsWith(`${k}[`))
        .sort((a, b) => b.length - a.length)[0];
      if (key === undefined) break;
      keys.push(key);
      node = (node as Record<string, unknown>)[key];
      rest = text.slice(key.length);
    } else break;
  }
  return keys;
}

/** The id of the innermost step on `keys` (an element of a `steps` or `onError` list), if any. */
export function stepOn(root: unknown, keys: readonly (string | number)[]): string | undefined {
  let step: string | undefined;
  let node = root;
  for (const [i, key] of keys.entries()) {
    node = (node as Record<string | number, unknown>)[key];
    const list = keys[i - 1];
    if (typeof key === 'number' && (list === 'steps' || list === 'onError')) {
      const id = (node as { id?: unknown } | null)?.id;
      if (typeof id === 'string') step = id;
    }
  }
  return step;
}
