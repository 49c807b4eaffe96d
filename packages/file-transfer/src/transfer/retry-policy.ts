import { defer, lastValueFrom, Observable, retry, throwError } from 'rxjs';
import { InterruptedError } from '@ckpt/core';
import { isRetryable } from '../errors.js';

/**
 * Connect:Direct's session retries: short-term attempts (with their wait) first, then
 * long-term ones. 0 retries disables automatic retry. Each wait gets ±`jitter` of itself so
 * many clients retrying one server do not arrive in lockstep.
 */
export interface RetryPolicy {
  readonly shortRetries: number;
  readonly shortWaitMs: number;
  readonly longRetries: number;
  readonly longWaitMs: number;
  /** Fraction of the wait added or removed at random (default 0.2). */
  readonly jitter?: number;
}

/** Defaults: 3 short retries 2 s apart; long-term retries are opt-in (`--long-retries`). */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { shortRetries: 3, shortWaitMs: 2000, longRetries: 0, longWaitMs: 5 * 60_000, jitter: 0.2 };

/** A retry about to happen. */
export interface RetryNotice {
  /** 1 for the first retry. */
  readonly retry: number;
  readonly waitMs: number;
  /** Why the previous attempt failed. */
  readonly error: string;
  readonly phase: 'short' | 'long';
}

/** The wait before retry `n` (1-based), with jitter; undefined once the policy is exhausted. */
export function retryDelay(
  policy: RetryPolicy,
  n: number,
  random: () => number = Math.random,
): { waitMs: number; phase: 'short' | 'long' } | undefined {
  const phase = n <= policy.shortRetries ? 'short' : n <= policy.shortRetries + policy.longRetries ? 'long' : undefined;
  if (phase === undefined) return undefined;
  const base = phase === 'short' ? policy.shortWaitMs : policy.longWaitMs;
  const jitter = policy.jitter ?? 0.2;
  return { waitMs: Math.max(0, Math.round(base * (1 + jitter * (2 * random() - 1)))), phase };
}

function wait(ms: number, signal: AbortSignal | undefined): Observable<void> {
  return new Observable<void>((subscriber) => {
    if (signal?.aborted) return subscriber.error(new InterruptedError('the copy was interrupted while waiting to retry'));
    const onAbort = () => subscriber.error(new InterruptedError('the copy was interrupted while waiting to retry'));
    const timer = setTimeout(() => {
      subscriber.next();
      subscriber.complete();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    return () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
  });
}

/**
 * Runs `attempt` and retries it per `policy` while its error may heal ({@link isRetryable});
 * a refusal (bad argument, auth, path outside the root, lock) fails at once.
 */
export function withRetries<T>(
  attempt: (previous: RetryNotice | undefined) => Promise<T>,
  policy: RetryPolicy,
  options: { readonly signal?: AbortSignal; readonly onRetry?: (notice: RetryNotice) => void } = {},
): Promise<T> {
  let previous: RetryNotice | undefined;
  return lastValueFrom(
    defer(() => attempt(previous)).pipe(
      retry({
        delay: (error: unknown, n: number) => {
          const next = retryDelay(policy, n);
          if (next === undefined || !isRetryable(error) || options.signal?.aborted) return throwError(() => error);
          previous = {
            retry: n,
            waitMs: next.waitMs,
            error: error instanceof Error ? error.message.split('\n')[0]! : String(error),
            phase: next.phase,
          };
          options.onRetry?.(previous);
          return wait(next.waitMs, options.signal);
        },
      }),
    ),
  );
}
