#!/usr/bin/env node
/**
 * Local copy against loopback push and pull, for one or more builds, alternating, several rounds.
 *
 *   node packages/file-transfer/bench/loopback-bench.mjs [--rounds N] [--size MiB] [--only local,push,pull,tcp] LABEL=TREE...
 *
 * TREE is a checkout with a build (`pnpm build`); the CLI is run as `node TREE/packages/cli/bin/ckpt.js`.
 * Each build gets its own `ckpt serve` on 127.0.0.1 for the whole run; every round runs, for
 * each build in turn, a local `ckpt copy`, a push to its server and a pull from it, then a raw
 * Node TCP pipe + fdatasync of the same bytes. Every copy goes to a destination deleted just
 * before. Prints per-sample wall time and CPU (user+system of the client, and of the server
 * during the transfer), then medians and push/pull to local ratios. The shared disk and CPUs
 * are noisy: compare medians of the same run, never figures of different runs.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const [value] = args.splice(at, 2).slice(1);
  return value;
};
const rounds = Number(option('--rounds', '5'));
const sizeMiB = Number(option('--size', '1024'));
const only = option('--only', 'local,push,pull,tcp').split(',');
const builds = args.map((arg) => {
  const [label, tree] = arg.split('=');
  if (!label || !tree) throw new Error(`expected LABEL=TREE, got ${arg}`);
  return { label, cli: join(resolve(tree), 'packages/cli/bin/ckpt.js') };
});
if (builds.length === 0) {
  console.error('usage: loopback-bench.mjs [--rounds N] [--size MiB] [--only local,push,pull,tcp] LABEL=TREE...');
  process.exit(2);
}

const work = fs.mkdtempSync(join(tmpdir(), 'ckpt-loopback-'));
const source = join(work, 'source.bin');
{
  const random = fs.openSync('/dev/urandom', 'r');
  const fd = fs.openSync(source, 'w');
  const chunk = Buffer.allocUnsafe(1 << 20);
  for (let i = 0; i < sizeMiB; i++) {
    fs.readSync(random, chunk);
    fs.writeSync(fd, chunk);
  }
  fs.closeSync(fd);
  fs.closeSync(random);
}

const freePort = () =>
  new Promise((done) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
const waitForPort = async (port) => {
  for (;;) {
    const up = await new Promise((done) => {
      const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), done(true)));
      socket.on('error', () => done(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 20));
  }
};
/** CPU seconds (user + system) of a live process, from /proc. */
const cpuOf = (pid) => {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
};
/** Runs a node process to completion; resolves with its wall time (ms) and CPU (s, from getrusage via /usr/bin/time when present). */
function run(argv) {
  return new Promise((done, fail) => {
    const timed = fs.existsSync('/usr/bin/time');
    const started = performance.now();
    const child = timed ? spawn('/usr/bin/time', ['-f', '@cpu %U %S', process.execPath, ...argv]) : spawn(process.execPath, argv);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    child.on('exit', (code) => {
      const ms = performance.now() - started;
      const cpu = /@cpu ([\d.]+) ([\d.]+)/.exec(stderr);
      if (code !== 0) fail(new Error(`${argv.join(' ')} exited ${code}: ${stderr}`));
      else done({ ms, cpu: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN });
    });
  });
}

const TCP_RECEIVER = `import * as net from 'node:net'; import * as fs from 'node:fs'; const out = process.argv[1];
const server = net.createServer((socket) => { const file = fs.createWriteStream(out, { highWaterMark: 1 << 20 }); socket.pipe(file);
  file.on('finish', () => { const fd = fs.openSync(out, 'r+'); fs.fdatasyncSync(fd); fs.closeSync(fd); server.close(); }); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
const TCP_SENDER = `import * as net from 'node:net'; import * as fs from 'node:fs'; const [file, port] = [process.argv[1], Number(process.argv[2])];
const socket = net.connect(port, '127.0.0.1', () => fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(socket)); socket.on('close', () => process.exit(0));`;
async function rawTcp() {
  const out = join(work, 'tcp.bin');
  fs.rmSync(out, { force: true });
  const started = performance.now();
  const receiver = spawn(process.execPath, ['--input-type=module', '-e', TCP_RECEIVER, out], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((done) => receiver.stdout.once('data', (d) => done(String(d).trim())));
  const finished = new Promise((done) => receiver.on('exit', done));
  await run(['--input-type=module', '-e', TCP_SENDER, source, port]);
  await finished;
  return { ms: performance.now() - started, cpu: NaN };
}

const samples = new Map();
const record = (key, sample) => {
  if (!samples.has(key)) samples.set(key, []);
  samples.get(key).push(sample);
  const server = sample.serverCpu === undefined ? '' : ` server ${sample.serverCpu.toFixed(2)} s`;
  const client = Number.isNaN(sample.cpu) ? '' : `  client CPU ${sample.cpu.toFixed(2)} s`;
  console.error(`${key.padEnd(16)} ${Math.round(sample.ms)} ms${client}${server}`);
};

try {
  for (const build of builds) {
    build.port = await freePort();
    build.root = join(work, `root-${build.label}`);
    fs.mkdirSync(build.root);
    fs.linkSync(source, join(build.root, 'pull-source.bin'));
    build.netmap = join(work, `netmap-${build.label}.yaml`);
    fs.writeFileSync(
      build.netmap,
      `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "bench-a" }\n  beta: { address: 127.0.0.1:${build.port}, secret: "bench-b" }\n`,
    );
    build.server = spawn(
      process.execPath,
      [build.cli, 'serve', '--root', build.root, '--listen', `127.0.0.1:${build.port}`, '--name', 'beta', '--netmap', build.netmap],
      { stdio: 'ignore' },
    );
    await waitForPort(build.port);
  }
  for (let round = 0; round < rounds; round++) {
    for (const build of builds) {
      const remote = ['--netmap', build.netmap, '--node', 'alpha'];
      if (only.includes('local')) {
        const destination = join(work, 'local.bin');
        fs.rmSync(destination, { force: true });
        record(`${build.label} local`, await run([build.cli, 'copy', source, destination]));
      }
      if (only.includes('push')) {
        fs.rmSync(join(build.root, 'pushed.bin'), { force: true });
        const before = cpuOf(build.server.pid);
        const sample = await run([build.cli, 'copy', source, 'ckpt://beta/pushed.bin', ...remote]);
        record(`${build.label} push`, { ...sample, serverCpu: cpuOf(build.server.pid) - before });
      }
      if (only.includes('pull')) {
        const destination = join(work, 'pulled.bin');
        fs.rmSync(destination, { force: true });
        const before = cpuOf(build.server.pid);
        const sample = await run([build.cli, 'copy', 'ckpt://beta/pull-source.bin', destination, ...remote]);
        record(`${build.label} pull`, { ...sample, serverCpu: cpuOf(build.server.pid) - before });
      }
    }
    if (only.includes('tcp')) record('raw TCP pipe', await rawTcp());
  }
} finally {
  for (const build of builds) build.server?.kill('SIGTERM');
  await Promise.all(
    builds.map((build) => build.server && new Promise((done) => (build.server.exitCode !== null ? done() : build.server.on('exit', done)))),
  );
  fs.rmSync(work, { recursive: true, force: true });
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
console.log(`| ${sizeMiB} MiB, ${rounds} rounds | median | MiB/s | samples (ms) |`);
console.log('| --- | --- | --- | --- |');
for (const [key, list] of samples) {
  const ms = median(list.map((s) => s.ms));
  console.log(`| ${key} | ${(ms / 1000).toFixed(2)} s | ${Math.round(sizeMiB / (ms / 1000))} | ${list.map((s) => Math.round(s.ms)).join(' ')} |`);
}
for (const build of builds) {
  const local = samples.get(`${build.label} local`);
  if (!local) continue;
  for (const kind of ['push', 'pull']) {
    const list = samples.get(`${build.label} ${kind}`);
    if (list) console.log(`${build.label}: ${kind} / local time ${(median(list.map((s) => s.ms)) / median(local.map((s) => s.ms))).toFixed(2)}×`);
  }
}
