/**
 * Plain data: what may travel through the log. msgpack maps decode to plain objects, arrays to
 * arrays, bin to Uint8Array. Anything else (class instances, Sets, RegExps, Errors, functions) is
 * refused on the way in and on the way back out, so a crafted file cannot smuggle objects with
 * behaviour into a runner's state.
 */

/** A value that can be stored in the log. */
export type PlainValue = null | boolean | number | string | Uint8Array | readonly PlainValue[] | { readonly [key: string]: PlainValue | undefined };

/** Deepest nesting accepted; deeper values are refused rather than risk exhausting the stack. */
export const MAX_PLAIN_DEPTH = 64;

/**
 * Returns a description of the first non-plain part of `value` (with its path), or `undefined`
 * when the whole value is plain data.
 */
export function findNonPlain(value: unknown, path = '$', depth = 0): string | undefined {
  if (value === null || value === undefined) return undefined;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return undefined;
    case 'number':
      return undefined;
    case 'object':
      break;
    default:
      return `${path} is a ${typeof value}`;
  }
  if (depth >= MAX_PLAIN_DEPTH) return `${path} is nested deeper than ${MAX_PLAIN_DEPTH} levels`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = findNonPlain(value[i], `${path}[${i}]`, depth + 1);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }
  if (value instanceof Uint8Array) return undefined;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const name = (value as { constructor?: { name?: string } }).constructor?.name ?? 'unknown';
    return `${path} is a ${name}, not plain data`;
  }
  for (const key in value) {
    const bad = findNonPlain((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/** Whether `value` is a plain object (not an array, not a class instance). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
