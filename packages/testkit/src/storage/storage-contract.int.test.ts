import { NodeStorage } from '@ckpt/core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedStorage } from './simulated-storage.js';
import { describeStorageContract } from './storage-contract.js';

describeStorageContract('NodeStorage', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ckpt-storage-'));
  return { storage: new NodeStorage(), root, cleanup: async () => rmSync(root, { recursive: true, force: true }) };
});

describeStorageContract('SimulatedStorage', async () => {
  const storage = new SimulatedStorage();
  await storage.mkdir('/root');
  return { storage, root: '/root' };
});
