/**
 * Random transfers for the receiver's crash tests and the runner contract: random sizes,
 * checkpoint intervals, chunkings and verify modes, sent by a {@link MemorySource} to a fixed
 * destination. Shared by this package's crash tests and the CLI's contract tests on PostgreSQL
 * (which may not live here: a runner never imports a store adapter), through
 * `@ckpt/file-transfer/test-support`; never loaded by the CLI itself.
 */
import { randomBytes } from 'node:crypto';
import type { CkptEvent, Runner } from '@ckpt/core';
import fc from 'fast-check';
import { map } from 'rxjs';
import { receiveRunner, type ReceiveJob, type VerifyMode } from '../transfer/receiver.js';
import { MemorySource } from './memory-source.js';

const KiB = 1024;

/** The folder the contract's destination is in (create it on the disk a run uses). */
export const CONTRACT_DIR = '/data';
/** The contract's destination file. */
export const CONTRACT_DESTINATION = `${CONTRACT_DIR}/out.bin`;

/** One transfer as the contract's job: the bytes, the interval and how the sender chunks them. */
export interface TransferSpec {
  readonly data: Uint8Array;
  readonly interval: number;
  readonly chunkBytes: number;
  readonly verify: VerifyMode;
}

/** `size` random bytes, printed by their size (a counterexample stays readable). */
export function randomData(size: number): Uint8Array {
  return Object.assign(new Uint8Array(randomBytes(size)), { [fc.toStringMethod]: () => `<${size} random bytes>` });
}

/** Random transfers of up to 40 KiB (empty, one byte and whole intervals included). */
export const transferSpecArbitrary: fc.Arbitrary<TransferSpec> = fc.record({
  data: fc.oneof(fc.constantFrom(0, 1, 4 * KiB, 16 * KiB), fc.nat({ max: 40 * KiB })).map(randomData),
  interval: fc.constantFrom(0, 1 * KiB, 4 * KiB, 16 * KiB),
  chunkBytes: fc.constantFrom(512, 4 * KiB, 10_000),
  verify: fc.constantFrom<VerifyMode>('tail', 'full'),
});

/** The receive job of `spec` to {@link CONTRACT_DESTINATION}; with `diesAt`, the sender goes away at that byte. */
export function transferJobOf(spec: TransferSpec, extra: { readonly diesAt?: number } = {}): ReceiveJob {
  const { diesAt } = extra;
  return {
    destination: CONTRACT_DESTINATION,
    source: new MemorySource(spec.data, { chunkBytes: spec.chunkBytes, ...(diesAt !== undefined && { diesAt }) }),
    interval: spec.interval,
    verify: spec.verify,
  };
}

/**
 * Where a contract's runner reports its effects: the testkit's `EffectRecorder`, restated because this
 * entry is published and @ckpt/testkit is only a devDependency (a type import would need it installed).
 */
export interface EffectSink {
  ran(unit: string): void;
}

/**
 * The receiver as the runner contract's runner, over {@link TransferSpec} jobs. The transfer's
 * one effect is publishing the destination, reported to `effects` as `publish`; a resumed
 * attempt that finds it published (a crash before the run ended) says so again without redoing it.
 */
export function receiverContractRunner(effects: EffectSink): Runner<TransferSpec, unknown> {
  return {
    kind: receiveRunner.kind,
    reducers: receiveRunner.reducers!,
    identify: (spec) => receiveRunner.identify(transferJobOf(spec)),
    run: (spec, context) =>
      receiveRunner.run(transferJobOf(spec), context).pipe(
        map((emission) => {
          // The runner emits its records as `{ record }` messages (defineRunner).
          const record = (emission as { readonly record?: CkptEvent | readonly CkptEvent[] }).record;
          const events: readonly CkptEvent[] = record === undefined ? [] : ([] as CkptEvent[]).concat(record);
          if (events.some((event) => event.type === 'transfer/published')) effects.ran('publish');
          return emission;
        }),
      ),
  };
}
