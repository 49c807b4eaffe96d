import { describe, expect, it } from 'vitest';
import { InterruptedError, InvalidInputError } from '@ckpt/core';
import { TransferError } from '../errors.js';
import { retryDelay, withRetries, type RetryNotice } from './retry-policy.js';

const policy = { shortRetries: 2, shortWaitMs: 5, longRetries: 1, longWaitMs: 20, jitter: 0 };

describe('withRetries', () => {
  it('tries the short retries first, then the long ones, then fails with the last error', async () => {
    const notices: RetryNotice[] = [];
    let attempts = 0;
    await expect(
      withRetries(
        async () => {
          attempts++;
          throw new TransferError(`network down ${attempts}`);
        },
        policy,
        { onRetry: (n) => notices.push(n) },
      ),
    ).rejects.toThrow('network down 4');
    expect(attempts).toBe(4);
    expect(notices.map((n) => [n.retry, n.phase, n.waitMs])).toEqual([
      [1, 'short', 5],
      [2, 'short', 5],
      [3, 'long', 20],
    ]);
  });

  it('passes the retry to the next attempt and returns its result', async () => {
    const seen: (RetryNotice | undefined)[] = [];
    const result = await withRetries(async (previous) => {
      seen.push(previous);
      if (seen.length < 2) throw new TransferError('connection reset');
      return 'ok';
    }, policy);
    expect(result).toBe('ok');
    expect(seen[1]).toMatchObject({ retry: 1, error: 'connection reset' });
  });

  it.each([
    ['a refusal', new InvalidInputError('bad argument')],
    ['an interruption', new InterruptedError()],
  ])('never retries %s', async (_name, error) => {
    let attempts = 0;
    await expect(withRetries(async () => (attempts++, Promise.reject(error)), policy)).rejects.toBe(error);
    expect(attempts).toBe(1);
  });

  it('0 retries disables automatic retry', async () => {
    let attempts = 0;
    await expect(
      withRetries(async () => (attempts++, Promise.reject(new TransferError('x'))), { ...policy, shortRetries: 0, longRetries: 0 }),
    ).rejects.toThrow('x');
    expect(attempts).toBe(1);
  });

  it('an abort during the wait stops with InterruptedError', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    await expect(
      withRetries(async () => Promise.reject(new TransferError('x')), { ...policy, shortWaitMs: 10_000 }, { signal: controller.signal }),
    ).rejects.toBeInstanceOf(InterruptedError);
  });

  it('jitter stays within its fraction of the wait', () => {
    for (const r of [0, 0.5, 0.999]) {
      const { waitMs } = retryDelay({ ...policy, shortWaitMs: 1000, jitter: 0.2 }, 1, () => r)!;
      expect(waitMs).toBeGreaterThanOrEqual(800);
      expect(waitMs).toBeLessThanOrEqual(1200);
    }
    expect(retryDelay(policy, 4)).toBeUndefined();
  });
});
