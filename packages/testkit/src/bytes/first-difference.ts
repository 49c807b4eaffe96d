/**
 * Where two byte sequences first differ: the offset of the first unequal byte, the shorter
 * length when one is a prefix of the other, or `undefined` when they are equal.
 *
 * Tests compare files of megabytes with `expect(firstDifference(actual, expected)).toBeUndefined()`
 * instead of `toEqual`: vitest's deep equality walks a Buffer element by element (28 s for 3 MiB
 * on a loaded 2-core machine), and on a mismatch it prints bytes, where an offset says more.
 */
export function firstDifference(actual: Uint8Array, expected: Uint8Array): number | undefined {
  const length = Math.min(actual.length, expected.length);
  if (length === actual.length && length === expected.length && Buffer.from(actual.buffer, actual.byteOffset, length).equals(expected))
    return undefined;
  // Unequal: find where, a chunk at a time (Buffer.equals is a memcmp).
  const chunk = 64 * 1024;
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.length);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.length);
  for (let start = 0; start < length; start += chunk) {
    const end = Math.min(start + chunk, length);
    if (a.subarray(start, end).equals(b.subarray(start, end))) continue;
    for (let i = start; i < end; i++) if (a[i] !== b[i]) return i;
  }
  return length;
}
