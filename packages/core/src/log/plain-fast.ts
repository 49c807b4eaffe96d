import { MAX_PLAIN_DEPTH } from '../fold/plain.js';

/**
 * The hot-path form of the plain-data rules: whether `findNonPlain(value, path, depth)` finds
 * nothing (and, with `refuseProtoKey`, no object holds an own `__proto__` key), decided without
 * building the path strings findNonPlain carries for its message — one string per value walked
 * was the largest allocation of an append and of a read. It applies exactly findNonPlain's rules
 * (fold/plain.ts); callers call findNonPlain (and the `__proto__` search) only when it says no,
 * to get the message, so the verdict always comes from the same rules.
 */
export function isPlainQuick(value: unknown, depth: number, refuseProtoKey: boolean): boolean {
  if (value === null || value === undefined) return true;
  switch (typeof value) {
    case 'boolean':
    case 'string':
    case 'number':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (depth >= MAX_PLAIN_DEPTH) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!isPlainQuick(value[i], depth + 1, refuseProtoKey)) return false;
    return true;
  }
  if (value instanceof Uint8Array) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  if (refuseProtoKey && Object.hasOwn(value, '__proto__')) return false;
  for (const key in value) {
    if (!isPlainQuick((value as Record<string, unknown>)[key], depth + 1, refuseProtoKey)) return false;
  }
  return true;
}
