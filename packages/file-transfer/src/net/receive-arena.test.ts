import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReceiveArena, type Lease } from './receive-arena.js';

describe('ReceiveArena', () => {
  it('packs leases into a block and reuses it once they are released', () => {
    const arena = new ReceiveArena(100, 2);
    const a = arena.lease(40);
    const b = arena.lease(60);
    expect(a.block).toBe(b.block);
    expect(arena.bytesInUse).toBe(100);
    arena.release(a);
    arena.release(b);
    // The block is filled again from the start: a steady consumer never allocates.
    const c = arena.lease(100);
    expect(c.block).toBe(a.block);
    expect(arena.bytesHeld).toBe(100);
  });

  it('keeps a full block alive while a lease in it lives, then recycles it', () => {
    const arena = new ReceiveArena(100, 2);
    const a = arena.lease(80);
    const b = arena.lease(80);
    expect(b.block).not.toBe(a.block);
    expect(arena.bytesInUse).toBe(200);
    arena.release(a);
    expect(arena.bytesInUse).toBe(100);
    expect(arena.bytesHeld).toBe(200);
    const c = arena.lease(80);
    expect(c.block).toBe(a.block);
  });

  it('refuses leases larger than a block and double releases', () => {
    const arena = new ReceiveArena(100, 2);
    expect(() => arena.lease(101)).toThrow(RangeError);
    const a = arena.lease(1);
    arena.release(a);
    expect(() => arena.release(a)).toThrow(/twice/);
  });

  it('property: live leases never share bytes, and blocks held never exceed the most ever in use', () => {
    const step = fc.oneof(fc.record({ lease: fc.integer({ min: 0, max: 64 }) }), fc.record({ release: fc.nat() }));
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), fc.integer({ min: 0, max: 4 }), (steps, maxSpare) => {
        const arena = new ReceiveArena(64, maxSpare);
        const live: { lease: Lease; fill: number }[] = [];
        let peakInUse = 0;
        let fill = 0;
        for (const s of steps) {
          if ('lease' in s) {
            const lease = arena.lease(s.lease);
            fill = (fill + 1) % 256;
            lease.bytes.fill(fill);
            live.push({ lease, fill });
          } else if (live.length > 0) {
            const [gone] = live.splice(s.release % live.length, 1);
            arena.release(gone!.lease);
          }
          peakInUse = Math.max(peakInUse, arena.bytesInUse);
          // Writing one lease never changed another live one.
          for (const { lease, fill: value } of live) expect(lease.bytes.every((b) => b === value)).toBe(true);
          expect(arena.bytesHeld).toBeLessThanOrEqual(Math.max(peakInUse, arena.bytesInUse));
          expect(arena.bytesInUse).toBeLessThanOrEqual(64 * (live.length + 1));
        }
      }),
    );
  });
});
