// The chain-hash candidates behind bench/FINDINGS.md (issue 15, copies): throughput of each over
// the same 64 MiB in 1 MiB updates (the copy loop's chunk), alternating rounds, plus the cost of
// loading each (first import + first hasher) measured in a fresh process.
//   npm install --prefix /tmp/hc hash-wasm@4.13.0 @node-rs/xxhash@1.7.8 xxhash-wasm@1.1.0 blake3-wasm@2.1.5
//   node bench/experiments/hash-candidates.mjs [ROUNDS] [--from /tmp/hc]
// Candidates that are not installed are reported as such. (blake3-wasm 3.0.0 does not install:
// its dependency @c4312/blake3-internal@2.1.7 is not in the registry.)
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
const fromAt = args.indexOf('--from');
const from = fromAt >= 0 ? args[fromAt + 1] : process.cwd();
const ROUNDS = Number(args.find((a, i) => /^\d+$/.test(a) && args[i - 1] !== '--from') ?? 5);
const require = createRequire(join(from, 'package.json'));
const MiB = 1 << 20;
const data = Buffer.allocUnsafe(64 * MiB);
for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i);

/** Resolves `name` from `from` and imports it (ESM entry when it has one). */
async function load(name) {
  return import(pathToFileURL(require.resolve(name)).href);
}

// Each candidate: a streaming hasher over 1 MiB updates, a digest at the end (the chain's shape).
const candidates = {
  'sha256 (node:crypto)': async () => () => {
    const h = createHash('sha256');
    for (let o = 0; o < data.length; o += MiB) h.update(data.subarray(o, o + MiB));
    return h.digest('hex');
  },
  'xxh3-128 (hash-wasm)': async () => {
    const { createXXHash128 } = await load('hash-wasm');
    const h = await createXXHash128();
    return () => {
      h.init();
      for (let o = 0; o < data.length; o += MiB) h.update(data.subarray(o, o + MiB));
      return h.digest('hex');
    };
  },
  'blake3 (hash-wasm)': async () => {
    const { createBLAKE3 } = await load('hash-wasm');
    const h = await createBLAKE3();
    return () => {
      h.init();
      for (let o = 0; o < data.length; o += MiB) h.update(data.subarray(o, o + MiB));
      return h.digest('hex');
    };
  },
  'xxh3-64 (hash-wasm)': async () => {
    const { createXXHash3 } = await load('hash-wasm');
    const h = await createXXHash3();
    return () => {
      h.init();
      for (let o = 0; o < data.length; o += MiB) h.update(data.subarray(o, o + MiB));
      return h.digest('hex');
    };
  },
  'xxh3-64 streaming (@node-rs/xxhash, native)': async () => {
    const { xxh3 } = await load('@node-rs/xxhash');
    return () => {
      const h = xxh3.Xxh3.withSeed(0n);
      for (let o = 0; o < data.length; o += MiB) h.update(data.subarray(o, o + MiB));
      return h.digest().toString(16);
    };
  },
  'xxh3-128 one-shot per 1 MiB (@node-rs/xxhash; no streaming 128)': async () => {
    const { xxh3 } = await load('@node-rs/xxhash');
    return () => {
      let d = 0n;
      for (let o = 0; o < data.length; o += MiB) d ^= xxh3.xxh128(data.subarray(o, o + MiB));
      return d.toString(16);
    };
  },
  'xxh64 (xxhash-wasm)': async () => {
    const { default: xxhash } = await load('xxhash-wasm');
    const api = await xxhash();
    return () => {
      const h = api.create64();
      for (let o = 0; o < data.length; o += MiB) h.update(data.subarray(o, o + MiB));
      return h.digest().toString(16);
    };
  },
  'blake3 (blake3-wasm 2.1.5)': async () => {
    const { createHash: create } = require('blake3-wasm');
    return () => {
      const h = create();
      for (let o = 0; o < data.length; o += MiB) h.update(data.subarray(o, o + MiB));
      return h.digest('hex');
    };
  },
};

/** Load cost: a fresh Node that imports the candidate and hashes 1 byte, against `node -e 0`. */
function loadCost(name) {
  const snippets = {
    'xxh3-128 (hash-wasm)': `const m = await import(${JSON.stringify(pathToFileURL(require.resolve('hash-wasm')).href)}); const h = await m.createXXHash128(); h.update('x'); h.digest();`,
    'blake3 (hash-wasm)': `const m = await import(${JSON.stringify(pathToFileURL(require.resolve('hash-wasm')).href)}); const h = await m.createBLAKE3(); h.update('x'); h.digest();`,
  };
  const code = snippets[name];
  if (!code) return undefined;
  const time = (script) => {
    const t = process.hrtime.bigint();
    spawnSync(process.execPath, ['--input-type=module', '-e', script]);
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  const with_ = [];
  const without = [];
  for (let i = 0; i < 7; i++) {
    without.push(time('0'));
    with_.push(time(code));
  }
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  return median(with_) - median(without);
}

const runs = {};
for (const [name, make] of Object.entries(candidates)) {
  try {
    runs[name] = await make();
    runs[name](); // warm-up
  } catch (error) {
    console.log(`${name}: not available (${String(error.message ?? error).split('\n')[0]})`);
  }
}
const names = Object.keys(runs);
const samples = Object.fromEntries(names.map((n) => [n, []]));
for (let round = 0; round < ROUNDS; round++) {
  // Rotated order each round, so a burst of load falls on every candidate alike.
  for (let i = 0; i < names.length; i++) {
    const name = names[(i + round) % names.length];
    const t = process.hrtime.bigint();
    runs[name]();
    samples[name].push(Number(process.hrtime.bigint() - t) / 1e6);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const base = samples['sha256 (node:crypto)'];
console.log(`64 MiB in 1 MiB updates, ${ROUNDS} alternating rounds; load ${(await import('node:os')).loadavg()[0].toFixed(1)}`);
console.log('| candidate | median ms | GiB/s | sha256 time / its time (paired median) | load cost ms |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const name of names) {
  const ms = median(samples[name]);
  const paired = median(samples[name].map((v, i) => base[i] / v));
  const cost = loadCost(name);
  console.log(
    `| ${name} | ${ms.toFixed(1)} | ${(64 / 1024 / (ms / 1000)).toFixed(2)} | ${paired.toFixed(2)}× | ${cost === undefined ? '' : cost.toFixed(1)} |`,
  );
}
