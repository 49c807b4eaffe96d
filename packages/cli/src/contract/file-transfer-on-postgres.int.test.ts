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
 * The transfers and the runner come from `@ckpt/file-transfer/test-support`, as in the
 * receiver's own contract test.
 */
import { CONTRACT_DIR, receiverContractRunner, transferSpecArbitrary, type TransferSpec } from '@ckpt/file-transfer/test-support';
import { connectStore } from '@ckpt/postgres';
import { SimulatedStorage } from '@ckpt/testkit';
import { postgresStoreHarness } from '@ckpt/testkit/postgres';
import { describeOnPostgres, describeRunnerStoreContract } from '@ckpt/testkit/vitest';

describeOnPostgres('runner store contract: file-transfer receiver on PostgreSQL', (cluster) => {
  describeRunnerStoreContract<TransferSpec>({
    name: 'file-transfer receiver on PostgreSQL',
    runner: receiverContractRunner,
    jobs: transferSpecArbitrary,
    store: postgresStoreHarness({ cluster, connectStore, label: 'ft_contract' }),
    storage: async () => {
      const disk = new SimulatedStorage();
      await disk.mkdir(CONTRACT_DIR);
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
});
