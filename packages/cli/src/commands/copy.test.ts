import { describe, expect, it } from 'vitest';
import { describeTransferEvent } from './copy.js';

const MiB = 1024 * 1024;

describe('the copy view describes transfer events', () => {
  it('a resume says where it continues, and what past the last checkpoint it kept', () => {
    expect(describeTransferEvent({ type: 'transfer/resumed', offset: 129 * MiB, size: 256 * MiB, verified: 'tail', checkpoint: 128 * MiB })).toBe(
      'resuming at 129 MiB of 256 MiB, verified (tail; 1.0 MiB past the last checkpoint matched and is kept)',
    );
    expect(describeTransferEvent({ type: 'transfer/resumed', offset: 128 * MiB, size: 256 * MiB, verified: 'full', checkpoint: 128 * MiB })).toBe(
      'resuming at 128 MiB of 256 MiB, verified (full)',
    );
  });

  it('a transfer an earlier run completed, and a start-over with its reason', () => {
    expect(describeTransferEvent({ type: 'transfer/resumed', offset: 10, size: 10, verified: 'published' })).toBe(
      'already complete (published by an earlier run)',
    );
    expect(describeTransferEvent({ type: 'transfer/restarted', reason: "the source's size changed" })).toBe(
      "starting over: the source's size changed",
    );
  });
});
