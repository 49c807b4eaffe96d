/**
 * Suite 6 — copy: one large local file copied by `ckpt copy` at several checkpoint intervals,
 * against what users run instead: `cp` + `sync FILE` (the floor of a durable local copy),
 * `rsync --partial --fsync` (the resumable tool people already trust) and a Node stream pipe
 * with fdatasync (what a Node user writes by hand). Every peer makes the destination durable,
 * as ckpt does, or the comparison would flatter them. Loopback node-to-node (`ckpt serve` +
 * `ckpt copy ckpt://...`) is compared with a raw TCP pipe of the same bytes and rsync to an
 * rsync daemon on 127.0.0.1.
 *
 * Drives the CLI per docs/cli.md; while `ckpt copy`/`ckpt serve` are not built, their rows are
 * "not available in this build" and the peers are still measured.
 */
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import { alternate, figure, goal, round } from '../lib/measure.mjs';
import { probeVerb, runProcess } from '../lib/ckpt.mjs';
import { ckptCopy, freshDir, makeSource, MiB, nodePipeMs, probeCopy, shellMs, sizeArg, sizeLabel } from './transfer-shared.mjs';

export const id = 'copy';
export const number = 6;
export const title = 'Copy one large file (local and loopback)';

/** The raw TCP peer's receiver: accepts one connection, writes it to a file, fdatasyncs, exits. */
const TCP_RECEIVER = `
  import * as net from 'node:net'; import * as fs from 'node:fs';
  const out = process.argv[1];
  const server = net.createServer((socket) => {
    const file = fs.createWriteStream(out, { mode: 0o600, highWaterMark: 1 << 20 });
    socket.pipe(file);
    file.on('finish', () => { const fd = fs.openSync(out, 'r+'); fs.fdatasyncSync(fd); fs.closeSync(fd); server.close(); });
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;
const TCP_SENDER = `
  import * as net from 'node:net'; import * as fs from 'node:fs';
  const [file, port] = [process.argv[1], Number(process.argv[2])];
  const socket = net.connect(port, '127.0.0.1', () => fs.createReadStream(file, { highWaterMark: 1 << 20 }).pipe(socket));
  socket.on('close', () => process.exit(0));`;

/** Starts a long-lived process and resolves once `ready(line)` is true for a stdout line. */
function startServer(command, args, { ready, cwd, timeoutMs = 15_000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let buffer = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} did not become ready: ${stderr.trim()}`));
    }, timeoutMs);
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.setEncoding('utf8').on('data', (d) => {
      buffer += d;
      for (const line of buffer.split('\n')) {
        if (ready(line)) {
          clearTimeout(timer);
          resolve({ child, line });
          return;
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited ${code} before it was ready: ${stderr.trim()}`));
    });
  });
}

/** Resolves when 127.0.0.1:`port` accepts connections. */
async function waitForPort(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

export async function run(ctx) {
  const size = ctx.quick ? 8 * MiB : 1024 * MiB;
  const intervals = ctx.quick ? [1 * MiB, 0] : [4 * MiB, 16 * MiB, 64 * MiB, 256 * MiB, 0];
  const rounds = ctx.quick ? 1 : 3;
  const srcDir = freshDir(join(ctx.tmp, 'copy-src'));
  const dstDir = join(ctx.tmp, 'copy-dst');
  const source = makeSource(join(srcDir, 'data.bin'), size);
  const copyProbe = await probeCopy(ctx);
  const rsync = ctx.rsync;
  const intervalLabel = (i) => (i === 0 ? 'off' : sizeLabel(i));
  const throughput = (ms) => size / MiB / (ms / 1000);
  const dst = () => join(freshDir(dstDir), 'data.bin');

  const contestants = [
    ...intervals.map((interval) => ({
      key: `ckpt-${interval}`,
      available: copyProbe.available,
      async run() {
        const destination = dst();
        const { ms, completed } = await ckptCopy(ctx, source, destination, ['--checkpoint-interval', sizeArg(interval)], { cwd: ctx.tmp });
        if (completed.bytes !== size) throw new Error(`ckpt copy reported ${completed.bytes} bytes, expected ${size}`);
        return throughput(ms);
      },
    })),
    { key: 'cp', run: async () => throughput(await shellMs(`cp data.bin '${dst()}' && sync '${join(dstDir, 'data.bin')}'`, srcDir)) },
    { key: 'rsync', available: rsync.available, run: async () => throughput(await shellMs(`rsync --partial --fsync data.bin '${dst()}'`, srcDir)) },
    { key: 'node-pipe', run: async () => throughput(await nodePipeMs(source, dst())) },
  ];
  const samples = await alternate(contestants, { rounds, warmup: ctx.quick ? 0 : 1 });
  const unavailable = (key, label, reason) => ({ key, label, role: 'subject', available: false, reason });
  const local = figure({
    id: 'copy-local',
    label: `local copy of ${sizeLabel(size)}, destination durable`,
    unit: 'MiB/s',
    better: 'higher',
    rows: [
      ...intervals.map((interval) =>
        copyProbe.available
          ? {
              key: `ckpt-${interval}`,
              label: `ckpt copy --checkpoint-interval ${intervalLabel(interval)}`,
              role: 'subject',
              samples: samples[`ckpt-${interval}`],
            }
          : unavailable(`ckpt-${interval}`, `ckpt copy --checkpoint-interval ${intervalLabel(interval)}`, copyProbe.reason),
      ),
      { key: 'cp', label: 'cp + sync FILE', samples: samples.cp },
      rsync.available
        ? { key: 'rsync', label: `rsync --partial --fsync (${rsync.version})`, samples: samples.rsync }
        : { key: 'rsync', label: 'rsync --partial --fsync', available: false, reason: rsync.reason },
      { key: 'node-pipe', label: 'Node stream pipe + fdatasync', samples: samples['node-pipe'] },
    ],
  });

  // Loopback node-to-node.
  const serveProbe = copyProbe.available
    ? await probeVerb(
        ctx.paths,
        'serve',
        [
          '--root',
          freshDir(join(ctx.tmp, 'probe-root')),
          '--listen',
          '127.0.0.1:1',
          '--name',
          'none',
          '--netmap',
          join(ctx.tmp, 'missing-netmap.yaml'),
        ],
        ctx.tmp,
      )
    : { available: false, reason: `not available in this build: the loopback copy needs \`ckpt copy\`, which is not built` };
  const remoteRoot = join(ctx.tmp, 'remote-root');
  const netmapPath = join(ctx.tmp, 'netmap.yaml');
  let serveChild;
  let rsyncDaemon;
  let rsyncPort;
  const remote = { ckpt: [], tcp: [], rsyncd: [] };
  const remoteErrors = {};
  try {
    if (serveProbe.available) {
      const port = await freePort();
      fs.writeFileSync(
        netmapPath,
        `nodes:\n  alpha: { address: 127.0.0.1:1, secret: "bench-secret-alpha" }\n  beta:  { address: 127.0.0.1:${port}, secret: "bench-secret-beta" }\n`,
      );
      freshDir(remoteRoot);
      serveChild = spawn(
        process.execPath,
        [ctx.paths.cliMain, 'serve', '--root', remoteRoot, '--listen', `127.0.0.1:${port}`, '--name', 'beta', '--netmap', netmapPath],
        { stdio: 'ignore' },
      );
      await waitForPort(port);
    }
    if (rsync.available) {
      rsyncPort = await freePort();
      freshDir(join(ctx.tmp, 'rsyncd-root'));
      const conf = join(ctx.tmp, 'rsyncd.conf');
      const uid = process.getuid?.() ?? 0;
      const gid = process.getgid?.() ?? 0;
      fs.writeFileSync(
        conf,
        `pid file = ${join(ctx.tmp, 'rsyncd.pid')}\nuse chroot = no\nuid = ${uid}\ngid = ${gid}\n[bench]\n  path = ${join(ctx.tmp, 'rsyncd-root')}\n  read only = no\n`,
      );
      rsyncDaemon = spawn(rsync.path, ['--daemon', '--no-detach', `--config=${conf}`, `--port=${rsyncPort}`, '--address=127.0.0.1'], {
        stdio: 'ignore',
      });
      await waitForPort(rsyncPort);
    }
    const remoteSamples = await alternate(
      [
        {
          key: 'ckpt',
          available: serveProbe.available,
          async run() {
            fs.rmSync(join(remoteRoot, 'data.bin'), { force: true });
            const { ms } = await ckptCopy(ctx, source, 'ckpt://beta/data.bin', ['--netmap', netmapPath, '--node', 'alpha'], { cwd: ctx.tmp });
            return throughput(ms);
          },
        },
        {
          key: 'tcp',
          async run() {
            const out = dst();
            const start = performance.now();
            const receiver = await startServer(process.execPath, ['--input-type=module', '-e', TCP_RECEIVER, out], {
              ready: (l) => /^\d+$/.test(l.trim()),
            });
            const done = new Promise((resolve) => receiver.child.on('exit', resolve));
            const sender = await runProcess(process.execPath, ['--input-type=module', '-e', TCP_SENDER, source, receiver.line.trim()]);
            if (sender.code !== 0) throw new Error(`raw TCP sender exited ${sender.code}: ${sender.stderr.trim()}`);
            await done;
            if (fs.statSync(out).size !== size) throw new Error('raw TCP pipe lost bytes');
            return throughput(performance.now() - start);
          },
        },
        {
          key: 'rsyncd',
          available: rsync.available,
          async run() {
            fs.rmSync(join(ctx.tmp, 'rsyncd-root', 'data.bin'), { force: true });
            return throughput(await shellMs(`rsync --partial --fsync data.bin rsync://127.0.0.1:${rsyncPort}/bench/data.bin`, srcDir));
          },
        },
      ],
      { rounds, warmup: ctx.quick ? 0 : 1 },
    );
    Object.assign(remote, remoteSamples);
  } catch (error) {
    remoteErrors.loopback = error.message;
  } finally {
    serveChild?.kill('SIGTERM');
    rsyncDaemon?.kill('SIGTERM');
  }
  const loopback = figure({
    id: 'copy-loopback',
    label: `loopback node-to-node copy of ${sizeLabel(size)}`,
    unit: 'MiB/s',
    better: 'higher',
    rows: [
      serveProbe.available && remote.ckpt?.length
        ? { key: 'ckpt', label: 'ckpt copy to ckpt://beta (ckpt serve on 127.0.0.1)', role: 'subject', samples: remote.ckpt }
        : unavailable('ckpt', 'ckpt copy to ckpt://beta (ckpt serve on 127.0.0.1)', serveProbe.available ? remoteErrors.loopback : serveProbe.reason),
      remote.tcp?.length
        ? { key: 'tcp', label: 'raw TCP pipe (Node) + fdatasync', samples: remote.tcp }
        : { key: 'tcp', label: 'raw TCP pipe (Node) + fdatasync', available: false, reason: remoteErrors.loopback },
      rsync.available && remote.rsyncd?.length
        ? { key: 'rsyncd', label: 'rsync --partial --fsync to an rsync daemon on 127.0.0.1', samples: remote.rsyncd }
        : {
            key: 'rsyncd',
            label: 'rsync to an rsync daemon on 127.0.0.1',
            available: false,
            reason: rsync.available ? remoteErrors.loopback : rsync.reason,
          },
    ],
  });

  // ckpt copy is compared with cp at its default interval; the table shows every interval.
  const defaultInterval = intervals.find((i) => i === 16 * MiB) ?? intervals[0];
  const goals = [
    ...intervals
      .filter((i) => i !== 0)
      .map((interval) =>
        goal({
          text: `local, interval ${intervalLabel(interval)}: time ≤ 1.25× cp + sync (throughput ≥ 0.8×)`,
          figure: local,
          subject: `ckpt-${interval}`,
          peer: 'cp',
          op: '>=',
          threshold: 0.8,
        }),
      ),
    goal({
      text: 'remote (loopback) time ≤ 1.5× local (throughput ≥ 0.667×)',
      kind: 'value',
      value: (() => {
        const r = loopback.rows.find((x) => x.key === 'ckpt');
        const l = local.rows.find((x) => x.key === `ckpt-${defaultInterval}`);
        return r?.available && l?.available ? round(r.median / l.median) : null;
      })(),
      op: '>=',
      threshold: 1 / 1.5,
      reasonIfMissing: serveProbe.available ? remoteErrors.loopback : serveProbe.reason,
    }),
  ];
  const points = intervals
    .filter((i) => i !== 0)
    .map((interval) => local.rows.find((r) => r.key === `ckpt-${interval}`))
    .map((row, index) => (row?.available ? { x: intervals[index] / MiB, y: row.median, min: row.min, max: row.max } : undefined))
    .filter(Boolean);
  const cpRow = local.rows.find((r) => r.key === 'cp');
  fs.rmSync(dstDir, { recursive: true, force: true });
  fs.rmSync(join(ctx.tmp, 'rsyncd-root'), { recursive: true, force: true });
  fs.rmSync(remoteRoot, { recursive: true, force: true });
  if (!ctx.keepSources) fs.rmSync(srcDir, { recursive: true, force: true });
  return {
    params: { bytes: size, intervals, rounds },
    availability: { 'ckpt copy': copyProbe, 'ckpt serve': serveProbe },
    figures: [local, loopback],
    goals,
    charts:
      points.length > 0
        ? [
            {
              file: 'copy-throughput.svg',
              title: 'ckpt copy throughput against checkpoint interval',
              xLabel: 'checkpoint interval (MiB)',
              yLabel: 'MiB/s (median, bars min–max)',
              logX: true,
              series: [
                { label: 'ckpt copy', points },
                ...(cpRow?.available ? [{ label: 'cp + sync', points: points.map((p) => ({ x: p.x, y: cpRow.median })) }] : []),
              ],
            },
          ]
        : [],
  };
}
