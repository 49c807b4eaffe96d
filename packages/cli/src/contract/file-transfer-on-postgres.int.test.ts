/**
 * The runner contract at the store boundary (`describeRunnerStoreContract`), run by the
 * file-transfer receiver against the PostgreSQL store on a real server: random sizes, checkpoint
 * intervals and chunkings; the process dies at any call through the store port, the store crashes
 * there (its sessions killed, or every fourth time the server stopped with `pg_ctl stop -m
 * immediate`), and a fresh engine on a fresh store handle resumes the copy. The transfer's one
 * effect, publishing the destination, happens once (or again only when a crash caught it in
 * flight); what was acknowledged is found again.
 *
 * The partial file and the destination live on a simulated disk shared by the lives of a run: a
 * store crash kills the process, not the machine, so that disk keeps every write (a dead life
 * writes nothing more). Here, in the CLI package, because it is where runners meet store
 * adapters: biome.json forbids a runner to import a store adapter and a store adapter a runner.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { CkptEvent } from '@ckpt/core';
import {
  ChainHasher,
  receiveRunner,
  type ChainPosition,
  type ReceiveJob,
  type SourceInfo,
  type SourcePort,
  type SourceStream,
  type VerifyMode,
} from '@ckpt/file-transfer/internal';
import { connectStore } from '@ckpt/postgres';
import { SimulatedStorage } from '@ckpt/testkit';
import { PG_SKIP_NOTE, PgCluster, pgSkipped, postgresStoreHarness } from '@ckpt/testkit/postgres';
import { describeRunnerStoreContract } from '@ckpt/testkit/vitest';
import fc from 'fast-check';
import { map } from 'rxjs';
import { afterAll, beforeAll, describe, it } from 'vitest';

const KiB = 1024;
const DIR = '/data';
const DESTINATION = `${DIR}/out.bin`;

/** One transfer as the contract's job: the bytes, the interval and how the sender chunks them. */
interface TransferSpec {
  readonly data: Uint8Array;
  readonly interval: number;
  readonly chunkBytes: number;
  readonly verify: VerifyMode;
}

/** A sender holding its bytes in memory that hashes what it sends on its own, as a peer over the wire does. */
class MemorySource implements SourcePort {
  constructor(
    private readonly data: Uint8Array,
    private readonly chunkBytes: number,
  ) {}

  async describe(): Promise<SourceInfo> {
    const size = this.data.length;
    return { size, fingerprint: { size, mtimeMs: 0, ino: '1', sample: createHash('sha256').update(this.data).digest('hex') } };
  }

  async hashRange(from: ChainPosition, to: number, interval: number): Promise<string | undefined> {
    if (to > this.data.length) return undefined;
    const hasher = new ChainHasher(from.offset, from.chain, interval);
    hasher.update(this.data.subarray(from.offset, to));
    return hasher.finish().chain;
  }

  async stream(from: ChainPosition, interval: number, at = from.offset): Promise<SourceStream> {
    const { data, chunkBytes } = this;
    const hasher = new ChainHasher(from.offset, from.chain, interval);
    hasher.update(data.subarray(from.offset, at));
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let offset = at; offset < data.length; offset += chunkBytes) {
        const chunk = data.slice(offset, Math.min(data.length, offset + chunkBytes));
        hasher.update(chunk);
        yield chunk;
      }
    }
    return { chunks: chunks(), held: 2, digest: async () => hasher.finish().chain };
  }

  async close(): Promise<void> {}
}

/** `size` random bytes, printed by their size (a counterexample stays readable). */
function randomData(size: number): Uint8Array {
  return Object.assign(new Uint8Array(randomBytes(size)), { [fc.toStringMethod]: () => `<${size} random bytes>` });
}

const specArbitrary: fc.Arbitrary<TransferSpec> = fc.record({
  data: fc.oneof(fc.constantFrom(0, 1, 4 * KiB, 16 * KiB), fc.nat({ max: 40 * KiB })).map(randomData),
  interval: fc.constantFrom(0, 1 * KiB, 4 * KiB, 16 * KiB),
  chunkBytes: fc.constantFrom(512, 4 * KiB, 10_000),
  verify: fc.constantFrom<VerifyMode>('tail', 'full'),
});

const jobOf = (spec: TransferSpec): ReceiveJob => ({
  destination: DESTINATION,
  source: new MemorySource(spec.data, spec.chunkBytes),
  interval: spec.interval,
  verify: spec.verify,
});

let cluster: PgCluster | undefined;
beforeAll(async () => {
  if (!pgSkipped) cluster = await PgCluster.start();
}, 90_000);
afterAll(async () => {
  await cluster?.destroy();
}, 60_000);

if (pgSkipped) {
  describe('runner store contract: file-transfer receiver on PostgreSQL', () => {
    it.skipIf(pgSkipped)(`[skipped: ${PG_SKIP_NOTE}]`, () => undefined);
  });
} else {
  describeRunnerStoreContract<TransferSpec>({
    name: 'file-transfer receiver on PostgreSQL',
    // The transfer's one effect is publishing the destination; a resumed attempt that finds it
    // published (a crash before the run ended) says so again without redoing it.
    runner: (effects) => ({
      kind: receiveRunner.kind,
      reducers: receiveRunner.reducers!,
      identify: (spec) => receiveRunner.identify(jobOf(spec)),
      run: (spec, context) =>
        receiveRunner.run(jobOf(spec), context).pipe(
          map((emission) => {
            // The runner emits its records as `{ record }` messages (defineRunner).
            const record = (emission as { readonly record?: CkptEvent | readonly CkptEvent[] }).record;
            const events: readonly CkptEvent[] = record === undefined ? [] : ([] as CkptEvent[]).concat(record);
            if (events.some((event) => event.type === 'transfer/published')) effects.ran('publish');
            return emission;
          }),
        ),
    }),
    jobs: specArbitrary,
    store: postgresStoreHarness({ cluster: () => cluster!, connectStore, label: 'ft_contract' }),
    storage: async () => {
      const disk = new SimulatedStorage();
      await disk.mkdir(DIR);
      return disk;
    },
    // A life makes about 8 store calls; a run has up to 3 crashes.
    numRuns: 20,
    maxCrashes: 3,
    maxCrashAt: 10,
    // A failure is reported at once with its seed: shrinking against the server would outlast the timeout.
    shrink: false,
    timeoutMs: 90_000,
  });
}
