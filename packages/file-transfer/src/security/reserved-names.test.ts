import { describe, expect, it } from 'vitest';
import { checkPathText } from '../net/confine.js';
import { checkpointPathOf, isReservedName, partialPathOf } from '../transfer/names.js';

// Issue 12, item 4: no segment of a peer's path may take the name of a file ckpt keeps beside a
// destination, or the next push to that destination is wedged.

describe('reserved names', () => {
  it('covers every companion of a destination, whatever the destination is called', () => {
    for (const name of ['a', 'a.bin', '.hidden', 'x.ckpt', 'lock', 'ünïcode name']) {
      const checkpoint = checkpointPathOf(`/root/${name}`).slice('/root/'.length);
      const partial = partialPathOf(`/root/${name}`).slice('/root/'.length);
      for (const companion of [
        checkpoint,
        partial,
        `${checkpoint}.lock`,
        `${checkpoint}.lock.takeover`,
        `${checkpoint}.compact-0123456789abcdef.tmp`,
        `${checkpoint}.new-0123456789abcdef.tmp`,
      ]) {
        expect(isReservedName(companion), companion).toBe(true);
        expect(() => checkPathText(`in/${companion}/x`), companion).toThrow(/ckpt's own hidden files/);
        expect(() => checkPathText(companion), companion).toThrow(/ckpt's own hidden files/);
      }
    }
  });

  it('leaves ordinary names alone, hidden ones included', () => {
    for (const path of ['.ckpt/state', '.config/app.yaml', 'a.ckpt', 'backup.ckpt-part', 'in/.profile', 'x.lock', '.ckptx/y']) {
      expect(() => checkPathText(path), path).not.toThrow();
    }
  });
});
