// Copy-loop variants behind bench/FINDINGS.md (goal 6), alternating, each destination durable:
// cp + sync, the receiver's old loop (await each write), a ring of buffers with writes behind,
// the same with SHA-256 in a worker thread, and the loop without hashing.
//   node bench/experiments/copy-loops.mjs ROUNDS SOURCE   (SOURCE: a large, page-cached file;
//   the copy goes to SOURCE.copy on the same file system)
import * as fs from 'node:fs';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
const read = promisify(fs.read),
  write = promisify(fs.write),
  fdatasync = promisify(fs.fdatasync),
  open = promisify(fs.open),
  close = promisify(fs.close);
const SRC = process.argv[3] ?? (console.error('usage: copy-loops.mjs ROUNDS SOURCE'), process.exit(2)),
  DST = `${SRC}.copy`;
const SIZE = fs.statSync(SRC).size,
  MiB = 1 << 20,
  INTERVAL = 8 * MiB;
async function writeAll(fd, buf, off) {
  let w = 0;
  while (w < buf.length) {
    const { bytesWritten } = await write(fd, buf, w, buf.length - w, off + w);
    w += bytesWritten;
  }
}
async function pipelined({ chunk = MiB, syncEvery = INTERVAL, maxPending = 2, hash = true }) {
  const src = await open(SRC, 'r'),
    dst = await open(DST, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  const bufs = [Buffer.allocUnsafe(chunk), Buffer.allocUnsafe(chunk)];
  let which = 0;
  const h = createHash('sha256');
  let syncs = Promise.resolve(),
    pending = 0;
  let next = read(src, bufs[0], 0, chunk, 0);
  for (let off = 0; off < SIZE; off += chunk) {
    const { bytesRead } = await next;
    const buf = bufs[which].subarray(0, bytesRead);
    which ^= 1;
    next = off + chunk < SIZE ? read(src, bufs[which], 0, chunk, off + chunk) : null;
    const w = writeAll(dst, buf, off);
    if (hash) h.update(buf);
    await w;
    if (syncEvery && (off + chunk) % syncEvery === 0) {
      pending++;
      syncs = syncs
        .then(() => fdatasync(dst))
        .then(() => {
          pending--;
        });
    }
    if (pending > maxPending) await syncs;
  }
  await syncs;
  await fdatasync(dst);
  h.digest();
  await close(src);
  await close(dst);
}
// A ring of buffers: reads ahead, writes behind, hashing in between, without awaiting each write.
async function ring({ chunk = MiB, slots = 4, syncEvery = INTERVAL, maxPending = 2 }) {
  const src = await open(SRC, 'r'),
    dst = await open(DST, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  const bufs = Array.from({ length: slots }, () => Buffer.allocUnsafe(chunk));
  const writes = new Array(slots).fill(null);
  const reads = new Array(slots).fill(null);
  const h = createHash('sha256');
  let syncs = Promise.resolve(),
    pending = 0;
  const n = Math.ceil(SIZE / chunk);
  const issueRead = (i) => {
    const slot = i % slots;
    reads[slot] = (writes[slot] ?? Promise.resolve()).then(() => read(src, bufs[slot], 0, Math.min(chunk, SIZE - i * chunk), i * chunk));
  };
  for (let i = 0; i < Math.min(slots - 1, n); i++) issueRead(i);
  for (let i = 0; i < n; i++) {
    const slot = i % slots;
    const { bytesRead } = await reads[slot];
    const buf = bufs[slot].subarray(0, bytesRead);
    const off = i * chunk;
    writes[slot] = writeAll(dst, buf, off);
    h.update(buf);
    if (i + slots - 1 < n) issueRead(i + slots - 1);
    if (syncEvery && (off + chunk) % syncEvery === 0) {
      const upto = writes.slice();
      pending++;
      syncs = syncs
        .then(() => Promise.all(upto))
        .then(() => fdatasync(dst))
        .then(() => {
          pending--;
        });
    }
    if (pending > maxPending) await syncs;
  }
  await Promise.all(writes);
  await syncs;
  await fdatasync(dst);
  h.digest();
  await close(src);
  await close(dst);
}
async function workerRing({ chunk = MiB, slots = 4, syncEvery = INTERVAL, maxPending = 2 }) {
  const sabs = Array.from({ length: slots }, () => new SharedArrayBuffer(chunk));
  const bufs = sabs.map((s) => Buffer.from(s));
  const worker = new Worker(new URL('./copy-loops-hash-worker.mjs', import.meta.url), { workerData: { slots: sabs } });
  const hashed = new Array(slots).fill(null);
  const resolvers = new Array(slots);
  let digestResolve;
  const digest = new Promise((r) => (digestResolve = r));
  worker.on('message', (m) => {
    if (m.digest) digestResolve(m.digest);
    else resolvers[m.done]();
  });
  const src = await open(SRC, 'r'),
    dst = await open(DST, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  const writes = new Array(slots).fill(null),
    reads = new Array(slots).fill(null);
  let syncs = Promise.resolve(),
    pending = 0;
  const n = Math.ceil(SIZE / chunk);
  const free = (slot) => Promise.all([writes[slot], hashed[slot]]);
  const issueRead = (i) => {
    const slot = i % slots;
    reads[slot] = free(slot).then(() => read(src, bufs[slot], 0, Math.min(chunk, SIZE - i * chunk), i * chunk));
  };
  for (let i = 0; i < Math.min(slots - 1, n); i++) issueRead(i);
  for (let i = 0; i < n; i++) {
    const slot = i % slots;
    const { bytesRead } = await reads[slot];
    const off = i * chunk;
    writes[slot] = writeAll(dst, bufs[slot].subarray(0, bytesRead), off);
    hashed[slot] = new Promise((r) => (resolvers[slot] = r));
    worker.postMessage({ slot, length: bytesRead });
    if (i + slots - 1 < n) issueRead(i + slots - 1);
    if (syncEvery && (off + chunk) % syncEvery === 0) {
      const upto = writes.slice();
      pending++;
      syncs = syncs
        .then(() => Promise.all(upto))
        .then(() => fdatasync(dst))
        .then(() => {
          pending--;
        });
    }
    if (pending > maxPending) await syncs;
  }
  await Promise.all(writes);
  await Promise.all(hashed);
  worker.postMessage({ end: true });
  await digest;
  await syncs;
  await fdatasync(dst);
  await close(src);
  await close(dst);
  await worker.terminate();
}
const variants = {
  'cp+sync': async () => {
    spawnSync('sh', ['-c', `cp ${SRC} ${DST} && sync ${DST}`]);
  },
  'pipe-1M-8M': () => pipelined({}),
  'ring-4x1M-8M': () => ring({}),
  'worker-4x1M-8M': () => workerRing({}),
  'worker-8x1M-8M': () => workerRing({ slots: 8 }),
  'pipe-nohash-8M': () => pipelined({ hash: false }),
  'hash-only': async () => {
    const b = Buffer.alloc(MiB, 1);
    const h = createHash('sha256');
    for (let i = 0; i < SIZE / MiB; i++) h.update(b);
    h.digest();
  },
};
const rounds = Number(process.argv[2] ?? 3),
  times = {};
for (let r = 0; r < rounds; r++)
  for (const [name, fn] of Object.entries(variants)) {
    try {
      fs.unlinkSync(DST);
    } catch {}
    spawnSync('sync');
    const t = performance.now();
    await fn();
    (times[name] ??= []).push(Math.round(performance.now() - t));
  }
for (const [k, v] of Object.entries(times)) {
  const s = [...v].sort((a, b) => a - b);
  console.log(k.padEnd(16), 'median', s[Math.floor(s.length / 2)], 'ms', JSON.stringify(v));
}
