import { describe, expect, it } from 'vitest';
import { firstDifference } from './first-difference.js';

describe('firstDifference', () => {
  const bytes = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7) & 0xff);

  it('is undefined for equal bytes, also across views of different buffers', () => {
    expect(firstDifference(bytes, Buffer.from(bytes))).toBeUndefined();
    expect(firstDifference(new Uint8Array(0), new Uint8Array(0))).toBeUndefined();
  });

  it('names the offset of the first unequal byte, wherever it is', () => {
    for (const at of [0, 1, 65_535, 65_536, 131_073, bytes.length - 1]) {
      const changed = Uint8Array.from(bytes);
      changed[at] = changed[at]! ^ 0x01;
      expect(firstDifference(changed, bytes)).toBe(at);
    }
  });

  it('names the shorter length when one is a prefix of the other', () => {
    expect(firstDifference(bytes.subarray(0, 1000), bytes)).toBe(1000);
    expect(firstDifference(bytes, bytes.subarray(0, 70_000))).toBe(70_000);
  });

  it('reads a view at its own offset', () => {
    const view = bytes.subarray(10, 20);
    expect(firstDifference(view, Uint8Array.from(bytes.slice(10, 20)))).toBeUndefined();
    expect(firstDifference(view, bytes.subarray(0, 10))).toBe(0);
  });
});
