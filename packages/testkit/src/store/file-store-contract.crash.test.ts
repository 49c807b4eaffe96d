/** The store contract, run against core's FileStore on a simulated disk that loses power. */
import { describeStoreContract } from './store-contract.js';
import { simulatedFileStoreHarness } from './file-store-harness.js';

describeStoreContract('FileStore (simulated disk)', simulatedFileStoreHarness);
