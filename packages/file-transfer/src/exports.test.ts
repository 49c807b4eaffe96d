import { describe, expect, it } from 'vitest';
import * as publicApi from '@ckpt/file-transfer';
import * as internalApi from '@ckpt/file-transfer/internal';

describe('the package entries', () => {
  it('exports only what an embedder needs from @ckpt/file-transfer', () => {
    expect(Object.keys(publicApi).sort()).toEqual(
      [
        'AuthenticationError',
        'DEFAULT_CHECKPOINT_INTERVAL',
        'DEFAULT_HASH',
        'HASH_ALGORITHMS',
        'HashUnavailableError',
        'DEFAULT_RETRY_POLICY',
        'NodeServer',
        'PathRefusedError',
        'TRANSFER_KIND',
        'TransferError',
        'checkpointPathOf',
        'copyFile',
        'copyTree',
        'isRetryable',
        'loadNetmap',
        'parseAddress',
        'partialPathOf',
        'transferCompanions',
      ].sort(),
    );
  });

  it('gives the CLI and the tests the building blocks through @ckpt/file-transfer/internal, a superset of the public entry', () => {
    // biome-ignore lint/performance/noDynamicNamespaceImportAccess: the test walks every export by name
    for (const name of Object.keys(publicApi)) expect(internalApi).toHaveProperty(name, publicApi[name as keyof typeof publicApi]);
    for (const name of ['FramedConnection', 'FrameDecoder', 'authenticateClient', 'receiveRunner', 'receiveFile', 'transferReducer', 'ChainHasher']) {
      expect(internalApi).toHaveProperty(name);
      expect(publicApi).not.toHaveProperty(name);
    }
    // The chain hash's loader and helpers stay inside the package: nothing outside it uses them.
    for (const name of ['formatDigest', 'LEGACY_HASH', 'loadChainAlgorithm', 'SHA256_CHAIN', 'loadXxh3'])
      expect(internalApi).not.toHaveProperty(name);
  });
});
