// The worker of copy-loops.mjs: SHA-256 of the shared buffer slots it is told about, in order.
import { parentPort, workerData } from 'node:worker_threads';
import { createHash } from 'node:crypto';
const slots = workerData.slots.map((sab) => new Uint8Array(sab));
const h = createHash('sha256');
parentPort.on('message', (m) => {
  if (m.end) {
    parentPort.postMessage({ digest: h.digest('hex') });
    return;
  }
  h.update(slots[m.slot].subarray(0, m.length));
  parentPort.postMessage({ done: m.slot });
});
